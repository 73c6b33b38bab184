"""The compiled core against the Python reference: same answers on real and generated data.

The compiled module is imported directly: `pip install` builds it (gcc is part of the setup), so
a missing extension fails here rather than passing on the reference alone.
"""

from __future__ import annotations

import os
import random
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from bitcoin.core import CBlock
from hypothesis import given
from hypothesis import strategies as st

from indexer.fastpath import _core, coin_fingerprint, reference, script_fingerprint
from indexer.fastpath.scantable import read_table
from indexer.parse.deserializer import parse_block, read_compact_size, sha256d
from scripts.benchkit.chainmaker import make_chain
from tests.conftest import DATA, SAMPLE
from tests.fuzz.seeds import records

MAINNET_BLOCKS = sorted((DATA / "mainnet" / "blocks").glob("*.bin"))
IMPLEMENTATIONS = (_core, reference)
REGTEST_MAGIC = bytes.fromhex("fabfb5da")


def hits(impl: object, data: bytes, coins: set[int], members: set[int]) -> list[tuple[int, int]]:
    """Every (index, pos) the scan stops at, stepping over each hit, then the end."""
    coin_filter, member_filter = impl.Filter(), impl.Filter()  # type: ignore[attr-defined]
    for fp in coins:
        coin_filter.add(fp)
    for fp in members:
        member_filter.add(fp)
    n_tx, pos = read_compact_size(data, 80)
    found = []
    index = 0
    while True:
        index, pos = impl.scan_block(data, pos, index, n_tx,  # type: ignore[attr-defined]
                                     coin_filter, member_filter)
        found.append((index, pos))
        if index == n_tx:
            return found
        empty = impl.Filter()  # type: ignore[attr-defined]
        index, pos = impl.scan_block(data, pos, index, index + 1,  # type: ignore[attr-defined]
                                     empty, empty)


@pytest.mark.parametrize("path", MAINNET_BLOCKS, ids=lambda p: p.name[:6])
def test_scan_finds_exactly_the_transactions_that_touch_the_filters(path: Path) -> None:
    data = path.read_bytes()
    block = parse_block(data)
    rng = random.Random(path.name)
    coins, members, expected = set(), set(), []
    for index, tx in enumerate(block.txs):
        if index == 0:
            continue
        if rng.random() < 0.1:
            txin = rng.choice(tx.inputs)
            coins.add(coin_fingerprint(txin.prev_txid_rev, txin.prev_vout))
        if rng.random() < 0.1:
            members.add(script_fingerprint(rng.choice(tx.outputs).script))
    for index, tx in enumerate(block.txs):
        if index == 0:
            continue
        if any(coin_fingerprint(i.prev_txid_rev, i.prev_vout) in coins for i in tx.inputs) or any(
                script_fingerprint(o.script) in members for o in tx.outputs):
            expected.append((index, tx._start))
    if len(block.txs) > 1:
        assert expected, "the sampled filters touch no transaction: the test would be weak"
    for impl in IMPLEMENTATIONS:
        got = hits(impl, data, coins, members)
        assert got[-1] == (len(block.txs), len(data))
        assert got[:-1] == expected
        assert hits(impl, data, set(), set()) == [(len(block.txs), len(data))]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS, ids=("compiled", "reference"))
