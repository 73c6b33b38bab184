"""The HTTP API over the indexed regtest story, through FastAPI's test client: every endpoint,
its 404 and 422 cases, cursor pagination, and agreement with the CLI exports."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import export_jsonl, load_json, with_supply_share


def get(client: TestClient, url: str, status: int = 200) -> Any:
    response = client.get(url)
    assert response.status_code == status, response.text
    return response.json()


def test_status(client: TestClient, expected: Any) -> None:
    body = get(client, "/v1/status")
    assert body["network"] == "regtest" and body["index_format"] == 4
    assert (body["tip_height"], body["tip_hash"]) == (expected["tip"]["height"],
                                                      expected["tip"]["hash"])
    assert body["tip_time"] == expected["blocks"][-1]["time"] and body["pools"] == 7


def test_pools_all_window_counts_every_block(client: TestClient, expected: Any) -> None:
    body = get(client, "/v1/pools?window=all")
    counts: dict[str, int] = {}
    for block in expected["blocks"][1:]:
        counts[block["pool"]] = counts.get(block["pool"], 0) + 1
    assert {row["slug"]: row["blocks"] for row in body["data"]} == counts
    assert body["total_blocks"] == 182 and body["from_height"] == 1
    assert abs(sum(row["share"] for row in body["data"]) - 1) < 1e-9
    blocks = [row["blocks"] for row in body["data"]]
    assert blocks == sorted(blocks, reverse=True)
    final = expected["final_balances"]
    for row in body["data"]:
        assert row["balance"] == final[row["slug"]]


def test_pools_window_ends_at_the_tip(client: TestClient, expected: Any) -> None:
    body = get(client, "/v1/pools?window=24h")
    tip_time = expected["blocks"][-1]["time"]
    in_window = [b for b in expected["blocks"][1:] if b["time"] > tip_time - 86_400]
    assert body["total_blocks"] == len(in_window)
    assert body["from_height"] == in_window[0]["height"]


def test_pool_detail(client: TestClient, expected: Any) -> None:
    body = get(client, "/v1/pools/foundryusa")
    assert body["name"] == "Foundry USA" and body["tags"] == ["Foundry USA Pool"]
    n = sum(1 for b in expected["blocks"] if b["pool"] == "foundryusa")
    assert body["blocks"]["all"] == n
    assert body["balance"] == expected["final_balances"]["foundryusa"]


def test_pool_blocks_paginate_newest_first(client: TestClient, expected: Any) -> None:
    want = [b["height"] for b in reversed(expected["blocks"]) if b["pool"] == "binancepool"]
    seen: list[int] = []
    url = "/v1/pools/binancepool/blocks?limit=4"
    while True:
        page = get(client, url)
        assert page["count"] == len(page["data"]) <= 4
        seen += [row["height"] for row in page["data"]]
        if page["next_cursor"] is None:
            break
        url = f"/v1/pools/binancepool/blocks?limit=4&cursor={page['next_cursor']}"
    assert seen == want and len(want) > 8
    row = get(client, "/v1/pools/binancepool/blocks?limit=1")["data"][0]
    assert {k: row[k] for k in expected["blocks"][0]} == expected["blocks"][want[0]]


@pytest.mark.parametrize("ref", [
    "136", "33fa2305544c763cfbfc3c346385f9288c45e53276df7064c1852e2a47c657f6"])
def test_block_by_height_or_hash(client: TestClient, expected: Any, ref: str) -> None:
    body = get(client, f"/v1/blocks/{ref}")
    assert {k: body[k] for k in expected["blocks"][136]} == expected["blocks"][136]
    assert "/AntPool/" in body["coinbase_text"]
    foundry = "bcrt1qj5tvmgfg3u92u0m7tdjycgqdw5v39qj0t7qcsh"
    assert foundry in [o["address"] for o in body["outputs"]]
    assert any(o["type"] == "op_return" for o in body["outputs"])  # merge-mining commitment
    assert sum(o["value"] for o in body["outputs"]) == body["coinbase_value"]


def test_taproot_payout_has_its_bech32m_address(client: TestClient, expected: Any) -> None:
    height = next(b["height"] for b in expected["blocks"] if b["pool"] == "braiinspool")
    outputs = get(client, f"/v1/blocks/{height}")["outputs"]
    assert {"type": "p2tr", "address":
            "bcrt1pa8esd8896n0lzma56ejr9l55942dff8g6q0c4kangmpwkqv0th4s6xexk4"}.items() <= \
        next(o for o in outputs if o["type"] == "p2tr").items()


@pytest.mark.parametrize("url,status,fragment", [
    ("/v1/pools/nosuchpool", 404, "unknown pool 'nosuchpool'"),
    ("/v1/pools/nosuchpool/blocks", 404, "unknown pool"),
    ("/v1/blocks/999", 404, "no block at height 999"),
    ("/v1/blocks/" + "00" * 32, 404, "no block"),
    ("/v1/blocks/xyz", 404, "neither a height nor a block hash"),
    ("/v1/pools?window=2w", 422, "window"),
    ("/v1/pools/antpool/blocks?limit=0", 422, "limit"),
    ("/v1/pools/antpool/blocks?cursor=-1", 422, "cursor"),
    ("/v1/pools/antpool/blocks?limit=abc", 422, "limit"),
    ("/v1/miners/series?entity=nobody", 404, "unknown entity 'nobody'"),
    ("/v1/miners/series?level=2", 422, "level"),
    ("/v1/miners/series?interval=year", 422, "interval"),
    ("/v1/miners/series?since=yesterday", 422,
     "since: Input should be a valid integer, unable to parse string as an integer or String "
     "should match pattern"),
    ("/v1/miners/series?until=2026-13-01", 422, "until: expected a date"),
    ("/v1/miners/series?format=xml", 422, "format"),
    ("/v1/exchanges/flows?window=forever", 422, "window"),
    ("/v1/exchanges/flows?level=-1", 422, "level"),
])
def test_errors(client: TestClient, url: str, status: int, fragment: str) -> None:
    body = get(client, url, status)
    assert fragment in body["detail"]


@pytest.mark.parametrize("entity,level,interval", [
    ("all", 1, "day"), ("foundryusa", 0, "day"), ("viabtc", 1, "block"), ("unknown", 0, "block"),
])
def test_series_json_and_csv_agree_with_the_cli(client: TestClient, story_index: Path,
                                                entity: str, level: int, interval: str) -> None:
    query = f"entity={entity}&level={level}&interval={interval}"
    body = get(client, f"/v1/miners/series?{query}")
    cli_rows = export_jsonl("series", "--index", story_index, "--entity", entity, "--level",
                            str(level), "--interval", interval)
    assert body["data"] == cli_rows and body["count"] == len(cli_rows)
    assert (body["entity"], body["level"], body["interval"]) == (entity, level, interval)
    response = client.get(f"/v1/miners/series?{query}&format=csv")
    assert response.headers["content-type"].startswith("text/csv")
    cli_csv = export_csv(story_index, entity, level, interval)
    assert response.text == cli_csv
    parsed = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(r["balance"]) for r in parsed] == [r["balance"] for r in cli_rows]


def export_csv(index: Path, entity: str, level: int, interval: str) -> str:
    from tests.conftest import cli

    return str(cli("export", "series", "--index", index, "--entity", entity, "--level",
                   str(level), "--interval", interval, "--format", "csv").stdout)


def test_series_ranges(client: TestClient, expected: Any) -> None:
    daily = with_supply_share(expected["daily"]["all"]["level1"], expected["blocks"], "all")
    body = get(client, f"/v1/miners/series?since={daily[3]['day']}&until={daily[5]['day']}")
    assert body["data"] == daily[3:6]
    blocks = get(client, "/v1/miners/series?interval=block&since=100&until=109")["data"]
    assert [r["height"] for r in blocks] == list(range(100, 110))
    by_height = get(client, "/v1/miners/series?interval=day&since=150")["data"]
    day_150 = next(d for d in daily if d["day"] >= _day(expected["blocks"][150]["time"]))
    assert by_height[0] == day_150 and by_height[-1] == daily[-1]


def _day(ts: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.UTC).date().isoformat()


def test_balances(client: TestClient, expected: Any) -> None:
    body = get(client, "/v1/miners/balances")
    got = {row["entity"]: {"level0": row["level0"], "level1": row["level1"]}
           for row in body["data"]}
    assert got == expected["final_balances"]
    assert body["data"][0]["entity"] == "all"
    level1 = [row["level1"] for row in body["data"][1:]]
    assert level1 == sorted(level1, reverse=True)


def test_exchange_flows_sum_the_daily_series(client: TestClient, expected: Any) -> None:
    body = get(client, "/v1/exchanges/flows?window=all&level=1")
    got: dict[tuple[str, str], int] = {(r["entity"], r["exchange"]): r["value"]
                                       for r in body["data"]}
    want: dict[tuple[str, str], int] = {}
    for slug, levels in expected["daily"].items():
        if slug == "all":
            continue
        for row in levels["level1"]:
            for name, value in row["to_exchange_by"].items():
                want[(slug, name)] = want.get((slug, name), 0) + value
    assert got == want and len(want) >= 4


def test_openapi_lists_the_endpoints(client: TestClient) -> None:
    paths = get(client, "/openapi.json")["paths"]
    for path in ("/v1/status", "/v1/pools", "/v1/pools/{slug}", "/v1/pools/{slug}/blocks",
                 "/v1/blocks/{ref}", "/v1/miners/series", "/v1/miners/balances",
                 "/v1/exchanges/flows"):
        assert path in paths
    assert client.get("/docs").status_code == 200


def test_every_answer_is_typed_and_every_field_described(client: TestClient) -> None:
    """The OpenAPI types every row (no free-form object) and says what each field holds."""
    spec = get(client, "/openapi.json")
    loose: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if node.get("additionalProperties") is True or (
                    node.get("type") == "object" and "properties" not in node
                    and "additionalProperties" not in node):
                loose.append(where)
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for k, value in enumerate(node):
                walk(value, f"{where}[{k}]")

    walk(spec, "")
    assert loose == []
    undescribed = [f"{name}.{field}" for name, schema in spec["components"]["schemas"].items()
                   for field, prop in schema.get("properties", {}).items()
                   if "description" not in prop and not name.startswith(("HTTPValidation",
                                                                         "ValidationError"))]
    assert undescribed == []


def test_no_500_on_odd_input(client: TestClient) -> None:
    for url in ("/v1/blocks/%00", "/v1/blocks/-1", "/v1/pools/%F0%9F%90%9F",
                "/v1/miners/series?since=99999999", "/v1/miners/series?until=0",
                "/v1/pools/antpool/blocks?cursor=0"):
        assert client.get(url).status_code < 500, url


def test_export_file_matches_expected_json(tmp_path: Path, story_index: Path) -> None:
    from tests.conftest import cli

    out = tmp_path / "blocks.csv"
    cli("export", "blocks", "--index", story_index, "--format", "csv", "--output", out)
    rows = list(csv.DictReader(out.open()))
    expected = load_json(Path(__file__).parent.parent / "data" / "regtest-story" /
                         "expected.json")
    assert len(rows) == 183
    for row, want in zip(rows, expected["blocks"], strict=True):
        assert row["hash"] == want["hash"] and row["pool"] == want["pool"]
        assert row["conflict"] == str(want["conflict"]).lower()
        assert row["tag_pool"] == (want["tag_pool"] or "")


def test_dashboard_is_served_at_the_root_with_its_charting_library(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/static/dashboard.js", "/static/vendor/uplot/uPlot.iife.min.js",
                  "/static/vendor/uplot/uPlot.min.css", "/docs"):
        assert asset in page.text
        if asset.startswith("/static"):
            assert client.get(asset).status_code == 200
    script = client.get("/static/dashboard.js").text
    for endpoint in ("/v1/miners/series", "/v1/network/series", "/v1/pools", "/hashrate"):
        assert endpoint in script
    license_text = client.get("/static/vendor/uplot/LICENSE").text
    assert "MIT License" in license_text and "Leon Sorokin" in license_text
    assert client.get("/pools/no-such-pool").status_code == 404
    assert client.get("/blocks/99999999999").status_code == 404


def test_csv_cells_are_flat_maps_become_columns(client: TestClient, story_index: Path) -> None:
    """Every exchange of the label set is a column of the miner series' CSV (0 where nothing
    went to it), the same in every row and page, and they add up to to_exchange; other maps
    (a pool's balances) become their keys' columns; no cell holds JSON."""
    exchanges = ["Exchange One", "Exchange Two"]  # the sample's labels
    for query in ("entity=all&level=1", "entity=foundryusa&level=0&interval=block&limit=50"):
        text = client.get(f"/v1/miners/series?{query}&format=csv").text
        rows = list(csv.DictReader(io.StringIO(text)))
        header = text.splitlines()[0].split(",")
        assert [h for h in header if h.startswith("to_exchange_by.")] == [
            *(f"to_exchange_by.{name}" for name in exchanges), "to_exchange_by.other"]
        assert all(not cell.startswith(("{", "[")) for r in rows for cell in r.values())
        assert all(sum(int(r[f"to_exchange_by.{n}"]) for n in exchanges) == int(r["to_exchange"])
                   for r in rows)
    assert any(int(r["to_exchange_by.Exchange Two"]) for r in csv.DictReader(io.StringIO(
        client.get("/v1/miners/series?entity=all&format=csv").text)))
    exported = export_csv(story_index, "all", 1, "day")
    assert exported == client.get("/v1/miners/series?entity=all&level=1&format=csv").text
    pools = client.get("/v1/pools?window=all&format=csv").text.splitlines()[0].split(",")
    assert {"balance.level0", "balance.level1"} <= set(pools)
