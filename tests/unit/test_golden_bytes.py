"""The on-disk bytes of every key and value layout, pinned: each expectation is assembled by hand
from the layout in docs/schema.md, never by the codec under test, so a change to the format shows
up here (and must come with a new FORMAT_VERSION). The last tests pin rows of a real index of the
regtest story against the fixture's own numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from indexer.config import get_network
from indexer.parse.script import script_for_address
from indexer.store import keys
from tests.conftest import SAMPLE, STORY, dump, load_json

REGTEST = get_network("regtest")


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def test_format_version() -> None:
    assert keys.FORMAT_VERSION == 4


def test_fixed_keys() -> None:
    assert (keys.STATE, keys.POOLS_LIST, keys.LABELS_LIST) == (b"S", b"Lpools", b"Llabels")


def test_height_keys() -> None:
    assert keys.block_key(0x01020304) == b"H" + h("01020304")
    assert keys.coinbase_key(7) == b"C" + h("00000007")
    assert keys.undo_key(0xFFFFFFFF) == b"U" + h("ffffffff")
    assert keys.day_key(20513) == b"D" + h("00005021")


def test_hash_and_outpoint_keys() -> None:
    txid = bytes(range(32))
    assert keys.block_by_hash_key(txid) == b"B" + txid
    assert keys.coin_key(txid, 0x0A0B0C0D) == b"o" + txid + h("0a0b0c0d")
    assert keys.member_key(h("0014aabb")) == b"m" + h("0014aabb")


def test_entity_keys() -> None:
    assert keys.pool_block_key(0x1234, 0x00BC614E) == b"P" + h("1234 00bc614e")
    assert keys.pool_block_prefix(0x1234) == b"P" + h("1234")
    assert keys.series_key(keys.ALL_ENTITY, 1, 300) == b"e" + h("ffff 01 0000012c")
    assert keys.series_prefix(2, 0) == b"e" + h("0002 00")
    assert keys.balance_key(3, 1) == b"T" + h("0003 01")
    assert keys.day_totals_key(2, 20_513) == b"A" + h("0002 00005021")
    assert keys.day_totals_prefix(keys.ALL_ENTITY) == b"A" + h("ffff")
    assert keys.chain_totals_key(keys.ALL_ENTITY) == b"W" + h("ffff")


def test_exchange_keys_and_values() -> None:
    assert keys.exchange_series_key(keys.ALL_ENTITY, 300) == b"X" + h("ffff 0000012c")
    assert keys.exchange_series_prefix(1) == b"X" + h("0001")
    assert keys.exchange_balance_key(7) == b"Y" + h("0007")
    row = keys.ExchangeRow(balance=1, inflow=2, outflow=3, fees=4, from_coinbase=5,
                           from_miners_0=6, from_miners_1=7)
    assert keys.pack_exchange_row(row) == b"".join(n.to_bytes(8, "big") for n in range(1, 8))
    assert keys.unpack_exchange_row(keys.pack_exchange_row(row)) == row


def test_pools_versions_value() -> None:
    assert keys.pack_versions([("ab" * 32, 5), ("cd" * 32, 0)]) == (
        b'[["' + b"ab" * 32 + b'",5],["' + b"cd" * 32 + b'",0]]')


def test_totals_value() -> None:
    totals = keys.Totals(blocks=144, empty_blocks=2, tx_count=300_000, size=0x08000000,
                         weight=0x20000000, subsidy=450_000_000 * 144, fees=-1, work=1 << 100)
    want = (h("00000090 00000002 00000000000493e0 0000000008000000 0000000020000000")
            + h("0000000f16618800 ffffffffffffffff") + bytes(27) + h("10") + bytes(12))
    assert len(want) == 88 and keys.pack_totals(totals) == want
    assert keys.unpack_totals(want) == totals


def test_small_values() -> None:
    assert keys.pack_u32(182) == h("000000b6")
    assert keys.pack_u64(2_100_000_000_000_000) == h("000775f05a074000")
    assert keys.pack_day(100, 143) == h("00000064 0000008f")
    assert keys.pack_member(0x0102, 1) == h("0102 01")
    assert keys.pack_coin(0x0102, 0, 5_000_000_000, 0x69B5A2C0) == h(
        "0102 00 000000012a05f200 69b5a2c0")


def test_block_record() -> None:
    record = keys.BlockRecord(
        height=5, hash_rev=bytes(range(32)), chain_time=0x5F5E1000, header_time=0x5F5E0FFF,
        bits=0x207FFFFF, pool_id=0x0011, method="tag", tag_pool_id=None, conflict=True,
        tx_count=3, size=0x0400, coinbase_value=5_000_001_000, weight=0x0C00, pools_version=2)
    want = (bytes(range(32)) + h("5f5e1000 5f5e0fff 207fffff 0011 02 ffff 01 00000003 00000400")
            + h("000000012a05f5e8 00000c00 0002"))
    assert len(want) == 72 and keys.pack_block(record) == want
    assert keys.unpack_block(5, want) == record


def test_coinbase_record() -> None:
    packed = keys.pack_coinbase(h("03b60000"), [(5_000_000_000, h("51")), (0, h("6a24aa21"))])
    assert packed == (h("00000004 03b60000 00000002")
                      + h("000000012a05f200 00000001 51")
                      + h("0000000000000000 00000004 6a24aa21"))


def test_undo_record() -> None:
    packed = keys.pack_undo([(b"T" + h("000100"), h("0000000000000064")), (b"o" + bytes(36), None)])
    assert packed == (h("00000004") + b"T" + h("000100") + h("00000008 0000000000000064")
                      + h("00000025") + b"o" + bytes(36) + h("ffffffff"))


def test_series_row() -> None:
    packed = keys.pack_series_row(100, 50, 0, 7, 1, 7, {"okx": 0, "binance": 7, "bitfinex": 0})
    assert packed == (b'{"balance":100,"mined":50,"inflow":0,"outflow":7,"fees":1,'
                      b'"to_exchange":7,"to_exchange_by":{"binance":7}}')
    assert keys.unpack_series_row(packed)["to_exchange_by"] == {"binance": 7}


def test_label_keys() -> None:
    script = h("0014") + bytes(range(20))
    assert keys.label_key(script) == b"l" + script
    assert keys.exchange_script_key(script) == b"x" + script
    assert keys.script_from_label_key(b"x" + script) == script
    assert keys.LABELS_PENDING == b"Lpending"


def test_a_real_index_holds_its_labels_one_key_a_script(story_index: Path) -> None:
    """`l` + script -> the canonical row, `x` + script -> the exchange, for every row of the
    sample's labels (the fixture's exchanges.csv), and the set's summary under `Llabels`."""
    stored = dump(story_index)
    rows = [line.split(",") for line in (SAMPLE / "exchanges.csv").read_text().splitlines()[1:]]
    for address, entity, category, *_rest in rows:
        script = script_for_address(address, REGTEST)
        assert stored[b"x" + script] == entity.encode()
        assert stored[b"l" + script].startswith(f"{address},{entity},{category},".encode())
    assert len([k for k in stored if k[:1] == b"x"]) == len(rows)
    summary = json.loads(stored[b"Llabels"])
    assert summary["count"] == len(rows) and summary["categories"] == {"exchange": len(rows)}
    assert b"Lpending" not in stored