def test_a_truncated_block_is_an_error_not_a_wrong_answer(impl: object) -> None:
    data = MAINNET_BLOCKS[-1].read_bytes()  # 702861
    n_tx, pos = read_compact_size(data, 80)
    empty = impl.Filter()  # type: ignore[attr-defined]
    for cut in (len(data) - 1, len(data) - 300, len(data) // 2, pos + 10):
        with pytest.raises(ValueError, match="runs past the end"):
            impl.scan_block(data[:cut], pos, 0, n_tx, empty, empty)  # type: ignore[attr-defined]


def rev_records(blocks_dir: Path) -> list[bytes]:
    """The CBlockUndo bodies of every rev file of a blocks directory (XOR undone)."""
    key = (blocks_dir / "xor.dat").read_bytes() if (blocks_dir / "xor.dat").exists() else None
    bodies = []
    for path in sorted(blocks_dir.glob("rev*.dat")):
        data = path.read_bytes()
        if key is not None:
            data = reference.xor_at(data, key, 0)
        pos = 0
        while pos + 8 <= len(data):
            magic, size = struct.unpack_from("<4sI", data, pos)
            if magic != REGTEST_MAGIC:
                break  # the zero padding of a preallocated file
            bodies.append(data[pos + 8:pos + 8 + size])
            pos += 8 + size + 32
    return bodies


@pytest.mark.parametrize("path", MAINNET_BLOCKS, ids=lambda p: p.name[:6])
def test_block_weight_is_bip141s_as_python_bitcoinlib_computes_it(path: Path) -> None:
    data = path.read_bytes()
    want = CBlock.deserialize(data).GetWeight()
    assert _core.block_weight(data) == reference.block_weight(data) == want
    for impl in IMPLEMENTATIONS:  # one byte short, one byte over: both refuse alike
        for bad in (data[:-1], data + b"\0"):
            with pytest.raises(ValueError):
                impl.block_weight(bad)  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", MAINNET_BLOCKS, ids=lambda p: p.name[:6])
def test_block_check_gives_the_header_root_bip141_weight_and_scan_table(path: Path) -> None:
    data = path.read_bytes()
    block = CBlock.deserialize(data)
    # python-bitcoinlib's transactions: where each starts, its inputs' and outputs'
    # fingerprints (the coinbase's input included, as the walk sees it)
    starts, at = [], read_compact_size(data, 80)[1]
    for tx in block.vtx:
        starts.append(at)
        at += len(tx.serialize())
    starts.append(at)
    coin_fps = [coin_fingerprint(txin.prevout.hash, txin.prevout.n)
                for tx in block.vtx for txin in tx.vin]
    member_fps = [script_fingerprint(bytes(txout.scriptPubKey))
                  for tx in block.vtx for txout in tx.vout]
    for impl in IMPLEMENTATIONS:
        root, weight, scan = impl.block_check(data)  # type: ignore[attr-defined]
        assert (root, weight) == (data[36:68], block.GetWeight())
        assert scan == impl.scan_table(data)  # type: ignore[attr-defined]
        table = read_table(scan, len(data), starts[0], 0, len(block.vtx))
        assert (table.k, table.bad, list(table.starts)) == (len(block.vtx), 0, starts)
        assert (list(table.coin_fps), list(table.member_fps)) == (coin_fps, member_fps)
        for bad in (data[:-1], data + b"\0", data[:81]):
            with pytest.raises(ValueError):
                impl.block_check(bad)  # type: ignore[attr-defined]


def test_undo_records_decode_the_same(tmp_path: Path) -> None:
    make_chain(tmp_path, blocks=30, txs_per_block=100, seed=3)
    bodies = rev_records(SAMPLE / "regtest" / "blocks")
    bodies += rev_records(DATA / "regtest-story-xor" / "regtest" / "blocks")
    bodies += rev_records(tmp_path / "regtest" / "blocks")
    assert len(bodies) > 180
    values = 0
    for body in bodies:
        assert _core.parse_block_undo(body) == reference.parse_block_undo(body)
        values += sum(len(v) for v in reference.parse_block_undo(body))
        for impl in IMPLEMENTATIONS:
            with pytest.raises(ValueError):
                impl.parse_block_undo(body + b"\x00")
    assert values > 1000


@given(st.binary(max_size=300), st.binary(min_size=8, max_size=8), st.integers(0, 1 << 40))
def test_xor_is_the_same_at_every_offset(data: bytes, key: bytes, offset: int) -> None:
    assert _core.xor_at(data, key, offset) == reference.xor_at(data, key, offset)
    assert reference.xor_at(reference.xor_at(data, key, offset), key, offset) == data


@given(st.lists(st.integers(2, (1 << 64) - 1), max_size=3000),
       st.lists(st.integers(2, (1 << 64) - 1), max_size=50))
def test_filter_holds_what_was_added(added: list[int], probes: list[int]) -> None:
    compiled = _core.Filter()
    for fp in added:
        compiled.add(fp)
    assert len(compiled) == len(set(added))
    assert all(fp in compiled for fp in added)
    for fp in probes:  # 64-bit keys are stored whole, so there are no false positives
        assert (fp in compiled) == (fp in set(added))
    assert compiled.nbytes >= 8 * len(compiled)


_ROOTS = ("import sys; from pathlib import Path; from indexer.fastpath import _core; "
          "print(_core.SHA256); "
          "[print(_core.merkle_root(Path(p).read_bytes()).hex()) for p in sys.argv[1:]]")


@pytest.mark.parametrize("sha", ["default", "portable"])
def test_both_sha256_implementations_give_the_reference_merkle_roots(sha: str) -> None:
    """The SHA extensions are used where the CPU has them; MINERFLOW_SHA=portable selects the
    plain C. Either way every mainnet block's merkle root is the one in its header and the
    reference's (hashlib)."""
    env = {**os.environ}
    if sha == "portable":
        env["MINERFLOW_SHA"] = "portable"
    else:
        env.pop("MINERFLOW_SHA", None)
    done = subprocess.run([sys.executable, "-c", _ROOTS, *map(str, MAINNET_BLOCKS)], env=env,
                          capture_output=True, text=True, check=True)
    used, *roots = done.stdout.split()
    assert used == "portable" if sha == "portable" else used in ("sha-ni", "portable")
    for path, root in zip(MAINNET_BLOCKS, roots, strict=True):
        data = path.read_bytes()
        assert bytes.fromhex(root) == data[36:68] == reference.merkle_root(data)



SEGWIT_BLOCKS = [p for p in MAINNET_BLOCKS if p.name[:6] in ("481829", "482683", "574200",
                                                              "702861")]


def _witness_bytes(data: bytes) -> list[int]:
    """Offsets of every witness byte of the block's transactions (coinbase included)."""
    found = []
    for tx in parse_block(data).txs:
        found.extend(range(tx._body_end, tx._lock_start))
    return found


def _both_refuse(bad: bytes, good_root: bytes) -> None:
    outcomes = []
    for impl in IMPLEMENTATIONS:
        with pytest.raises(ValueError) as raised:
            impl.block_check(bad)  # type: ignore[attr-defined]
        outcomes.append(str(raised.value))
    try:
        walked = reference.merkle_root(bad) == good_root
    except ValueError:  # the change broke the framing: both refused it, as the walk does
        return
    if walked:  # the walk held: the commitment failed
        assert outcomes[0] == outcomes[1]
        assert outcomes[0] in (
            "its witness data does not match the witness commitment in its coinbase",
            "its coinbase lacks the witness reserved value (one 32-byte witness item)")


@pytest.mark.parametrize("path", SEGWIT_BLOCKS, ids=lambda p: p.name[:6])
def test_the_witness_commitment_is_bitcoinlibs_and_any_changed_witness_byte_fails_it(
        path: Path) -> None:
    """python-bitcoinlib's witness merkle root, with the coinbase's reserved value, gives the
    commitment both implementations check; a changed witness byte (the header's hash and
    merkle root cover none of them) fails it, or the walk, in both alike."""
    data = path.read_bytes()
    block = CBlock.deserialize(data)
    commitment = block.vtx[0].vout[block.get_witness_commitment_index()].scriptPubKey
    reserved = block.vtx[0].wit.vtxinwit[0].scriptWitness.stack[0]
    assert bytes(commitment)[6:38] == sha256d(block.calc_witness_merkle_root()
                                                        + reserved)
    assert reference.witness_fault(data) is None
    witness = _witness_bytes(data)
    rng = random.Random(path.name)
    for at in [witness[0], witness[-1], *rng.sample(witness, 3)]:
        _both_refuse(data[:at] + bytes([data[at] ^ rng.randrange(1, 256)]) + data[at + 1:],
                     data[36:68])


@given(pick=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255),
       block=st.sampled_from(range(20)))
