"""The write buffer over a real LevelDB: what a window of blocks hands to the batch, and that
its undo records still take every block back."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from types import ModuleType

import pytest

from indexer.attribution.pools import load_pools
from indexer.config import get_network
from indexer.fastpath import _core, coinstore  # type: ignore[attr-defined]
from indexer.pipeline import open_for_writing
from indexer.store import keys
from indexer.store.batch import WriteBuffer, rollback
from indexer.store.db import Store
from tests.conftest import LABELS, POOLS
from tests.labelsets import load_labels

REGTEST = get_network("regtest")
COIN = keys.coin_key(b"\x11" * 32, 0)
OTHER = keys.coin_key(b"\x22" * 32, 1)


def _store(tmp_path: Path) -> Store:
    return open_for_writing(tmp_path / "index", REGTEST, load_pools(POOLS),
                            load_labels(LABELS, REGTEST))


Coins = dict[tuple[bytes, int], tuple[int, int, int, int]]


def _block(buffer: WriteBuffer, height: int, *puts: tuple[bytes, bytes | None],
           coins: tuple[ModuleType, Coins, Coins] | None = None) -> None:
    """A block that writes its record (a rollback reads the new tip's), `puts`, and with
    `coins` = (implementation, spent, created) its coins as the applier writes them."""
    record = keys.BlockRecord(height, bytes([height]) * 32, 0, 0, 0, 0, "none", None, False, 1,
                              200, 0, 800)
    buffer.begin_block(height)
    buffer.put(keys.block_key(height), keys.pack_block(record))
    for key, value in puts:
        buffer.put(key, value)
    if coins is not None:
        impl, spent, created = coins
        impl.put_coins(*buffer.put_state(), spent, False)
        impl.put_coins(*buffer.put_state(), created, True)
    buffer.end_block(record.hash_hum)


def test_a_key_made_and_deleted_in_one_window_never_reaches_the_batch(tmp_path: Path) -> None:
    store = _store(tmp_path)
    buffer = WriteBuffer(store, reorg_limit=288)
    _block(buffer, 0, (COIN, b"coin"), (OTHER, b"other"))
    _block(buffer, 1, (COIN, None))
    assert COIN not in buffer.overlay  # no delete for LevelDB to write and compact away
    assert buffer.get(COIN) is None and buffer.get(OTHER) == b"other"
    _block(buffer, 2, (COIN, b"again"))
    assert buffer.get(COIN) == b"again"
    buffer.flush()
    assert store.get(COIN) == b"again" and store.get(OTHER) == b"other"
    # the undo records still name every earlier value: back to 1 the coin is gone, to 0 it was
    rollback(store, 1)
    assert store.get(COIN) is None and store.get(OTHER) == b"other"
    rollback(store, 0)
    assert store.get(COIN) == b"coin"
    rollback(store, -1)
    assert store.get(COIN) is None and store.get(OTHER) is None


def test_a_key_the_index_holds_is_deleted_by_the_batch(tmp_path: Path) -> None:
    store = _store(tmp_path)
    buffer = WriteBuffer(store, reorg_limit=288)
    _block(buffer, 0, (COIN, b"coin"))
    buffer.flush()
    _block(buffer, 1, (COIN, None))
    assert buffer.overlay[COIN] is None  # written before: the batch must delete it
    buffer.flush()
    assert store.get(COIN) is None
    rollback(store, 0)
    assert store.get(COIN) == b"coin"


def test_a_key_in_the_batch_being_written_is_not_taken_for_new(tmp_path: Path) -> None:
    store = _store(tmp_path)
    buffer = WriteBuffer(store, reorg_limit=288)
    _block(buffer, 0, (COIN, b"coin"))
    buffer.flush(wait=False)  # the key is in flight, not yet in LevelDB
    _block(buffer, 1, (COIN, None))
    assert buffer.overlay[COIN] is None
    buffer.flush()
    assert store.get(COIN) is None


def test_undo_records_past_the_reorg_limit_leave_the_window_or_the_index(tmp_path: Path
                                                                          ) -> None:
    store = _store(tmp_path)
    buffer = WriteBuffer(store, reorg_limit=3)
    for height in range(3):
        _block(buffer, height)
    buffer.flush()
    for height in range(3, 8):
        _block(buffer, height)
    # heights 0-2 were flushed (their undo records are deleted); 3 and 4 were made and dropped
    # in this window; 5-7 are kept
    assert [buffer.overlay.get(keys.undo_key(h), b"absent") for h in range(5)] == [
        None, None, None, b"absent", b"absent"]
    buffer.flush()
    kept = [h for h in range(8) if store.get(keys.undo_key(h)) is not None]
    assert kept == [5, 6, 7]


@pytest.mark.parametrize("impl", [_core, coinstore], ids=["compiled", "reference"])
def test_coins_put_by_block_are_read_through_every_layer(tmp_path: Path, impl: ModuleType
                                                          ) -> None:
    store = _store(tmp_path)
    buffer = WriteBuffer(store, reorg_limit=288)
    get_coin = partial(impl.get_coin, buffer.layers, store.get)
    a, b, c = (b"\x05" * 32, 0), (b"\x05" * 32, 1), (b"\x09" * 32, 7)

    def block(height: int, spent: Coins, created: Coins) -> None:
        _block(buffer, height, coins=(impl, spent, created))

    block(0, {}, {a: (3, 0, 50, 7), b: (4, 1, 2**64 - 1, 2**32 - 1)})
    # the overlay
    assert get_coin(*a) == (3, 0, 50, 7) and get_coin(*b) == (4, 1, 2**64 - 1, 2**32 - 1)
    buffer.flush()
    assert get_coin(*a) == (3, 0, 50, 7)  # the index
    block(1, {a: (3, 0, 50, 7)}, {c: (0xFFFF, 0, 1, 0)})
    buffer.flush(wait=False)
    assert get_coin(*a) is None and get_coin(*c) == (0xFFFF, 0, 1, 0)  # the batch in flight
    block(2, {c: (0xFFFF, 0, 1, 0)}, {})
    assert get_coin(*c) is None and get_coin(*b) == (4, 1, 2**64 - 1, 2**32 - 1)
    buffer.flush()
    assert [store.get(keys.coin_key(*o)) for o in (a, b, c)] == [
        None, keys.pack_coin(4, 1, 2**64 - 1, 2**32 - 1), None]
    rollback(store, 0)  # the undo records of put_coins take both blocks back
    assert [store.get(keys.coin_key(*o)) for o in (a, b, c)] == [
        keys.pack_coin(3, 0, 50, 7), keys.pack_coin(4, 1, 2**64 - 1, 2**32 - 1), None]
