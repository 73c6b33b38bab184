"""Block by block over the regtest story and a generated chain: each entity's balance equals
the sum of its unspent tracked coins in the index, and Δbalance = mined + inflow − outflow − fees
within the floor rounding SPEC 5 allows (per transaction at most its outputs + 1)."""

from __future__ import annotations

import json
from pathlib import Path

from indexer.apply import BlockApplier, BlockMeta
from indexer.attribution.pools import compile_pools, load_pools
from indexer.config import get_network
from indexer.parse.deserializer import open_block, parse_block
from indexer.pipeline import BlockFileSource, BlockRead, open_for_writing
from indexer.store import keys
from indexer.store.batch import WriteBuffer
from scripts.benchkit.chainmaker import make_chain
from tests.conftest import LABELS, POOLS, SAMPLE
from tests.labelsets import load_labels

REGTEST = get_network("regtest")


def test_balances_equal_unspent_coins_and_flows_add_up(tmp_path: Path) -> None:
    checked = check_block_by_block(tmp_path, SAMPLE, POOLS, LABELS)
    assert checked > 300


def test_the_same_holds_on_a_generated_chain(tmp_path: Path) -> None:
    """Payout fan-outs, deposits, mixed inputs (undo data) and XOR-obfuscated files."""
    make_chain(tmp_path / "chain", blocks=45, txs_per_block=150, seed=7)
    chain = tmp_path / "chain"
    checked = check_block_by_block(tmp_path, chain, chain / "pools.json",
                                   chain / "exchanges.csv")
    assert checked > 200


def check_block_by_block(tmp_path: Path, datadir: Path, pools_path: Path,
                         labels_path: Path) -> int:
    pools, labels = load_pools(pools_path), load_labels(labels_path, REGTEST)
    source = BlockFileSource(datadir / "regtest" / "blocks", REGTEST)
    chain = source.chain()
    store = open_for_writing(tmp_path / "index", REGTEST, pools, labels)
    buffer = WriteBuffer(store, 288)
    applier = BlockApplier(store, buffer, compile_pools(pools, REGTEST))
    entities = [p.id for p in pools.pools]
    checked = 0
    for cb in chain.blocks:
        read = source.read_checked(cb)
        assert isinstance(read, BlockRead)
        block = open_block(read.data)
        before = {(e, lv): applier.balances.get((e, lv), 0) for e in entities for lv in (0, 1)}
        applier.apply(BlockMeta(cb.height, cb.hash_rev, cb.chain_time), block,
                      source.spent_values(cb, block, read), source.spent_scripts(cb, block, read))
        buffer.flush()

        unspent = {(e, lv): 0 for e in entities for lv in (0, 1)}
        for _key, value in store.scan(keys.COIN):
            entity, level, amount, _time = keys.unpack_coin(value)
            for at in (0, 1):
                if level <= at:
                    unspent[(entity, at)] += amount
        slack = sum(len(tx.outputs) + 1 for tx in parse_block(block.data).txs)
        for (entity, level), total in unspent.items():
            raw = store.get(keys.balance_key(entity, level))
            assert (keys.unpack_u64(raw) if raw else 0) == total, (cb.height, entity, level)
            row = store.get(keys.series_key(entity, level, cb.height))
            if row is None:
                assert total == before[(entity, level)]
                continue
            r = json.loads(row)
            gap = (r["mined"] + r["inflow"] - r["outflow"] - r["fees"]) - (
                total - before[(entity, level)])
            assert 0 <= gap <= slack, (cb.height, entity, level, gap)
            checked += 1
    store.close()
    return checked
