"""The read side at mainnet's length: a generated chain of 300,000 coinbase-only blocks
(about 2,300 days, with empty days and a retarget every 2016 blocks) indexed for real, then the
pool windows, the network series and the difficulty adjustments checked against the chain's own
record of what it holds. Answer times (p50 over 20 calls) are printed, not asserted.

`MINERFLOW_SCALE_BLOCKS=930000` runs it at mainnet's height (about 6,500 days; 4 minutes)."""

from __future__ import annotations

import datetime as dt
import os
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from indexer.store.db import Store
from scripts.benchkit.chainmaker import ChainStats, make_thin_chain
from tests.conftest import cli

BLOCKS = int(os.environ.get("MINERFLOW_SCALE_BLOCKS", "300000"))
DAY = 86_400
POW_LIMIT_BITS = 0x207FFFFF

pytestmark = pytest.mark.slow


def target(bits: int) -> int:
    return (bits & 0x7FFFFF) << (8 * ((bits >> 24) - 3))


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ChainStats]:
    out = tmp_path_factory.mktemp("thin")
    stats = make_thin_chain(out, BLOCKS)
    cli("reindex", "--datadir", out, "--network", "regtest", "--index", out / "index",
        "--pools", out / "pools.json", "--labels", out / "exchanges.csv")
    return out, stats


@pytest.fixture(scope="module")
def client(chain: tuple[Path, ChainStats]) -> Iterator[TestClient]:
    store = Store(chain[0] / "index")
    with TestClient(create_app(store)) as test_client:
        yield test_client
    store.close()


def p50_ms(client: TestClient, url: str) -> float:
    times = []
    for _ in range(20):
        started = time.perf_counter()
        assert client.get(url).status_code == 200
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def slugs(client: TestClient) -> dict[int, str]:
    return {row["id"]: row["slug"] for row in client.get("/v1/pools?window=all").json()["data"]}


def test_pool_windows_count_the_chains_blocks(chain: tuple[Path, ChainStats],
                                              client: TestClient) -> None:
    made = chain[1].made
    assert len(made) == BLOCKS
    tip_time = made[-1][0]
    for window, seconds in (("all", None), ("1y", 365 * DAY), ("1w", 7 * DAY),
                            ("24h", DAY)):
        inside = [m for m in made if seconds is None or m[0] > tip_time - seconds]
        body = client.get(f"/v1/pools?window={window}").json()
        assert body["total_blocks"] == len(inside)
        assert body["from_height"] == BLOCKS - len(inside) + 1
        assert {row["id"]: row["blocks"] for row in body["data"]} == dict(
            Counter(pool for _t, pool, _b in inside))


def test_days_gaps_and_retargets(chain: tuple[Path, ChainStats], client: TestClient) -> None:
    made = chain[1].made
    per_day = Counter(t // DAY for t, _p, _b in made)
    first, last = min(per_day), max(per_day)
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        body = client.get("/v1/network/series?limit=1000"
                          + (f"&cursor={cursor}" if cursor else "")).json()
        rows += body["data"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(rows) == last - first + 1
    empty = [r for r in rows if r["blocks"] == 0]
    assert len(empty) >= 2 * (BLOCKS // 5000)  # a jump of 3 days leaves 2 or 3 of them empty
    bits_by_day = {t // DAY: b for t, _p, b in made}  # of the day's last block
    bits = None
    for row in rows:
        day = (dt.date.fromisoformat(row["day"]) - dt.date(1970, 1, 1)).days
        assert row["blocks"] == per_day.get(day, 0)
        bits = bits_by_day.get(day, bits)  # days without blocks carry the difficulty over
        assert bits is not None
        assert row["difficulty"] == target(POW_LIMIT_BITS) / target(bits)
    adjustments = client.get("/v1/network/difficulty-adjustments?limit=10000").json()["data"]
    assert [a["height"] for a in adjustments] == list(range(2016, BLOCKS + 1, 2016))
    for a in adjustments:
        new = made[a["height"] - 1][2]  # made[i] is height i + 1
        old = made[a["height"] - 2017][2] if a["height"] > 2016 else POW_LIMIT_BITS
        assert a["change"] == (target(POW_LIMIT_BITS) / target(new)) / (
            target(POW_LIMIT_BITS) / target(old))


def test_answer_times_at_300k_blocks(client: TestClient, capsys: pytest.CaptureFixture[str]
                                     ) -> None:
    top = slugs(client)[1]
    urls = ["/v1/pools?window=all", f"/v1/pools/{top}", "/v1/pools?window=1y",
            "/v1/pools?window=1w", f"/v1/pools/{top}/hashrate?limit=1000",
            "/v1/network/series?limit=1000", "/v1/network/difficulty-adjustments",
            "/v1/mining/reward-stats?blocks=100000", "/v1/status"]
    figures = {url: p50_ms(client, url) for url in urls}
    with capsys.disabled():
        print(f"\nread side at {BLOCKS:,} blocks, p50 of 20 calls (ms):")
        for url, ms in figures.items():
            print(f"  {ms:8.1f}  {url}")


def test_pools_update_at_scale(chain: tuple[Path, ChainStats], client: TestClient,
                               capsys: pytest.CaptureFixture[str]) -> None:
    """On a copy of the index (the served one stays open), a list without the second pool."""
    import json
    import shutil

    out = chain[0]
    shutil.copytree(out / "index", out / "updated")
    pools = json.loads((out / "pools.json").read_text())
    edited = out / "edited.json"
    edited.write_text(json.dumps([p for p in pools if p["id"] != 2]))  # the second pool leaves
    moved_from = client.get("/v1/pools/antpool").json()["blocks"]["all"]
    started = time.perf_counter()
    result = cli("pools", "update", "--index", out / "updated", "--pools", edited)
    took = time.perf_counter() - started
    assert f"{BLOCKS + 1} blocks matched, {moved_from} re-attributed" in result.stdout
    with capsys.disabled():
        print(f"\npools update at {BLOCKS:,} blocks: {took:.1f} s ({moved_from:,} moved), "
              f"{took / (BLOCKS + 1) * 1e6:.1f} s per million blocks")
