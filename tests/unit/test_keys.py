"""Round trips of every key and value codec of the index (hypothesis), and key order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from indexer.store import keys

heights = st.integers(0, 2**32 - 1)
ids = st.integers(0, 2**16 - 1)
values = st.integers(0, 2**63 - 1)


@given(st.binary(min_size=32, max_size=32), st.integers(0, 2**32 - 1))
def test_coin_key(txid: bytes, vout: int) -> None:
    assert keys.outpoint_from_coin_key(keys.coin_key(txid, vout)) == (txid, vout)


@given(ids, st.integers(0, 1), values, st.integers(0, 2**32 - 1))
def test_coin_and_member_values(entity: int, level: int, value: int, time: int) -> None:
    assert keys.unpack_coin(keys.pack_coin(entity, level, value, time)) == (entity, level,
                                                                             value, time)
    assert keys.unpack_member(keys.pack_member(entity, level)) == (entity, level)
    key = keys.balance_key(entity, level)
    assert keys.entity_level_from_balance_key(key) == (entity, level)


@given(st.binary(max_size=200))
def test_member_key(script: bytes) -> None:
    assert keys.script_from_member_key(keys.member_key(script)) == script


@given(ids, st.integers(0, 1), heights, heights)
def test_height_keys_sort_by_height(entity: int, level: int, a: int, b: int) -> None:
    assert (keys.block_key(a) < keys.block_key(b)) == (a < b)
    assert (keys.series_key(entity, level, a) < keys.series_key(entity, level, b)) == (a < b)
    assert keys.height_from_series_key(keys.series_key(entity, level, a)) == a
    assert keys.height_from_pool_block_key(keys.pool_block_key(entity, a)) == a
    assert keys.height_from_block_key(keys.block_key(a)) == a


@given(st.binary(max_size=100), st.lists(st.tuples(st.integers(-2**63, 2**63 - 1),
                                                   st.binary(max_size=80)), max_size=5))
def test_coinbase(script_sig: bytes, outputs: list[tuple[int, bytes]]) -> None:
    assert keys.unpack_coinbase(keys.pack_coinbase(script_sig, outputs)) == (script_sig, outputs)


@given(st.lists(st.tuples(st.binary(max_size=40), st.none() | st.binary(max_size=60)),
                max_size=8))
def test_undo(changes: list[tuple[bytes, bytes | None]]) -> None:
    assert keys.unpack_undo(keys.pack_undo(changes)) == changes


@given(heights, st.binary(min_size=32, max_size=32), heights, heights, st.integers(0, 2**32 - 1),
       ids, st.sampled_from(keys.METHODS), st.none() | st.integers(0, 2**16 - 2), st.booleans(),
       heights, heights, values, heights, ids)
def test_block_record(height: int, hash_rev: bytes, chain_time: int, header_time: int,
                      bits: int, pool: int, method: str, tag: int | None, conflict: bool,
                      tx_count: int, size: int, total: int, weight: int, version: int) -> None:
    record = keys.BlockRecord(height, hash_rev, chain_time, header_time, bits, pool, method, tag,
                              conflict, tx_count, size, total, weight, version)
    assert keys.unpack_block(height, keys.pack_block(record)) == record
