"""Network series, pool hash rates, windows, reward stats and week/month buckets, checked
against figures this test computes itself: from the real mainnet headers (parsed with
python-bitcoinlib) and from the real node's RPC answers of the regtest story (`rpc-final.json`),
never from the index."""

from __future__ import annotations

import datetime as dt
import struct
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bitcoin.core import CBlock, b2lx
from fastapi.testclient import TestClient

from tests.conftest import (
    DATA,
    STORY,
    cli,
    export_jsonl,
    load_json,
    with_supply_share,
    without_ages,
)
from tests.integration.test_reindex import mainnet_datadir

DAY = 86_400
SAT = 100_000_000


def day_of(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).date().isoformat()


def work(bits: int) -> int:
    """Bitcoin Core's GetBlockProof, written out: 2**256 // (target + 1)."""
    exponent, mantissa = bits >> 24, bits & 0x7FFFFF
    target = mantissa << (8 * (exponent - 3))
    return (1 << 256) // (target + 1)


# -- mainnet heights 0-599 ---------------------------------------------------------------------


def blk_blocks(path: Path) -> Iterator[CBlock]:
    data = path.read_bytes()
    p = 0
    while p + 8 <= len(data) and data[p:p + 4] == bytes.fromhex("f9beb4d9"):
        size = struct.unpack_from("<I", data, p + 4)[0]
        yield CBlock.deserialize(data[p + 8:p + 8 + size])
        p += 8 + size


@pytest.fixture(scope="module")
def mainnet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[CBlock]]:
    tmp = tmp_path_factory.mktemp("mainnet")
    datadir = mainnet_datadir(tmp, "blk00001.dat")
    cli("reindex", "--datadir", datadir, "--network", "main", "--index", tmp / "index")
    by_prev = {b.hashPrevBlock: b for name in ("blk00000.dat", "blk00001.dat")
               for b in blk_blocks(DATA / "mainnet" / "blk" / name)}
    chain = [by_prev[b"\0" * 32]]
    while chain[-1].GetHash() in by_prev:
        chain.append(by_prev[chain[-1].GetHash()])
    assert len(chain) == 600
    return tmp / "index", chain


def test_mainnet_days_have_difficulty_one_and_the_headers_hash_rate(
        mainnet: tuple[Path, list[CBlock]]) -> None:
    index, chain = mainnet
    work_by_day: dict[str, int] = defaultdict(int)
    blocks_by_day: dict[str, int] = defaultdict(int)
    claimed: dict[str, int] = defaultdict(int)
    chain_time = 0
    for height, block in enumerate(chain):
        chain_time = max(chain_time, block.nTime)
        if height == 0:
            continue  # the series start at block 1's day
        day = day_of(chain_time)
        work_by_day[day] += work(block.nBits)
        blocks_by_day[day] += 1
        claimed[day] += sum(out.nValue for out in block.vtx[0].vout)
    assert {b.nBits for b in chain} == {0x1D00FFFF}
    rows = export_jsonl("network", "--index", index)
    first = dt.date.fromisoformat(min(work_by_day))
    assert [r["day"] for r in rows] == [
        (first + dt.timedelta(days=i)).isoformat() for i in range(len(rows))]
    assert rows[-1]["day"] == max(work_by_day)
    for row in rows:
        day = row["day"]
        assert row["difficulty"] == 1.0
        assert row["hashrate"] == work_by_day[day] / DAY
        assert row["blocks"] == blocks_by_day[day]
        assert row["subsidy"] == 50 * SAT * blocks_by_day[day]
        assert row["fees"] == claimed[day] - 50 * SAT * blocks_by_day[day]
    assert sum(r["blocks"] for r in rows) == 599


def test_mainnet_blocks_carry_size_weight_and_difficulty(
        mainnet: tuple[Path, list[CBlock]]) -> None:
    index, chain = mainnet
    rows = export_jsonl("network", "--index", index, "--interval", "block")
    assert [r["height"] for r in rows] == list(range(1, 600))
    for row in rows:
        block = chain[row["height"]]
        size = len(block.serialize())
        assert row["hash"] == b2lx(block.GetHash())
        assert (row["size"], row["weight"], row["tx_count"]) == (size, 4 * size, len(block.vtx))
        assert row["difficulty"] == 1.0 and row["empty"] == (len(block.vtx) == 1)
    assert cli("export", "network", "--index", index, "--interval", "block", "--since",
               "0", "--until", "0").stdout == ""


# -- regtest story ------------------------------------------------------------------------------


