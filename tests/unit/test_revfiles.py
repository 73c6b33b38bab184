"""Rev file framing: every record found in file order, stray bytes skipped, a torn tail left
out; the record search visits every record once, nearest first."""

from __future__ import annotations

import struct

import pytest

from indexer.config import get_network
from indexer.source.revfiles import _outwards, undo_records
from tests.conftest import SAMPLE

MAGIC = get_network("regtest").magic
REV = SAMPLE / "regtest" / "blocks" / "rev00002.dat"


def test_every_record_of_a_rev_file_is_found_in_order() -> None:
    data = REV.read_bytes()
    records = undo_records(data, MAGIC)
    assert len(records) == 52  # the blocks stored in blk00002.dat, stale ones included
    for record in records:
        assert data[record.offset - 8:record.offset - 4] == MAGIC
        assert struct.unpack_from("<I", data, record.offset - 4)[0] == record.size
        assert record.checksum == data[record.offset + record.size:
                                       record.offset + record.size + 32]
    assert [r.offset for r in records] == sorted(r.offset for r in records)


def test_stray_bytes_are_skipped_and_a_torn_tail_left_out() -> None:
    data = REV.read_bytes()
    whole = undo_records(data, MAGIC)
    second = whole[1].offset - 8
    shifted = undo_records(data[:second] + b"\x07" * 5 + data[second:], MAGIC)
    assert [r.checksum for r in shifted] == [r.checksum for r in whole]
    last = whole[-1]
    cut = undo_records(data[:last.offset + last.size + 31], MAGIC)
    assert [r.checksum for r in cut] == [r.checksum for r in whole[:-1]]


@pytest.mark.parametrize("start,count", [(0, 0), (0, 5), (5, 5), (2, 5), (9, 5), (3, 4)])
def test_the_search_visits_every_record_once_nearest_first(start: int, count: int) -> None:
    order = list(_outwards(start, count))
    assert sorted(order) == list(range(count))
    at = min(max(start, 0), count)
    distances = [abs(i - at) for i in order]
    assert distances == sorted(distances)
