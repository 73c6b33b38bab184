"""Every real mainnet fixture block is attributed exactly as blocks.csv says, with the bundled
pools list (SPEC 4), including the coinbase txid, transaction count and size."""

from __future__ import annotations

import csv

import pytest

from indexer.attribution.matcher import attribute
from indexer.attribution.pools import compile_pools, load_pools
from indexer.config import default_pools_path, get_network
from indexer.parse.deserializer import parse_block
from tests.conftest import DATA

MAIN = get_network("main")
ROWS = list(csv.DictReader((DATA / "mainnet" / "blocks.csv").open()))
POOLS = load_pools(default_pools_path())
COMPILED = compile_pools(POOLS, MAIN)


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["height"])
def test_block_attribution(row: dict[str, str]) -> None:
    path = DATA / "mainnet" / "blocks" / f"{row['height']}-{row['hash']}.bin"
    block = parse_block(path.read_bytes())
    coinbase = block.txs[0]
    who = attribute(coinbase.inputs[0].script_sig,
                    [(o.value, o.script) for o in coinbase.outputs], COMPILED)
    by_id = POOLS.by_id
    tag_pool = by_id[who.tag_pool_id].slug if who.tag_pool_id is not None else ""
    assert (by_id[who.pool_id].slug, by_id[who.pool_id].name, who.method,
            str(who.conflict).lower(), tag_pool) == (
        row["pool"], row["pool_name"], row["method"], row["conflict"], row["tag_pool"])
    assert coinbase.txid_hum == row["coinbase_txid"]
    assert (len(block.txs), block.size) == (int(row["tx_count"]), int(row["size"]))


def test_all_fifteen_blocks_are_covered() -> None:
    assert len(ROWS) == 15
