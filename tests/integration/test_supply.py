"""Supply and the miners' share of it (SPEC 5.2): the network series' `supply`, the miner
series' `balance_share_of_supply` (daily, per block, weekly) and the shares in
`/v1/miners/balances` and on the dashboard, each equal to the independent computation in
`expected-exchanges.json` (made from the node's answers); the supply at the tip equal to the
schedule's sum, computed here from SPEC 5.2's text, on every fixture chain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from indexer.config import get_network
from tests.conftest import (
    DATA,
    LABELS,
    POOLS,
    STORY,
    export_jsonl,
    load_json,
    reindex_regtest,
    schedule_supply,
)


@pytest.fixture(scope="module")
def want() -> Any:
    return load_json(STORY / "expected-exchanges.json")


def test_the_supply_is_the_schedules_sum_at_any_height() -> None:
    for name in ("main", "regtest"):
        network = get_network(name)
        for height in (0, 1, 149, 150, 151, 299, 300, 1000, 9599, 9600, 9601):
            assert network.supply(height) == schedule_supply(height, network.halving_interval)
    main = get_network("main")
    assert main.supply(209_999) == 210_000 * 50 * 10**8
    assert main.supply(10**9) == 2_099_999_997_690_000  # every satoshi the schedule issues


def test_network_daily_supply_is_the_expected(story_index: Path, want: Any) -> None:
    rows = export_jsonl("network", "--index", story_index)
    assert [(r["day"], r["supply"]) for r in rows] == [
        (w["day"], w["supply"]) for w in want["network_daily"]]
    blocks = export_jsonl("network", "--index", story_index, "--interval", "block")
    assert blocks[-1]["height"] == want["tip"]["height"]
    assert blocks[-1]["supply"] == want["supply_tip"] == schedule_supply(want["tip"]["height"], 150)


@pytest.mark.parametrize("chain", ["regtest-story-xor", "regtest-story-torn"])
def test_the_supply_at_the_tip_is_the_schedules_sum_on_every_fixture(
        chain: str, tmp_path: Path) -> None:
    reindex_regtest(DATA / chain, tmp_path / "index", "--pools", POOLS, "--labels", LABELS)
    blocks = export_jsonl("network", "--index", tmp_path / "index", "--interval", "block")
    tip = blocks[-1]["height"]
    assert tip >= 179 and blocks[-1]["supply"] == schedule_supply(tip, 150)
    assert all(b["supply"] == schedule_supply(b["height"], 150) for b in blocks[::17])


@pytest.mark.parametrize("interval,key", [("day", "miner_daily"), ("block", "miner_blocks")])
def test_miner_series_share_of_supply_is_the_expected(story_index: Path, want: Any,
                                                      interval: str, key: str) -> None:
    for slug, levels in want[key].items():
        for level_name, expected_rows in levels.items():
            rows = export_jsonl("series", "--index", story_index, "--entity", slug, "--level",
                                level_name[-1], "--interval", interval)
            at = "day" if interval == "day" else "height"
            assert [(r[at], r["balance"], r["balance_share_of_supply"]) for r in rows] == [
                (w[at], w["balance"], w["balance_share_of_supply"]) for w in expected_rows]


def test_a_week_carries_its_last_days_share(story_index: Path, want: Any) -> None:
    days = {w["day"]: w for w in want["miner_daily"]["foundryusa"]["level1"]}
    weeks = export_jsonl("series", "--index", story_index, "--entity", "foundryusa",
                         "--interval", "week")
    assert len(weeks) >= 2
    for week, following in zip(weeks, weeks[1:] + [None], strict=True):
        last = max(d for d in days if d < (following["day"] if following else "9999"))
        assert week["balance_share_of_supply"] == days[last]["balance_share_of_supply"]


def test_balances_give_each_entitys_share_at_the_tip(client: TestClient, want: Any) -> None:
    answer = client.get("/v1/miners/balances").json()
    assert answer["supply"] == want["supply_tip"]
    shares = {r["entity"]: (r["level0_share_of_supply"], r["level1_share_of_supply"])
              for r in answer["data"]}
    for slug, levels in want["balance_share_of_supply_tip"].items():
        assert shares[slug] == (levels["level0"], levels["level1"]), slug
    csv_text = client.get("/v1/miners/balances?format=csv").text
    assert "level1_share_of_supply" in csv_text.splitlines()[0]


def test_the_pools_page_and_a_pools_page_show_the_share(client: TestClient, want: Any) -> None:
    tip = want["balance_share_of_supply_tip"]
    overview = client.get("/?window=all").text
    issued = f"{want['supply_tip'] / 1e8:,.8f}"
    assert f"All miners hold {100 * tip['all']['level1']:.2f}% of the {issued} BTC" in overview
    page = client.get("/pools/antpool").text
    assert f'<span id="pool-supply-share">{100 * tip["antpool"]["level1"]:.2f}%</span>' in page


def test_the_supply_in_glassnodes_shape(client: TestClient, want: Any) -> None:
    points = client.get("/v1/network/series?shape=tv&field=supply&unit=btc").json()
    assert [p["v"] for p in points] == [w["supply"] / 1e8 for w in want["network_daily"]]
    shares = client.get("/v1/miners/series?entity=all&level=0&shape=tv"
                        "&field=balance_share_of_supply").json()
    assert shares[-1]["v"] == want["balance_share_of_supply_tip"]["all"]["level0"]
