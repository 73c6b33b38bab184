"""The regtest story, case by case, as story.json tells it. Expected numbers come from the
node's own RPC answers (rpc-final.json, getblock verbosity 3 with prevouts) and SPEC 5's
formulas, never from minerflow's output. Each story transaction is alone in its block, so the
per-block series row at its height is that transaction's effect."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from indexer.errors import NotFound
from indexer.reader import IndexReader
from indexer.store.db import Store
from tests.conftest import STORY, export_jsonl, load_json

RPC = load_json(STORY / "rpc-final.json")
BEFORE = load_json(STORY / "rpc-before-reorg.json")
NOTES = {t["note"]: t["txid"] for t in load_json(STORY / "story.json")["txs"]}
EXCHANGES = {"Exchange One", "Exchange Two"}
LABELS = {line.split(",")[0]: line.split(",")[1]
          for line in (Path(__file__).parents[2] / "indexer" / "data" / "sample" /
                       "exchanges.csv").read_text().splitlines()[1:]}


def sats(btc: float) -> int:
    return int(Decimal(str(btc)) * 100_000_000)


def story_tx(note_start: str) -> tuple[int, dict[str, Any]]:
    """(height, verbose tx) of the story transaction whose note starts with `note_start`."""
    txid = next(t for n, t in NOTES.items() if n.startswith(note_start))
    for block in RPC["blocks"]:
        for tx in block["verbose3"]["tx"]:
            if tx["txid"] == txid:
                return block["height"], tx
    raise AssertionError(f"{note_start!r} not in the active chain")


def row(index: Path, entity: str, level: int, height: int) -> dict[str, Any]:
    rows = export_jsonl("series", "--index", index, "--entity", entity, "--level", str(level),
                        "--interval", "block", "--since", str(height), "--until", str(height))
    assert len(rows) == 1 and rows[0]["height"] == height
    return rows[0]


def previous_balance(index: Path, entity: str, level: int, height: int) -> int:
    return int(row(index, entity, level, height - 1)["balance"])


def outputs(tx: dict[str, Any]) -> list[tuple[int, str]]:
    return [(sats(o["value"]), o["scriptPubKey"].get("address", "")) for o in tx["vout"]]


def test_customer_deposit_is_a_one_hop_flow_to_the_exchange(story_index: Path) -> None:
    height, tx = story_tx("Foundry customer deposit to Exchange One")
    (value, address), = outputs(tx)
    fee = sats(tx["fee"])
    assert LABELS[address] == "Exchange One"
    level1 = row(story_index, "foundryusa", 1, height)
    assert (level1["to_exchange"], level1["to_exchange_by"]) == (value, {"Exchange One": value})
    assert (level1["outflow"], level1["fees"]) == (value, fee)
    level0 = row(story_index, "foundryusa", 0, height)
    assert (level0["to_exchange"], level0["outflow"]) == (0, 0)  # a 1-hop coin is not 0-hop


def test_two_hop_deposit_is_not_a_one_hop_flow(story_index: Path) -> None:
    hop_height, _ = story_tx("customer to own new address")
    height, tx = story_tx("2-hop coins reach Exchange One")
    assert LABELS[outputs(tx)[0][1]] == "Exchange One"
    for level in (0, 1):
        deposit = row(story_index, "all", level, height)
        assert (deposit["to_exchange"], deposit["outflow"], deposit["fees"]) == (0, 0, 0)
    # The hop before it moved a 1-hop coin to a fresh address: an outflow, and no new cohort.
    hop = row(story_index, "foundryusa", 1, hop_height)
    assert hop["outflow"] == outputs(story_tx("customer to own new address")[1])[0][0]
    assert hop["inflow"] == 0


def test_mixed_transaction_splits_pro_rata(story_index: Path) -> None:
    height, tx = story_tx("mixed Foundry+Binance inputs")
    spent = [sats(i["prevout"]["value"]) for i in tx["vin"]]
    total_in, fee = sum(spent), sats(tx["fee"])
    deposit = next(v for v, a in outputs(tx) if a in LABELS)
    shares = {}
    for entity, mine in (("foundryusa", spent[0]), ("binancepool", spent[1])):
        flow = row(story_index, entity, 0, height)
        share = deposit * mine // total_in
        assert flow["to_exchange"] == share and flow["to_exchange_by"] == {"Exchange One": share}
        assert flow["fees"] == fee * mine // total_in
        assert flow["outflow"] == sum(v * mine // total_in for v, _a in outputs(tx))
        shares[entity] = share
    everyone = row(story_index, "all", 0, height)
    assert everyone["to_exchange"] == sum(shares.values())
    assert deposit - 1 <= everyone["to_exchange"] <= deposit  # floored per entity


def test_exchange_sweep_is_no_miner_flow(story_index: Path) -> None:
    height, tx = story_tx("Exchange One deposit swept")
    assert LABELS[tx["vin"][0]["prevout"]["scriptPubKey"]["address"]] == "Exchange One"
    for level in (0, 1):
        sweep = row(story_index, "all", level, height)
        assert sweep["outflow"] == sweep["to_exchange"] == sweep["inflow"] == sweep["fees"] == 0
        assert sweep["balance"] == previous_balance(story_index, "all", level, height) + sweep[
            "mined"]


def test_stale_deposit_never_counts(story_index: Path, expected: Any) -> None:
    txid = NOTES["deposit that ends up only in stale blocks"]
    stale = next(b for b in BEFORE["blocks"] for t in b["verbose3"]["tx"] if t["txid"] == txid)
    assert stale["hash"] in expected["stale_blocks"]
    assert all(txid not in {t["txid"] for t in b["verbose3"]["tx"]} for b in RPC["blocks"])
    with Store(story_index) as store:
        reader = IndexReader(store)
        with pytest.raises(NotFound):
            reader.block_by_hash(stale["hash"])
        assert reader.block(stale["height"]).hash_hum != stale["hash"]
    for height in range(stale["height"], RPC["blockchaininfo"]["blocks"] + 1):
        assert row(story_index, "all", 1, height)["to_exchange"] == 0


def test_prefunded_address_only_counts_coins_after_it_joined(story_index: Path) -> None:
    prefund_height, prefund = story_tx("prefund an address")
    joined = prefund_height + 1
    coinbase = next(b for b in RPC["blocks"] if b["height"] == joined)["verbose3"]["tx"][0]
    prefunded = {a for v, a in outputs(prefund)} & {a for v, a in outputs(coinbase)}
    assert len(prefunded) == 1  # the coinbase pays the prefunded address
    prefund_value = next(v for v, a in outputs(prefund) if a in prefunded)
    mined = sum(v for v, a in outputs(coinbase) if a)  # every addressed coinbase output
    level0 = row(story_index, "foundryusa", 0, joined)
    assert level0["mined"] == mined
    assert level0["balance"] - previous_balance(story_index, "foundryusa", 0, joined) == mined
    # The prefunding coin was made by a Foundry 0-hop spend, so it is a 1-hop coin of Foundry
    # from its creation on: counted at level 1 before the address joined cohort 0, never at 0.
    at_prefund_1 = row(story_index, "foundryusa", 1, prefund_height)
    at_prefund_0 = row(story_index, "foundryusa", 0, prefund_height)
    assert at_prefund_0["outflow"] >= prefund_value
    assert at_prefund_1["outflow"] == 0 and at_prefund_1["inflow"] == 0


def first_coinbase_payer(address: str, expected: Any) -> str:
    """The pool of the first block whose coinbase pays `address`: the owner of its cohort."""
    for block in RPC["blocks"][1:]:
        if address in {a for _v, a in outputs(block["verbose3"]["tx"][0])}:
            return str(expected["blocks"][block["height"]]["pool"])
    raise AssertionError(address)


def test_inflow_from_another_miner(story_index: Path, expected: Any) -> None:
    height, tx = story_tx("inflow: unknown miner's coin")
    pool_address = "bcrt1qj5tvmgfg3u92u0m7tdjycgqdw5v39qj0t7qcsh"
    paid = sum(v for v, a in outputs(tx) if a == pool_address)
    foundry = row(story_index, "foundryusa", 0, height)
    assert foundry["inflow"] == paid and foundry["outflow"] == 0
    owner = first_coinbase_payer(tx["vin"][0]["prevout"]["scriptPubKey"]["address"], expected)
    assert owner != "foundryusa"
    other = row(story_index, owner, 0, height)
    assert other["outflow"] == sum(v for v, _a in outputs(tx))
    everyone = row(story_index, "all", 0, height)
    assert everyone["inflow"] >= paid and everyone["outflow"] >= paid  # counted in both


def test_direct_pool_deposit_counts_at_level_zero(story_index: Path) -> None:
    height, tx = story_tx("AntPool direct deposit to Exchange Two")
    deposit = next(v for v, a in outputs(tx) if LABELS.get(a) == "Exchange Two")
    for level in (0, 1):
        flow = row(story_index, "antpool", level, height)
        assert flow["to_exchange_by"] == {"Exchange Two": deposit}


def test_consolidation_into_a_fresh_address_is_one_hop(story_index: Path) -> None:
    height, tx = story_tx("ViaBTC consolidation")
    (value, _address), = outputs(tx)
    level0 = row(story_index, "viabtc", 0, height)
    level1 = row(story_index, "viabtc", 1, height)
    assert level0["outflow"] == value and level1["outflow"] == 0
    assert level1["balance"] - previous_balance(story_index, "viabtc", 1, height) == (
        level1["mined"] - sats(tx["fee"]))