def test_any_witness_byte_changed_fails_in_both_alike(pick: int, flip: int, block: int) -> None:
    """The same over the small blocks: the sample chain's (every one has a segwit coinbase) and
    mainnet 482683."""
    small = [*records(SAMPLE / "regtest" / "blocks" / "blk00001.dat", 19),
             SEGWIT_BLOCKS[1].read_bytes()]
    data = small[block]
    witness = _witness_bytes(data)
    at = witness[pick % len(witness)]
    _both_refuse(data[:at] + bytes([data[at] ^ flip]) + data[at + 1:], data[36:68])

def test_witness_data_without_a_commitment_fails() -> None:
    """A segwit transaction in a block whose coinbase has no commitment (e.g. pre-activation
    bytes with witness data added) fails; a block without witness data needs none."""
    plain = next(p for p in MAINNET_BLOCKS if p.name.startswith("100000-")).read_bytes()
    for impl in IMPLEMENTATIONS:
        impl.block_check(plain)  # type: ignore[attr-defined]
    data = SEGWIT_BLOCKS[0].read_bytes()
    block = parse_block(data)
    coinbase = block.txs[0]
    # drop the coinbase's commitment output by making its script too short to count
    for out in coinbase.outputs:
        if out.script[:6] == reference.WITNESS_COMMITMENT:
            encoded = bytes([len(out.script)]) + out.script
            cut = bytes([37]) + out.script[:37]
            assert data.count(encoded) == 1
            bad = data.replace(encoded, cut)
    for impl in IMPLEMENTATIONS:
        with pytest.raises(ValueError, match="no witness commitment"):
            impl.block_check(bad[:80] + bad[80:])  # type: ignore[attr-defined]


class _ClearsItsList:
    """A flow sum whose addition empties the list it sits in (a hostile direct caller)."""

    def __init__(self) -> None:
        self.holder: list[object] = []

    def __iadd__(self, other: object) -> int:
        self.holder.clear()
        return 0