def test_state_record() -> None:
    fields = {"tip_hash": None, "format": 1, "network": "regtest", "tip_height": -1}
    assert keys.pack_state(fields) == (b'{"format": 1, "network": "regtest", "tip_hash": null, '
                                       b'"tip_height": -1}')


def test_a_real_index_holds_the_fixture_chain_in_these_bytes(story_index: Path,
                                                             expected: Any) -> None:
    stored = dump(story_index)
    state = json.loads(stored[b"S"])
    assert list(state) == sorted(state) and state["format"] == 4
    assert (state["tip_height"], state["tip_hash"]) == (expected["tip"]["height"],
                                                        expected["tip"]["hash"])
    for block in expected["blocks"]:
        height = block["height"]
        hash_rev = bytes.fromhex(block["hash"])[::-1]
        value = stored[b"H" + height.to_bytes(4, "big")]
        assert len(value) == 72 and value[:32] == hash_rev
        assert int.from_bytes(value[36:40], "big") == block["time"]  # the header's time
        assert int.from_bytes(value[44:46], "big") == block["pool_id"]
        assert value[46] == ("none", "address", "tag").index(block["method"])
        assert stored[b"B" + hash_rev] == height.to_bytes(4, "big")
        pool_key = b"P" + block["pool_id"].to_bytes(2, "big") + height.to_bytes(4, "big")
        assert stored[pool_key] == b""
    entity_ids = {slug: e["id"] for slug, e in expected["entities"].items()} | {"all": 0xFFFF}
    for slug, balances in expected["final_balances"].items():
        for level in (0, 1):
            key = b"T" + entity_ids[slug].to_bytes(2, "big") + bytes([level])
            assert stored.get(key, bytes(8)) == balances[f"level{level}"].to_bytes(8, "big")
    want = load_json(STORY / "expected-exchanges.json")
    ids = {slug: x["id"] for slug, x in want["exchanges"].items()} | {"all": 0xFFFF}
    for slug, balance in want["exchange_final_balance"].items():
        assert stored[b"Y" + ids[slug].to_bytes(2, "big")] == balance.to_bytes(8, "big")
    rows = [v for k, v in stored.items() if k[:1] == b"X" and k[1:3] == b"\xff\xff"]
    assert sum(int.from_bytes(v[8:16], "big") for v in rows) == sum(
        d["inflow"] for d in want["exchange_daily"]["all"])  # the second u64 is the inflow
