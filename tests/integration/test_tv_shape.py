"""`shape=tv`: every series endpoint answers Glassnode's `[{t, v}]` for one field, `t` the
unix time of the period's start, `v` in sats, BTC or USD, equal to the rows' own numbers;
a field or unit the rows cannot give is a 422 naming the parameter."""

from __future__ import annotations

import calendar
import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from indexer.store.db import Store
from tests.conftest import cli


def midnight(day: str) -> int:
    return calendar.timegm(dt.date.fromisoformat(day).timetuple())


def rows(client: TestClient, url: str) -> list[dict[str, Any]]:
    answer = client.get(url)
    assert answer.status_code == 200, answer.text
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


@pytest.mark.parametrize("base,field,key", [
    ("/v1/miners/series?entity=all&level=1", "balance", "day"),
    ("/v1/miners/series?entity=foundryusa&level=0&interval=week", "outflow", "day"),
    ("/v1/miners/series?entity=all&interval=block&since=170", "to_exchange", "height"),
    ("/v1/network/series?interval=day", "hashrate", "day"),
    ("/v1/network/series?interval=month&pool=antpool", "share", "day"),
    ("/v1/pools/foundryusa/hashrate?limit=1000", "hashrate_7d", "day"),
])
def test_tv_is_the_rows_field_at_the_periods_start(client: TestClient, base: str, field: str,
                                                    key: str) -> None:
    want = rows(client, base)
    got = client.get(f"{base}&shape=tv&field={field}").json()
    assert len(got) == len(want) > 0
    for point, row in zip(got, want, strict=True):
        start = row["time"] if key == "height" else midnight(row[key])
        assert point == {"t": start, "v": row[field]}


def test_amounts_in_btc_and_sats(client: TestClient) -> None:
    base = "/v1/miners/series?entity=all&level=0"
    want = rows(client, base)
    sats = client.get(f"{base}&shape=tv&field=balance&unit=sats").json()
    btc = client.get(f"{base}&shape=tv&field=balance&unit=btc").json()
    assert [p["v"] for p in sats] == [r["balance"] for r in want]
    assert [p["v"] for p in btc] == [r["balance"] / 1e8 for r in want]
    network = client.get("/v1/network/series?shape=tv&field=subsidy&unit=btc").json()
    assert network[0]["v"] == rows(client, "/v1/network/series")[0]["subsidy"] / 1e8


def test_the_next_cursor_is_a_header(client: TestClient) -> None:
    answer = client.get("/v1/miners/series?entity=all&interval=block&limit=10&shape=tv"
                        "&field=balance")
    assert len(answer.json()) == 10 and answer.headers["x-next-cursor"] == "11"


@pytest.mark.parametrize("query,says", [
    ("shape=tv", "field: shape=tv needs the field"),
    ("shape=tv&field=nosuch", "field: 'nosuch' is not a number of these rows; one of "),
    ("shape=tv&field=to_exchange_by", "field: 'to_exchange_by' is not a number"),
    ("shape=tv&field=balance&unit=usd", "unit: usd needs daily prices"),
])
def test_what_tv_cannot_give_is_a_422(client: TestClient, query: str, says: str) -> None:
    answer = client.get(f"/v1/miners/series?entity=all&{query}")
    assert answer.status_code == 422 and answer.json()["detail"].startswith(says)
    hashrate = client.get("/v1/network/series?shape=tv&field=hashrate&unit=btc")
    assert hashrate.status_code == 422
    assert hashrate.json()["detail"] == "unit: hashrate is not an amount in sats; leave unit out"


def test_usd_with_prices(story_index: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    shutil.copytree(story_index, index)
    prices = tmp_path / "prices.csv"
    prices.write_text("date,close_usd\n2026-03-01,60000\n2026-03-02,61000\n")
    cli("prices", "import", "--index", index, prices)
    with Store(index) as store, TestClient(create_app(store)) as client:
        want = rows(client, "/v1/miners/series?entity=all&level=1")
        got = client.get("/v1/miners/series?entity=all&level=1&shape=tv&field=balance"
                         "&unit=usd").json()
    assert [p["v"] for p in got] == [r["balance_usd"] for r in want]
    assert got[0]["v"] == want[0]["balance"] / 1e8 * 60000 and got[-1]["v"] is None


def test_reward_stats_as_csv(client: TestClient) -> None:
    """format=csv was ignored on reward-stats: now one header and one row, the JSON's."""
    stats = client.get("/v1/mining/reward-stats?blocks=50").json()
    answer = client.get("/v1/mining/reward-stats?blocks=50&format=csv")
    assert answer.headers["content-type"].startswith("text/csv")
    header, row, *rest = answer.text.splitlines()
    assert rest == [] and header.split(",") == list(stats)
    assert row.split(",") == [str(v) for v in stats.values()]


@pytest.mark.parametrize("path", [
    "/v1/miners/series?interval=day", "/v1/miners/series?interval=week",
    "/v1/network/series?interval=day", "/v1/network/series?interval=month",
    "/v1/network/series?interval=week&pool=antpool", "/v1/pools/foundryusa/hashrate?limit=5",
])
def test_every_period_row_keys_its_first_day_day(client: TestClient, path: str) -> None:
    rows = client.get(path).json()["data"]
    assert rows and all("day" in r and "date" not in r for r in rows)
    header = client.get(f"{path}&format=csv").text.splitlines()[0].split(",")
    assert "day" in header and "date" not in header