def test_flow_sums_changed_by_their_own_addition_raise_in_both() -> None:
    """A direct caller's sums whose addition runs code that empties them: IndexError from both
    implementations, as storing the sum fails (the compiled one once ignored the failed store
    and read past the list's end)."""
    data = next(b for b in records(SAMPLE / "regtest" / "blocks" / "blk00001.dat", 60)
                if parse_block(b).txs[1:])
    block = parse_block(data)
    spend = block.txs[1]
    first = spend.inputs[0]
    n_tx, pos = read_compact_size(data, 80)[0], block.txs[1]._start
    for impl in IMPLEMENTATIONS:
        coins, members = impl.Filter(), impl.Filter()  # type: ignore[attr-defined]
        coins.add(coin_fingerprint(first.prev_txid_rev, first.prev_vout))

        def coin(txid_rev: bytes, vout: int) -> object:
            if (txid_rev, vout) == (first.prev_txid_rev, first.prev_vout):
                return (0, 0, 1_000, 0)
            return None

        evil = _ClearsItsList()
        sums: dict[tuple[int, int], list[object]] = {}
        for level in (0, 1):
            row: list[object] = [evil, 0, 0, 0, 0, {}, 0, []]
            sums[(0, level)] = row
        evil.holder = sums[(0, 0)]
        state = ({}, {}, {}, sums, None)
        with pytest.raises(IndexError, match="list assignment index out of range"):
            impl.step_txs(data, pos, 1, n_tx, coins, members,  # type: ignore[attr-defined]
                          (coin, lambda script: None), {},
                          lambda index: [10_000] * len(block.txs[index].inputs), state)


def test_undo_scripts_are_the_outputs_the_inputs_spend() -> None:
    """block_undo_scripts and undo_tx_scripts against the sample chain itself: every spent
    (value, script) is the output its input names, found by reading the blocks."""
    from indexer.config import get_network  # noqa: PLC0415
    from indexer.pipeline import BlockFileSource  # noqa: PLC0415

    source = BlockFileSource(SAMPLE / "regtest" / "blocks", get_network("regtest"))
    outputs: dict[tuple[bytes, int], tuple[int, bytes]] = {}
    checked = 0
    for cb in source.chain().blocks:
        data = source.read(cb)
        block = parse_block(data)
        if len(block.txs) > 1:
            raw = source.undo.record_bytes(cb.location.file_no, len(block.txs), data[4:36],
                                           cb.height)
            spent = reference.block_undo_scripts(raw)
            for tx, inputs in zip(block.txs[1:], spent, strict=True):
                want = [outputs[(i.prev_txid_rev, i.prev_vout)] for i in tx.inputs]
                assert inputs == want
                checked += len(want)
            everything = reference.Filter()
            for tx in block.txs:  # every script the block pays: every transaction is a candidate
                for out in tx.outputs:
                    everything.add(reference.script_fingerprint(out.script))
            for impl in (reference, _core):
                found = impl.derive_candidates(data, raw, everything if impl is reference
                                               else _filled(_core.Filter(), everything))
                assert [k for k, _s, _u in found] == [  # R2's shape, or R1's: a spent print
                    k for k, tx in enumerate(block.txs) if k and (len(tx.outputs) <= 2 or any(
                        reference.script_fingerprint(script) in everything
                        for _v, script in spent[k - 1]))]
            for k, _start, undo_start in reference.derive_candidates(data, raw, everything):
                assert reference.undo_tx_scripts(raw, undo_start) == spent[k - 1]
        for tx in block.txs:
            for vout, out in enumerate(tx.outputs):
                outputs[(tx.txid_rev, vout)] = (out.value, out.script)
    assert checked > 20  # the sample story spends 23 outputs


def _filled(table: Any, source: Any) -> Any:
    for fp in source._keys:
        table.add(fp)
    return table


def test_an_uncompressed_key_is_rebuilt_from_x_and_parity() -> None:
    """Kinds 4 and 5 of Core's ScriptCompression: the genesis coinbase's key, kept as x and
    y's parity, comes back whole; derive_candidates leaves such inputs to the caller."""
    from indexer.fastpath.undo import decompress_script  # noqa: PLC0415

    key = bytes.fromhex("04678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6"
                        "bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5f")
    kind = 4 + (key[64] & 1)
    assert decompress_script(kind, key[1:33]) == b"\x41" + key + b"\xac"
    with pytest.raises(ValueError, match="curve"):
        decompress_script(kind, key[1:33], curve=False)
    with pytest.raises(ValueError, match="not on the curve"):
        decompress_script(4, bytes(31) + b"\x05")
