"""The exchange hits packed with a block's spent values (one walk of the undo record, on the
read-ahead thread) against the walk that finds them on their own (`undo_hits`): the same
inputs, and the same exchange flows whether `exchange_txs` takes them packed or as a dict, in
the compiled core and its reference. An uncompressed key's hit (its script needs the curve)
takes the dict way."""

from __future__ import annotations

import csv
import struct
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from indexer import fastpath
from indexer.config import get_network
from indexer.fastpath import PackedUndo, _core, reference, script_fingerprint
from indexer.parse.deserializer import open_block, parse_block, read_compact_size
from indexer.parse.script import script_for_address
from indexer.pipeline import BlockFileSource
from indexer.source.spent import held_from_undo
from scripts.benchkit.chainmaker import make_chain

IMPLEMENTATIONS = (_core, reference)
fastpath_impl = _core if fastpath.IMPLEMENTATION == "compiled" else reference
GENESIS_KEY = bytes.fromhex(
    "04678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504"
    "e51ec112de5c384df7ba0b8d578a4c702b6bf11d5f")


@pytest.fixture(scope="module")
def exchange_chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A made chain where about 30 % of the ordinary outputs pay labeled exchange scripts (so
    that many inputs spend them later)."""
    out = tmp_path_factory.mktemp("exchange-chain")
    make_chain(out, blocks=12, txs_per_block=150, seed=11, exchange_share=0.3)
    return out


def _exchange_scripts(chain: Path) -> dict[bytes, int]:
    network = get_network("regtest")
    with (chain / "exchanges.csv").open() as f:
        rows = list(csv.DictReader(f))
    names = sorted({row["entity"] for row in rows})
    return {script_for_address(row["address"], network): names.index(row["entity"]) for row in rows}


def _blocks(chain: Path) -> list[tuple[bytes, bytes]]:
    """(block, undo record) of every block after the genesis."""
    source = BlockFileSource(chain / "regtest" / "blocks", get_network("regtest"))
    found = []
    for cb in source.chain().blocks[1:]:
        data = source.read(cb)
        n_tx = open_block(data).tx_count
        found.append((data, source.undo.record_bytes(cb.location.file_no, n_tx, data[4:36],
                                                      cb.height)))
    return found


def _flows(impl: ModuleType, data: bytes, scripts: Any, exchange_of: Any,
           held: Any) -> tuple[int, dict[int, list[int]]]:
    sums: dict[int, list[int]] = {}
    end = impl.exchange_txs(data, read_compact_size(data, 80)[1], 0, 1, scripts, exchange_of,
                            {}, sums)
    n_tx = open_block(data).tx_count
    end = impl.exchange_txs(data, open_block(data).next_pos, 1, n_tx, scripts, exchange_of,
                            held, sums, impl.scan_table(data))
    return end, sums


def test_packed_hits_give_the_walk_s_inputs_and_the_same_flows(exchange_chain: Path) -> None:
    ids = _exchange_scripts(exchange_chain)
    exchange_of = ids.get
    held_inputs = flows_seen = 0
    for data, undo in _blocks(exchange_chain):
        packed_of = []
        for impl in IMPLEMENTATIONS:
            scripts = impl.Filter()
            for script in ids:
                scripts.add(script_fingerprint(script))
            packed = impl.pack_block_undo(undo, scripts)
            packed_of.append(packed)
            assert packed.startswith(impl.pack_block_undo(undo))  # the values come first
            walked = impl.undo_hits(undo, scripts)
            assert impl.undo_held(packed, undo) == walked
            as_dict, curve = walked
            assert curve == []
            handed = (packed, undo)
            if impl is fastpath_impl:  # what the pipeline hands the exchange step
                assert held_from_undo(undo, scripts) == as_dict
                assert held_from_undo(PackedUndo(packed, undo, scripts), scripts) == handed
                assert held_from_undo(PackedUndo(packed, undo, impl.Filter()),
                                      scripts) == as_dict  # packed with another filter
            assert _flows(impl, data, scripts, exchange_of, handed) == _flows(
                impl, data, scripts, exchange_of, as_dict)
            held_inputs += sum(len(listed) for _total, listed in as_dict.values())
            flows_seen += len(_flows(impl, data, scripts, exchange_of, handed)[1])
        assert packed_of[0] == packed_of[1]
    assert held_inputs > 200 and flows_seen > 20  # the chain spends exchange coins


def _varint(n: int) -> bytes:
    """Core's VARINT (MSB base-128)."""
    out = [n & 0x7F]
    while n > 0x7F:
        n = (n >> 7) - 1
        out.insert(0, 0x80 | (n & 0x7F))
    return bytes(out)


def _spent(kind: int, body: bytes) -> bytes:
    """A TxInUndo at height 1, 50 BTC (CompressAmount: 50), ScriptCompression `kind`."""
    return _varint(2) + _varint(0) + _varint(50) + _varint(kind) + body


