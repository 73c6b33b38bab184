"""The benchmark's generated chain: deterministic, structurally valid, and indexed identically
by the compiled core and the pure-Python reference."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import plyvel
import pytest
from bitcoin.core import CBlock

from indexer.bench.chainmaker import make_chain
from indexer.config import get_network
from indexer.parse.deserializer import open_block
from indexer.pipeline import BlockFileSource
from tests.conftest import SAMPLE, cli

REGTEST = get_network("regtest")


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("chain")
    make_chain(out, blocks=60, txs_per_block=300, seed=11)
    return out


def file_digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_same_seed_writes_the_same_bytes(tmp_path: Path) -> None:
    make_chain(tmp_path / "a", blocks=12, txs_per_block=80, seed=5)
    make_chain(tmp_path / "b", blocks=12, txs_per_block=80, seed=5)
    make_chain(tmp_path / "c", blocks=12, txs_per_block=80, seed=6)
    assert file_digests(tmp_path / "a") == file_digests(tmp_path / "b")
    assert file_digests(tmp_path / "a") != file_digests(tmp_path / "c")


def test_blocks_are_valid_as_python_bitcoinlib_reads_them(chain: Path) -> None:
    source = BlockFileSource(chain / "regtest" / "blocks", REGTEST)
    active = source.chain()
    assert active.tip_height == 60 and not active.stale and not active.torn
    kinds: set[str] = set()
    for cb in active.blocks[1:]:
        raw = source.read(cb)
        block = CBlock.deserialize(raw)
        assert block.GetHash() == cb.hash_rev
        assert block.calc_merkle_root() == block.hashMerkleRoot
        assert int.from_bytes(cb.hash_rev, "little") <= REGTEST.pow_limit_target
        coinbase = block.vtx[0]
        commitment = coinbase.vout[block.get_witness_commitment_index()].scriptPubKey
        witness_root = block.calc_witness_merkle_root()
        reserved = coinbase.wit.vtxinwit[0].scriptWitness.stack[0]
        assert commitment[6:38] == hashlib.sha256(
            hashlib.sha256(witness_root + reserved).digest()).digest()
        height_push = coinbase.vin[0].scriptSig[1:1 + coinbase.vin[0].scriptSig[0]]
        assert int.from_bytes(height_push, "little") == cb.height  # BIP34
        if cb.height > 30:  # past the seed blocks, whose coins wait out their delays first
            assert 250 <= len(block.vtx) <= 300
        for tx in block.vtx[1:]:
            assert 1 <= len(tx.vin) <= 3 and 1 <= len(tx.vout)
            for out in tx.vout:
                kinds.add(bytes(out.scriptPubKey)[:2].hex())
    assert {"0014", "5120", "76a9", "a914", "0020"} <= kinds


def test_undo_records_hold_the_values_the_funding_outputs_carry(chain: Path) -> None:
    source = BlockFileSource(chain / "regtest" / "blocks", REGTEST)
    active = source.chain()
    assert source.funding is not None
    checked = 0
    for cb in active.blocks[1:]:
        block = open_block(source.read(cb))
        from_undo = source.undo.spent_values(cb.location.file_no, block, cb.height)
        for index in range(1, block.tx_count):
            assert from_undo[index - 1] == source.funding.spent_values(cb.height, block, index)
            checked += 1
    assert checked > 10_000


def index_items(path: Path) -> list[tuple[bytes, bytes]]:
    db = plyvel.DB(str(path))
    try:
        return list(db.iterator())
    finally:
        db.close()


@pytest.mark.parametrize("which", ["generated", "sample"])
def test_compiled_core_and_reference_build_identical_indexes(chain: Path, tmp_path: Path,
                                                             which: str) -> None:
    datadir = chain if which == "generated" else SAMPLE
    args = ["reindex", "--datadir", str(datadir), "--network", "regtest",
            "--pools", str(datadir / "pools.json"), "--labels", str(datadir / "exchanges.csv")]
    cli(*args, "--index", str(tmp_path / "compiled"))
    env = {**os.environ, "MINERFLOW_PURE": "1"}
    code = ("import sys; from indexer import fastpath; assert fastpath.IMPLEMENTATION == 'python'; "
            "from indexer.cli import main; main(sys.argv[1:])")
    subprocess.run([sys.executable, "-c", code, *args, "--index", str(tmp_path / "reference")],
                   env=env, check=True, capture_output=True)
    compiled, reference = index_items(tmp_path / "compiled"), index_items(tmp_path / "reference")
    assert len(compiled) > 1000 if which == "generated" else len(compiled) > 500
    assert compiled == reference
