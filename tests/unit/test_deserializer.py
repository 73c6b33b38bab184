"""The cursor deserializer against python-bitcoinlib on every real mainnet fixture block:
txids, prevouts, scriptSigs and outputs must be identical; merkle roots and header hashes must
match what the block commits to."""

from __future__ import annotations

from pathlib import Path

import pytest
from bitcoin.core import CBlock, b2lx

from indexer.errors import ParseError
from indexer.parse.deserializer import hum, merkle_root, open_block, parse_block, parse_tx
from tests.conftest import DATA

BLOCKS = sorted((DATA / "mainnet" / "blocks").glob("*.bin"))


def test_every_fixture_block_is_there() -> None:
    assert len(BLOCKS) == 15


@pytest.mark.parametrize("path", BLOCKS, ids=lambda p: p.name.split("-")[0])
def test_block_matches_python_bitcoinlib(path: Path) -> None:
    raw = path.read_bytes()
    ours = parse_block(raw)
    oracle = CBlock.deserialize(raw)
    assert hum(ours.header.hash_rev) == b2lx(oracle.GetHash()) == path.stem.split("-")[1]
    assert len(ours.txs) == len(oracle.vtx)
    for tx, otx in zip(ours.txs, oracle.vtx, strict=True):
        assert tx.txid_rev == otx.GetTxid()
        assert [(i.prev_txid_rev, i.prev_vout, i.script_sig, i.sequence) for i in tx.inputs] == [
            (i.prevout.hash, i.prevout.n, bytes(i.scriptSig), i.nSequence) for i in otx.vin
        ]
        assert [(o.value, o.script) for o in tx.outputs] == [
            (o.nValue, bytes(o.scriptPubKey)) for o in otx.vout
        ]
    assert merkle_root([tx.txid_rev for tx in ours.txs]) == ours.header.merkle_root_rev
    assert ours.txs[0].is_coinbase and not any(tx.is_coinbase for tx in ours.txs[1:])


def test_segwit_txid_strips_witness() -> None:
    raw = next(p for p in BLOCKS if p.name.startswith("702861")).read_bytes()
    block = parse_block(raw)
    oracle = CBlock.deserialize(raw)
    witness_txs = [i for i, tx in enumerate(oracle.vtx) if tx.has_witness()]
    assert witness_txs, "the fixture block holds segwit transactions"
    for i in witness_txs[:50]:
        assert block.txs[i].txid_rev == oracle.vtx[i].GetTxid()
        assert block.txs[i].txid_rev != oracle.vtx[i].GetHash() or not oracle.vtx[i].has_witness()


def test_truncated_block_is_a_parse_error() -> None:
    raw = BLOCKS[0].read_bytes()
    with pytest.raises(ParseError, match="truncated"):
        parse_block(raw[:-10])
    with pytest.raises(ParseError, match="uses"):
        parse_block(raw + b"\0")


def test_single_transaction_roundtrip() -> None:
    raw = BLOCKS[0].read_bytes()
    oracle = CBlock.deserialize(raw)
    tx_bytes = oracle.vtx[1].serialize()
    assert parse_tx(tx_bytes).txid_rev == oracle.vtx[1].GetTxid()
    with pytest.raises(ParseError):
        parse_tx(tx_bytes[:-1])


def test_open_block_refuses_what_is_not_a_whole_block() -> None:
    data = next((DATA / "mainnet" / "blocks").glob("702861-*.bin")).read_bytes()
    header = data[:80]
    with pytest.raises(ParseError, match="holds no transactions"):
        open_block(header + b"\x00")
    with pytest.raises(ParseError, match="is truncated"):
        open_block(data[:200])
    block = open_block(data)
    assert block.tx_count == 2500 and block.coinbase.is_coinbase
    with pytest.raises(ParseError, match="uses 1000 of its"):
        block.check_end(1000)