def test_an_uncompressed_key_s_hit_takes_the_dict_way() -> None:
    """One transaction spending the genesis key (kind 4 or 5: x kept, y's parity in the kind)
    and a P2PKH output: the hits packed say so; `held_from_undo` rebuilds the key on the curve
    and keeps it when the filter holds its script; `exchange_txs` refuses such hits packed."""
    kind = 4 + (GENESIS_KEY[64] & 1)
    pkh = bytes(range(20))
    record = b"\x01\x02" + _spent(kind, GENESIS_KEY[1:33]) + _spent(0, pkh)
    p2pk = b"\x41" + GENESIS_KEY + b"\xac"
    p2pkh = b"\x76\xa9\x14" + pkh + b"\x88\xac"
    for impl in IMPLEMENTATIONS:
        assert impl.parse_block_undo(record) == [[50 * 10**8, 50 * 10**8]]
        total = 100 * 10**8
        curve = [(1, 0, kind, GENESIS_KEY[1:33], 50 * 10**8, total)]
        scripts = impl.Filter()
        for script in (p2pk, p2pkh):
            scripts.add(script_fingerprint(script))
        packed = impl.pack_block_undo(record, scripts)
        assert impl.undo_held(packed, record) == ({1: (total, [(1, p2pkh, 50 * 10**8)])}, curve)
        undo = PackedUndo(packed, record, scripts)
        assert undo.has_curve_hits()
        if impl is fastpath_impl:
            assert held_from_undo(undo, scripts) == {
                1: (total, [(0, p2pk, 50 * 10**8), (1, p2pkh, 50 * 10**8)])}
        only_pkh = impl.Filter()
        only_pkh.add(script_fingerprint(p2pkh))
        packed = impl.pack_block_undo(record, only_pkh)
        assert impl.undo_held(packed, record) == ({1: (total, [(1, p2pkh, 50 * 10**8)])}, curve)
        if impl is fastpath_impl:  # the key is rebuilt, and its script is not the filter's
            assert held_from_undo(PackedUndo(packed, record, only_pkh), only_pkh) == {
                1: (total, [(1, p2pkh, 50 * 10**8)])}
        block = bytes(80) + b"\x00"  # no transaction: refused before any is read
        with pytest.raises(ValueError, match="uncompressed key"):
            impl.exchange_txs(block, 81, 1, 1, scripts, {}.get, (packed, record), {})


@pytest.mark.parametrize("damage", ["count", "start", "order", "input", "body", "tail"])
def test_packed_words_that_do_not_fit_are_refused_by_both(damage: str) -> None:
    record = b"\x01\x02" + _spent(0, bytes(20)) + _spent(1, bytes(range(20)))
    scripts = reference.Filter()
    scripts.add(script_fingerprint(b"\x76\xa9\x14" + bytes(20) + b"\x88\xac"))
    scripts.add(script_fingerprint(b"\xa9\x14" + bytes(range(20)) + b"\x87"))
    words = list(struct.unpack(f"<{len(reference.pack_block_undo(record, scripts)) // 8}Q",
                               reference.pack_block_undo(record, scripts)))
    assert words[:5] == [1, 0, 2, 50 * 10**8, 50 * 10**8] and words[5] == 2  # two hits
    first, second = 6, 10  # tx, input, kind, body
    if damage == "count":
        words[0] = 1 << 40
    elif damage == "start":
        words[2] = 3
    elif damage == "order":
        words[second + 1] = 0  # input 0 twice
    elif damage == "input":
        words[first + 1] = 2
    elif damage == "body":
        words[second + 3] = len(record) - 19
    else:
        words.append(0)
    packed = struct.pack(f"<{len(words)}Q", *words)
    for impl in IMPLEMENTATIONS:
        with pytest.raises(ValueError, match="do not fit"):
            impl.undo_held(packed, record)


def test_each_script_is_asked_once_a_call(exchange_chain: Path) -> None:
    """Both implementations ask the lookup once per distinct script in a call, the same
    scripts in the same order, and answer the scripts seen again themselves."""
    ids = _exchange_scripts(exchange_chain)
    occurrences = distinct = 0
    for data, undo in _blocks(exchange_chain):
        asked: list[list[bytes]] = []
        for impl in IMPLEMENTATIONS:
            scripts = impl.Filter()
            for script in ids:
                scripts.add(script_fingerprint(script))
            calls: list[bytes] = []

            def exchange_of(script: bytes, calls: list[bytes] = calls) -> int | None:
                calls.append(script)
                return ids.get(script)

            impl.exchange_txs(data, open_block(data).next_pos, 1, open_block(data).tx_count,
                              scripts, exchange_of, (impl.pack_block_undo(undo, scripts), undo),
                              {})
            asked.append(calls)
        assert asked[0] == asked[1]
        assert len(set(asked[0])) == len(asked[0])
        paid = [out.script for tx in parse_block(data).txs[1:] for out in tx.outputs
                if out.script in ids]
        spent = [script for tx in reference.block_undo_scripts(undo) for _v, script in tx
                 if script in ids]
        occurrences += len(paid) + len(spent)
        distinct += len(asked[0])
    assert 0 < distinct < occurrences  # labeled scripts come back within a block
