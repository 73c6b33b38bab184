"""The read-ahead: results in item order, reads beside the consumer, errors at their turn, no
hang when the consumer leaves early."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from indexer.source.readahead import SWITCH_INTERVAL, read_ahead


@pytest.mark.parametrize("count", [0, 1, 2, 7, 100])
def test_results_come_in_item_order(count: int) -> None:
    items = list(range(count))
    got = list(read_ahead(lambda n: n * n, items, depth=4))
    assert got == [(n, n * n) for n in items]


def test_a_busy_consumer_leaves_the_reads_to_the_reader_thread() -> None:
    readers = []
    for _n, reader in read_ahead(lambda _n: threading.get_ident(), list(range(40)), depth=4):
        readers.append(reader)
        time.sleep(0.005)  # the consumer's own work: the reader gets ahead and stays ahead
    assert readers.count(threading.get_ident()) <= 3  # at the start, before it is ahead
    assert len(set(readers)) <= 2


def test_a_waiting_consumer_reads_items_itself() -> None:
    def slow(_n: int) -> int:
        time.sleep(0.002)
        return threading.get_ident()

    readers = [reader for _n, reader in read_ahead(slow, list(range(40)), depth=4)]
    assert readers.count(threading.get_ident()) >= 10  # about half: both threads read
    assert len(set(readers)) == 2


def test_an_error_is_raised_at_its_turn_after_the_items_before_it() -> None:
    def read(n: int) -> int:
        if n == 5:
            raise ValueError("item 5 is damaged")
        return n

    seen = []
    with pytest.raises(ValueError, match="item 5 is damaged"):
        for n, _r in read_ahead(read, list(range(20))):
            seen.append(n)
    assert seen == [0, 1, 2, 3, 4]


def test_leaving_early_stops_the_workers() -> None:
    before = threading.active_count()
    for n, _r in read_ahead(lambda n: n, list(range(1000)), depth=2):
        if n == 3:
            break
    assert threading.active_count() == before


def test_the_switch_interval_is_short_while_reading_and_restored_after() -> None:
    before = sys.getswitchinterval()
    seen = [sys.getswitchinterval() for _item, _read in read_ahead(lambda i: i, range(3))]
    assert seen == [min(before, SWITCH_INTERVAL)] * 3
    assert sys.getswitchinterval() == before
    with pytest.raises(ZeroDivisionError):
        for _ in read_ahead(lambda i: 1 // i, [1, 0, 1]):
            pass
    assert sys.getswitchinterval() == before
