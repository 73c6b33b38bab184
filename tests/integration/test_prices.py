"""Prices: a bad file is refused with its line number and nothing written; with prices, the
series carry USD fields and the derived series the Puell multiple, the Miners' Position Index
and revenue in USD, equal to values this test computes from expected.json, the node's RPC
answers and the prices; without prices, the API says `prices: none` and invents nothing."""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from indexer.store.db import Store
from tests.conftest import cli, export_jsonl
from tests.integration.test_network import STORY_BLOCKS

DAYS = [f"2026-03-{d:02d}" for d in range(1, 14)]
CLOSES = [60000 + 1250 * i + (i % 3) * 333.5 for i in range(13)]  # 2026-03-01 .. 03-13


def prices_file(path: Path, rows: list[str]) -> Path:
    path.write_text("date,close_usd\n" + "".join(f"{r}\n" for r in rows))
    return path


@pytest.fixture()
def priced(story_index: Path, tmp_path: Path) -> Path:
    index = tmp_path / "index"
    shutil.copytree(story_index, index)
    good = prices_file(tmp_path / "prices.csv", [f"{d},{c}" for d, c in zip(DAYS, CLOSES,
                                                                           strict=True)])
    result = cli("prices", "import", "--index", index, good)
    assert "13 prices imported" in result.stdout and "2026-03-01 to 2026-03-13" in result.stdout
    return index


@pytest.mark.parametrize("rows,line,what", [
    (["2026-03-01,60000", "2026-13-01,1"], 3, "not a date"),
    (["2026-03-01,60000", "2026-03-02,-5"], 3, "not a positive decimal"),
    (["2026-03-01,1e5"], 2, "not a positive decimal"),
    (["2026-03-01,60000", "2026-03-01,61000"], 3, "given twice"),
    (["2026-03-01,60000,extra"], 2, "expected 2 fields"),
    (["2026-03-01,60000", "1969-12-31,1"], 3, "before 1970-01-01"),
    (["20260302,60000"], 2, "not a date YYYY-MM-DD"),
    (["2026-W09-1,60000"], 2, "not a date YYYY-MM-DD"),
])
def test_a_bad_prices_file_names_its_line_and_writes_nothing(story_index: Path, tmp_path: Path,
                                                             rows: list[str], line: int,
                                                             what: str) -> None:
    index = tmp_path / "index"
    shutil.copytree(story_index, index)
    bad = prices_file(tmp_path / "bad.csv", rows)
    result = cli("prices", "import", "--index", index, bad, ok=False)
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {bad} line {line}: ") and what in result.output
    assert len(result.output.strip().splitlines()) == 1
    status = cli("status", "--index", index, "--json").stdout
    assert '"prices": "none"' in status


def test_without_prices_nothing_in_usd(client: TestClient) -> None:
    assert client.get("/v1/status").json()["prices"] == "none"
    body = client.get("/v1/miners/series?entity=all&derived=true").json()
    assert body["prices"] == "none"
    assert not any(k.endswith("_usd") or k in ("puell_multiple", "mpi")
                   for row in body["data"] for k in row)


def test_usd_fields_and_price_indicators(priced: Path, expected: Any) -> None:
    price = dict(zip(DAYS, CLOSES, strict=True))
    daily = export_jsonl("series", "--index", priced, "--entity", "all", "--level", "1",
                         "--derived")
    want_rows = expected["daily"]["all"]["level1"]
    issuance: dict[str, int] = {}
    for block in STORY_BLOCKS.counted():
        issuance[block["day"]] = issuance.get(block["day"], 0) + block["subsidy"]
    issuance_usd: list[float] = []
    outflow_usd: list[float] = []
    for row, want in zip(daily, want_rows, strict=True):
        close = price[want["day"]]
        for field in ("balance", "mined", "inflow", "outflow", "fees", "to_exchange"):
            assert row[f"{field}_usd"] == want[field] * close / 1e8
        issuance_usd.append(issuance[want["day"]] * close / 1e8)
        outflow_usd.append(want["outflow"] * close / 1e8)
        assert row["puell_multiple"] == issuance_usd[-1] / statistics.fmean(issuance_usd)
        if len(outflow_usd) > 1 and statistics.pstdev(outflow_usd):
            z = (outflow_usd[-1] - statistics.fmean(outflow_usd)) / statistics.pstdev(outflow_usd)
            assert row["mpi"] == pytest.approx(z, rel=1e-12)
        else:
            assert row["mpi"] is None
        revenue = issuance[want["day"]]  # the story's miners claimed no fees
        assert row["revenue_usd"] == revenue * close / 1e8
    assert any(r["mpi"] for r in daily)
    with Store(priced) as store, TestClient(create_app(store)) as client:
        status = client.get("/v1/status").json()
        assert status["prices"] == {"first": "2026-03-01", "last": "2026-03-13", "days": 13}
        body = client.get("/v1/miners/series?entity=foundryusa&interval=block&limit=3").json()
        assert body["prices"] == "imported"
        first = body["data"][0]
        assert first["balance_usd"] == first["balance"] * price["2026-03-01"] / 1e8
        weekly = client.get("/v1/miners/series?entity=all&interval=week").json()["data"]
        days = {r["day"]: r for r in daily}
        week = [d for d in DAYS if "2026-03-02" <= d <= "2026-03-08"]
        got = next(r for r in weekly if r["day"] == "2026-03-02")
        assert got["outflow_usd"] == pytest.approx(sum(days[d]["outflow_usd"] for d in week))
        assert got["balance_usd"] == days["2026-03-08"]["balance_usd"]


def test_a_prices_file_with_a_byte_order_mark_reads_as_the_labels_do(story_index: Path,
                                                                     tmp_path: Path) -> None:
    index = tmp_path / "index"
    shutil.copytree(story_index, index)
    bom = tmp_path / "excel.csv"
    bom.write_bytes(b"\xef\xbb\xbfdate,close_usd\r\n2026-03-01,60000\r\n")
    result = cli("prices", "import", "--index", index, bom)
    assert "1 prices imported" in result.stdout
