"""The benchmark's generated chain: deterministic, structurally valid, and indexed identically
by the compiled core and the pure-Python reference."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bitcoin.core import CBlock

from indexer.config import get_network
from indexer.parse.deserializer import open_block
from indexer.pipeline import BlockFileSource
from indexer.store import keys
from indexer.store.leveldb import plyvel
from scripts.benchkit.chainmaker import make_chain
from scripts.benchkit.flagged import count_flagged
from tests.conftest import DATA, SAMPLE, cli
from tests.integration.test_reindex import mainnet_datadir

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


def reindex_both(datadir: Path, network: str, out: Path, *lists: str) -> tuple[
        list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
    """The index items of `datadir` built by the compiled core and by the reference."""
    args = ["reindex", "--datadir", str(datadir), "--network", network, *lists]
    cli(*args, "--index", str(out / "compiled"))
    env = {**os.environ, "MINERFLOW_PURE": "1"}
    code = ("import sys; from indexer import fastpath; assert fastpath.IMPLEMENTATION == 'python'; "
            "from indexer.cli import main; main(sys.argv[1:])")
    subprocess.run([sys.executable, "-c", code, *args, "--index", str(out / "reference")],
                   env=env, check=True, capture_output=True)
    return index_items(out / "compiled"), index_items(out / "reference")


def chain_lists(datadir: Path) -> list[str]:
    return ["--pools", str(datadir / "pools.json"), "--labels", str(datadir / "exchanges.csv")]


@pytest.mark.parametrize("which", ["generated", "sample", "story-xor", "story-torn",
                                   "mainnet"])
def test_compiled_core_and_reference_build_identical_indexes(chain: Path, tmp_path: Path,
                                                             which: str) -> None:
    datadir, network, lists = {
        "generated": (chain, "regtest", chain_lists(chain)),
        "sample": (SAMPLE, "regtest", chain_lists(SAMPLE)),
        "story-xor": (DATA / "regtest-story-xor", "regtest", chain_lists(SAMPLE)),
        "story-torn": (DATA / "regtest-story-torn", "regtest", chain_lists(SAMPLE)),
        "mainnet": (mainnet_datadir(tmp_path, "blk00001.dat"), "main", []),
    }[which]
    compiled, reference = reindex_both(datadir, network, tmp_path, *lists)
    assert len(compiled) > (1000 if which == "generated" else 500)
    assert compiled == reference


# (blocks, transactions a block, service share) giving about 1%, 10% and 30% flagged
SHARES = {"1%": (60, 2000, 0.0, (0.005, 0.02)), "10%": (150, 800, 0.027, (0.08, 0.13)),
          "30%": (150, 800, 0.13, (0.27, 0.35))}


@pytest.mark.parametrize("share", sorted(SHARES))
def test_compiled_and_reference_agree_at_every_flagged_share(tmp_path: Path, share: str) -> None:
    blocks, txs, service, (low, high) = SHARES[share]
    out = tmp_path / "chain"
    make_chain(out, blocks=blocks, txs_per_block=txs, seed=3, service_share=service)
    flagged, total = count_flagged(out)
    assert low <= flagged / total <= high, f"flagged share {flagged / total:.3f}"
    compiled, reference = reindex_both(out, "regtest", tmp_path, *chain_lists(out))
    coins = sum(1 for key, _v in compiled if key.startswith(keys.COIN))
    assert coins > 1000 and compiled == reference