class Story:
    """Per block, from the node's RPC answers and expected.json's attribution."""

    def __init__(self) -> None:
        rpc = load_json(STORY / "rpc-final.json")
        expected = load_json(STORY / "expected.json")
        pool_of = {b["height"]: b["pool"] for b in expected["blocks"]}
        self.blocks: list[dict[str, Any]] = []
        chain_time = 0
        for entry in rpc["blocks"]:
            v = entry["verbose3"]
            chain_time = max(chain_time, v["time"])
            height = entry["height"]
            subsidy = (50 * SAT) >> (height // 150)  # regtest halves every 150 blocks
            outputs = sum(round(o["value"] * SAT) for o in v["tx"][0]["vout"])
            self.blocks.append({
                "height": height, "time": chain_time, "day": day_of(chain_time),
                "pool": pool_of[height], "subsidy": subsidy, "fees": outputs - subsidy,
                "size": v["size"], "weight": v["weight"], "tx_count": v["nTx"],
                "work": work(int(v["bits"], 16)), "bits": v["bits"]})
        self.tip = self.blocks[-1]

    def counted(self) -> list[dict[str, Any]]:
        return self.blocks[1:]  # the genesis block is in no series


STORY_BLOCKS = Story()


def test_story_blocks_have_the_nodes_size_weight_and_fees(story_index: Path) -> None:
    rows = export_jsonl("network", "--index", story_index, "--interval", "block")
    assert len(rows) == 182
    for row, block in zip(rows, STORY_BLOCKS.counted(), strict=True):
        assert (row["height"], row["pool"], row["size"], row["weight"], row["tx_count"],
                row["subsidy"], row["fees"], row["empty"]) == (
            block["height"], block["pool"], block["size"], block["weight"], block["tx_count"],
            block["subsidy"], block["fees"], block["tx_count"] == 1)
        assert row["difficulty"] == 1.0  # every block at regtest's pow limit, 207fffff
    assert {b["bits"] for b in STORY_BLOCKS.blocks} == {"207fffff"}


def per_day(blocks: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    days: dict[str, dict[str, int]] = {}
    for b in blocks:
        d = days.setdefault(b["day"], defaultdict(int))
        for field in ("subsidy", "fees", "work"):
            d[field] += b[field]
        d["blocks"] += 1
        d["empty_blocks"] += b["tx_count"] == 1
    return days


def test_story_network_and_pool_days(story_index: Path) -> None:
    counted = STORY_BLOCKS.counted()
    network = per_day(counted)
    rows = export_jsonl("network", "--index", story_index)
    assert [r["day"] for r in rows] == sorted(network)
    for row in rows:
        want = network[row["day"]]
        assert (row["blocks"], row["subsidy"], row["fees"]) == (
            want["blocks"], want["subsidy"], want["fees"])
        assert row["hashrate"] == want["work"] / DAY and row["difficulty"] == 1.0
    pools = {b["pool"] for b in counted}
    assert len(pools) >= 5
    for slug in sorted(pools):
        mine = per_day([b for b in counted if b["pool"] == slug])
        got = export_jsonl("network", "--index", story_index, "--pool", slug)
        assert [r["day"] for r in got] == sorted(network)
        for row in got:
            want = mine.get(row["day"], defaultdict(int))
            assert row["blocks"] == want["blocks"], (slug, row["day"])
            assert row["share"] == want["blocks"] / network[row["day"]]["blocks"]
            assert row["hashrate"] == want["work"] / DAY
            assert (row["subsidy"], row["fees"], row["empty_blocks"]) == (
                want["subsidy"], want["fees"], want["empty_blocks"])


def iso_week_start(day: str) -> str:
    d = dt.date.fromisoformat(day)
    return (d - dt.timedelta(days=d.weekday())).isoformat()


def test_story_weeks_and_months(story_index: Path, expected: Any) -> None:
    network = per_day(STORY_BLOCKS.counted())
    weeks: dict[str, dict[str, int]] = {}
    for day, figures in network.items():
        w = weeks.setdefault(iso_week_start(day), defaultdict(int))
        for field, value in figures.items():
            w[field] += value
    rows = export_jsonl("network", "--index", story_index, "--interval", "week")
    assert [r["day"] for r in rows] == sorted(weeks)
    for row in rows:
        assert row["blocks"] == weeks[row["day"]]["blocks"]
        assert row["subsidy"] == weeks[row["day"]]["subsidy"]
        assert row["hashrate"] == weeks[row["day"]]["work"] / (7 * DAY)
    # miner series by month, from expected.json's daily rows: balance at the month's end,
    # flows summed
    for slug in ("all", "foundryusa", "unknown"):
        daily = with_supply_share(expected["daily"][slug]["level1"], expected["blocks"])
        months: dict[str, dict[str, Any]] = {}
        for row in daily:
            m = months.setdefault(row["day"][:8] + "01", {"to_exchange_by": {}})
            m["balance"] = row["balance"]
            m["balance_share_of_supply"] = row["balance_share_of_supply"]
            m["partial"] = row["partial"]
            for field in ("mined", "inflow", "outflow", "fees", "to_exchange"):
                m[field] = m.get(field, 0) + row[field]
            for name, value in row["to_exchange_by"].items():
                m["to_exchange_by"][name] = m["to_exchange_by"].get(name, 0) + value
        got = without_ages(export_jsonl("series", "--index", story_index, "--entity", slug,
                                        "--interval", "month"))  # SPEC 5.3's: test_exchanges
        assert {r["day"]: {k: v for k, v in r.items() if k != "day"} for r in got} == months


def test_story_outflow_revenue_ratio(story_index: Path, expected: Any) -> None:
    revenue = {day: f["subsidy"] + f["fees"] for day, f in per_day(
        [b for b in STORY_BLOCKS.counted() if b["pool"] == "foundryusa"]).items()}
    rows = export_jsonl("series", "--index", story_index, "--entity", "foundryusa",
                        "--level", "1", "--derived")
    daily = expected["daily"]["foundryusa"]["level1"]
    assert len(rows) == len(daily)
    for row, want in zip(rows, daily, strict=True):
        ratio = want["outflow"] / revenue[want["day"]] if revenue.get(want["day"]) else None
        assert row["outflow_revenue_ratio"] == ratio
    assert any(r["outflow_revenue_ratio"] for r in rows)


def in_window(seconds: int | None) -> list[dict[str, Any]]:
    tip_time = STORY_BLOCKS.tip["time"]
    return [b for b in STORY_BLOCKS.counted()
            if seconds is None or b["time"] > tip_time - seconds]


@pytest.mark.parametrize("window,seconds", [("24h", DAY), ("3d", 3 * DAY), ("1w", 7 * DAY),
                                            ("all", None)])
def test_pool_windows(client: TestClient, window: str, seconds: int | None) -> None:
    blocks = in_window(seconds)
    body = client.get(f"/v1/pools?window={window}").json()
    assert body["total_blocks"] == len(blocks)
    assert body["from_height"] == blocks[0]["height"]
    span = seconds or STORY_BLOCKS.tip["time"] - STORY_BLOCKS.blocks[1]["time"]
    assert body["hashrate"] == sum(b["work"] for b in blocks) / span
    got = {row["slug"]: row for row in body["data"]}
    assert set(got) == {b["pool"] for b in blocks}
    for slug, row in got.items():
        mine = [b for b in blocks if b["pool"] == slug]
        assert row["blocks"] == len(mine)
        assert row["revenue"] == sum(b["subsidy"] + b["fees"] for b in mine)
        assert row["empty_blocks"] == sum(b["tx_count"] == 1 for b in mine)
        assert row["hashrate"] == sum(b["work"] for b in mine) / span
        detail = client.get(f"/v1/pools/{slug}").json()
        assert detail["blocks"][window] == len(mine)
        assert detail["revenue"][window] == row["revenue"]
        assert detail["hashrate"][window] == row["hashrate"]


def test_reward_stats(client: TestClient) -> None:
    for n in (1, 10, 150, 10_000):
        last = STORY_BLOCKS.counted()[-n:]
        body = client.get(f"/v1/mining/reward-stats?blocks={n}").json()
        assert (body["from_height"], body["to_height"], body["blocks"]) == (
            last[0]["height"], 182, len(last))
        assert body["subsidy"] == sum(b["subsidy"] for b in last)
        assert body["revenue"] == sum(b["subsidy"] + b["fees"] for b in last)
        assert body["tx_count"] == sum(b["tx_count"] for b in last)


def test_pool_hashrate_endpoint_and_its_7_day_mean(client: TestClient) -> None:
    mine = per_day([b for b in STORY_BLOCKS.counted() if b["pool"] == "viabtc"])
    days = sorted(per_day(STORY_BLOCKS.counted()))
    rows = client.get("/v1/pools/viabtc/hashrate").json()["data"]
    assert [r["day"] for r in rows] == days
    for i, row in enumerate(rows):
        recent = days[max(0, i - 6):i + 1]
        assert row["hashrate_7d"] == sum(mine[d]["work"] for d in recent if d in mine) / (
            len(recent) * DAY)
    later = client.get(f"/v1/pools/viabtc/hashrate?since={days[8]}").json()["data"]
    assert later == rows[8:]  # the mean reaches back before `since`


def test_network_csv_answer_equals_the_cli_export(client: TestClient, story_index: Path) -> None:
    for query, args in (("", ()), ("&pool=antpool", ("--pool", "antpool")),
                        ("&interval=block", ("--interval", "block")),
                        ("&interval=month", ("--interval", "month"))):
        answer = client.get(f"/v1/network/series?format=csv{query}")
        assert answer.status_code == 200 and "x-next-cursor" not in answer.headers
        exported = cli("export", "network", "--index", story_index, "--format", "csv", *args)
        assert answer.text == exported.stdout


@pytest.mark.parametrize("path,key", [
    ("/v1/miners/series?interval=block&entity=foundryusa", "height"),
    ("/v1/miners/series?interval=day", "day"),
    ("/v1/network/series?interval=block", "height"),
    ("/v1/network/series?interval=day", "day"),
    ("/v1/pools/f2pool/hashrate?", "day"),
    ("/v1/pools?window=all", None),
    ("/v1/miners/balances?", None),
])
def test_cursor_pages_add_up_to_the_whole(client: TestClient, path: str, key: str | None) -> None:
    sep = "&" if not path.endswith("?") else ""
    whole = client.get(f"{path}{sep}limit=10000").json()["data"]
    pages: list[Any] = []
    cursor = None
    while True:
        url = f"{path}{sep}limit=4" + ("" if cursor is None else f"&cursor={cursor}")
        body = client.get(url).json()
        assert body["count"] == len(body["data"]) <= 4
        pages += body["data"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
        if key is not None:  # a key-cursor names the first row of the next page
            assert client.get(url).json()["next_cursor"] == cursor
    assert pages == whole and len(whole) > 4
    first = client.get(f"{path}{sep}limit=4&format=csv")
    assert first.headers["x-next-cursor"] == str(client.get(f"{path}{sep}limit=4").json()[
        "next_cursor"])


def test_regtest_has_no_difficulty_adjustment(client: TestClient) -> None:
    body = client.get("/v1/network/difficulty-adjustments").json()
    assert body["data"] == [] and body["next_cursor"] is None


def test_an_index_of_the_genesis_block_alone_answers_with_empty_figures(
        tmp_path: Path) -> None:
    from api.main import create_app
    from indexer.store.db import Store
    from scripts.benchkit.chainmaker import make_thin_chain

    make_thin_chain(tmp_path, 0)
    cli("reindex", "--datadir", tmp_path, "--network", "regtest", "--index", tmp_path / "index",
        "--pools", tmp_path / "pools.json", "--labels", tmp_path / "exchanges.csv")
    with Store(tmp_path / "index") as store, TestClient(create_app(store)) as client:
        for url in ("/v1/network/series", "/v1/network/series?interval=block",
                    "/v1/network/series?pool=unknown&interval=week",
                    "/v1/network/difficulty-adjustments", "/v1/pools/unknown/hashrate",
                    "/v1/pools?window=all", "/v1/pools?window=24h"):
            body = client.get(url).json()
            assert body["data"] == [] and body["next_cursor"] is None, url
        assert client.get("/v1/pools/unknown").json()["blocks"]["all"] == 0
        stats = client.get("/v1/mining/reward-stats?blocks=5").json()
        assert (stats["blocks"], stats["from_height"], stats["tip_height"]) == (0, None, 0)


@pytest.mark.parametrize("path,interval", [
    (path, interval) for path in ("/v1/miners/series?entity=all",
                                  "/v1/miners/series?entity=foundryusa&level=0",
                                  "/v1/network/series?", "/v1/network/series?pool=antpool")
    for interval in ("day", "week", "month")] + [("/v1/pools/f2pool/hashrate?", "day")])
def test_only_the_period_holding_the_tips_day_is_partial(client: TestClient, path: str,
                                                         interval: str) -> None:
    sep = "" if path.endswith("?") else "&"
    rows = client.get(f"{path}{sep}interval={interval}&limit=10000").json()["data"]
    assert [r["partial"] for r in rows] == [False] * (len(rows) - 1) + [True]
    tip_day = client.get("/v1/miners/series?entity=all").json()["data"][-1]["day"]
    earlier = client.get(f"{path}{sep}interval=day&until=2026-03-12&limit=10000").json()["data"]
    assert tip_day == "2026-03-13" and earlier and not any(r["partial"] for r in earlier)
    blocks = client.get(f"{path}{sep}interval=block&limit=3").json()["data"]
    assert "hashrate" in path or all("partial" not in r or r["partial"] is None for r in blocks)
