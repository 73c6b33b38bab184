"""The dashboard in a real browser (Debian's Chromium driven by Playwright) over a served port.

Every chart is waited for and its numbers checked against the API; level and window are
switched, blocks and pools clicked through, screenshots taken; any console error, failed request
or HTTP error fails the test. Tables also render with JavaScript off, and text from a pools file
written by a stranger is shown as text, never run as markup.

`MINERFLOW_SCREENSHOTS=DIR` keeps the screenshots there (the README's comes from this test).
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright

from api.main import create_app
from indexer.store.db import Store
from tests.conftest import LABELS, POOLS, SAMPLE, cli
from tests.net import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PAYLOAD = '<img src=x onerror="window.__xss = (window.__xss || 0) + 1">Evil & Co'
# the story chain spans 13 days: the 30-day net position change has no value yet, and says so
YOUNG = ("chart-netpos",)
OVERVIEW_CHARTS = ("chart-balance", "chart-supply-share", "chart-exchange-pool",
                   "chart-exchange-by", "chart-netpos", "chart-exchange-balance",
                   "chart-exchange-netflow", "chart-pool-hashrate", "chart-network")


def serve(index: Path) -> Iterator[str]:
    store = Store(index)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(store), host="127.0.0.1", port=port,
                                          log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive(), "the server did not start"
            threading.Event().wait(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        store.close()


@pytest.fixture(scope="module")
def served(story_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    copy = tmp_path_factory.mktemp("dashboard") / "index"
    shutil.copytree(story_index, copy)
    yield from serve(copy)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Chromium is needed (.ci/run installs Debian's chromium)"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM,
                                              args=["--no-sandbox", "--headless=new"])
        yield chromium
        chromium.close()


class Watched:
    """A page whose console errors, failed requests and HTTP errors are collected."""

    def __init__(self, browser: Browser, javascript: bool = True) -> None:
        self.context = browser.new_context(viewport={"width": 1200, "height": 900},
                                           java_script_enabled=javascript)
        self.page: Page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(
            f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(
            f"failed ({r.resource_type}, {r.failure}): {r.url}"))
        self.page.on("response", lambda r: r.status >= 400 and self.problems.append(
            f"HTTP {r.status}: {r.url}"))

    def charts_ready(self, ids: tuple[str, ...], empty: tuple[str, ...] = ()) -> None:
        """Every chart drawn; those in `empty` shown empty with their explanation instead."""
        for chart in ids:
            self.page.wait_for_selector(f"#{chart}[data-ready]", state="attached",
                                        timeout=20_000)
            ready = self.page.get_attribute(f"#{chart}", "data-ready")
            if chart in empty:
                assert ready == "empty", chart
                assert self.page.locator(f"#{chart} canvas").count() == 0, chart
                assert self.page.text_content(f"#{chart} p.empty"), chart
                continue
            assert ready == "1", chart
            assert self.page.locator(f"#{chart} canvas").count() == 1, chart

    def chart(self, chart: str) -> Any:
        return self.page.evaluate(f"window.minerflow.charts[{json.dumps(chart)}]")

    def close(self) -> None:
        self.context.close()


def shots_dir(tmp_path: Path) -> Path:
    return Path(os.environ.get("MINERFLOW_SCREENSHOTS", tmp_path))


def api(base: str, path: str) -> Any:
    response = httpx.get(base + path)
    assert response.status_code == 200, path
    return response.json()


def test_every_chart_shows_the_apis_numbers(served: str, browser: Browser,
                                            tmp_path: Path) -> None:
    shots = shots_dir(tmp_path)
    watched = Watched(browser)
    page = watched.page
    try:
        page.goto(served + "/")
        watched.charts_ready(OVERVIEW_CHARTS, YOUNG)
        status = api(served, "/v1/status")
        assert page.text_content("#tip-height") == str(status["tip_height"])
        # the window (1w by default) applies to every chart: days from the tip's time - 7 d
        tip_time = api(served, f"/v1/blocks/{status['tip_height']}")["time"]
        since = dt.datetime.fromtimestamp(tip_time - 7 * 86400, dt.UTC).date().isoformat()
        page.screenshot(path=str(shots / "dashboard.png"))  # the README's: the first screen

        # the pools table is the window's blocks per pool
        pools = api(served, "/v1/pools?window=1w")["data"]
        rows = page.locator("#pools tbody tr")
        assert rows.count() == len(pools)
        for i, pool in enumerate(pools):
            assert rows.nth(i).get_attribute("data-slug") == pool["slug"]
            assert rows.nth(i).locator("td.blocks").text_content() == str(pool["blocks"])

        # balance, stacked by pool: the layers add up to all miners' balance, each its pool's
        balances = {b["entity"]: b for b in api(served, "/v1/miners/balances")["data"]}
        names = {b["name"]: b["entity"] for b in balances.values()}

        def check_balance(level: int) -> None:
            chart = watched.chart("chart-balance")
            last = {name: values[-1] for name, values in chart["series"].items()}
            assert sum(last.values()) == pytest.approx(balances["all"][f"level{level}"] / 1e8)
            for name, value in last.items():
                if name != "other":
                    assert value == balances[names[name]][f"level{level}"] / 1e8

        check_balance(1)
        served_days = api(served, "/v1/miners/series?entity=all&level=1&limit=10000"
                              f"&since={since}")["data"]
        assert served_days[0]["day"] == since and len(served_days) == 8
        # the tip's day is partial: flow and hash rate charts leave it out, not draw a drop
        assert served_days[-1]["partial"] and not any(r["partial"] for r in served_days[:-1])
        daily = served_days[:-1]
        assert watched.chart("chart-exchange-by")["x"] == [
            calendar.timegm(dt.date.fromisoformat(r["day"]).timetuple()) for r in daily]
        by_exchange = watched.chart("chart-exchange-by")["series"]
        assert len(by_exchange) >= 2
        for exchange, values in by_exchange.items():
            assert sum(values) == pytest.approx(
                sum(r["to_exchange_by"].get(exchange, 0) for r in daily) / 1e8)
        by_pool = watched.chart("chart-exchange-pool")["series"]
        assert sum(sum(v) for v in by_pool.values()) == pytest.approx(
            sum(r["to_exchange"] for r in daily) / 1e8)
        network = api(served, f"/v1/network/series?limit=10000&since={since}")["data"]
        assert network[-1]["partial"] and not any(r["partial"] for r in network[:-1])
        network = network[:-1]
        shown = watched.chart("chart-network")
        assert shown["series"]["hash rate"] == [r["hashrate"] for r in network]
        assert shown["series"]["difficulty"] == [r["difficulty"] for r in network]
        all_rows = api(served, f"/v1/miners/series?entity=all&level=1&since={since}")["data"]
        assert watched.chart("chart-supply-share")["series"]["all miners"] == [
            100 * r["balance_share_of_supply"] for r in all_rows]
        # exchanges (SPEC 5.1): balance stacked by exchange adds up to `all`'s, each layer its
        # exchange's; daily netflow bars are `all`'s and the largest exchanges', complete days
        listed = {x["name"]: x for x in api(served, "/v1/exchanges")["data"]}
        stacked = watched.chart("chart-exchange-balance")
        assert stacked["x"][0] == calendar.timegm(dt.date.fromisoformat(since).timetuple())
        last = {name: values[-1] for name, values in stacked["series"].items()}
        assert len(last) >= 2 and sum(last.values()) == pytest.approx(
            listed["All exchanges"]["balance"] / 1e8)
        for name, value in last.items():
            assert value == listed[name]["balance"] / 1e8
        netflow = watched.chart("chart-exchange-netflow")["series"]
        whole_days = api(served, f"/v1/exchanges/all/series?since={since}")["data"]
        assert whole_days[-1]["partial"]
        assert netflow["all exchanges"] == [r["netflow"] / 1e8 for r in whole_days[:-1]]
        for name in set(netflow) - {"all exchanges"}:
            rows = api(served, f"/v1/exchanges/{listed[name]['slug']}/series?since={since}")
            assert netflow[name] == [r["netflow"] / 1e8 for r in rows["data"][:-1]]
        derived = api(served, "/v1/miners/series?entity=all&level=1&derived=true"
                      f"&since={since}")["data"]
        assert watched.chart("chart-netpos")["series"]["net position change, 30 d"] == [
            r["net_position_change_30d"] for r in derived]
        assert page.text_content("#chart-netpos p.empty") == (
            f"The 30-day change needs 30 days of history; the chain has {len(derived)} days.")
        # one colour per pool on every chart: its rank in blocks over the whole chain
        ranked = [p["name"] for p in api(served, "/v1/pools?window=all")["data"]]
        seen: dict[str, set[str]] = {}
        for chart in ("chart-balance", "chart-exchange-pool", "chart-pool-hashrate"):
            for name, colour in watched.chart(chart)["colours"].items():
                if name != "other":
                    seen.setdefault(name, set()).add(colour)
        assert seen and all(len(colours) == 1 for colours in seen.values()), seen
        palette = sorted({next(iter(c)) for n, c in seen.items() if ranked.index(n) < 12})
        assert len(palette) == len([n for n in seen if ranked.index(n) < 12])  # all distinct
        top = pools[0]
        hashrate = api(served, f"/v1/pools/{top['slug']}/hashrate")["data"]
        shown_rates = watched.chart("chart-pool-hashrate")["series"][top["name"]]
        assert hashrate[-1]["partial"] and shown_rates[-1] == hashrate[-2]["hashrate_7d"]

        # switch the level: the balance layers are level 0's
        page.select_option("#level", "0")
        page.wait_for_url("**level=0**")
        watched.charts_ready(OVERVIEW_CHARTS, YOUNG)
        check_balance(0)
        # switch the window: the table is the whole chain's
        page.select_option("#window", "all")
        page.wait_for_url("**window=all**")
        watched.charts_ready(OVERVIEW_CHARTS, YOUNG)
        everything = api(served, "/v1/pools?window=all")["data"]
        assert page.locator("#pools tbody tr").count() == len(everything)
        assert page.locator("#pools td.blocks").all_text_contents() == [
            str(p["blocks"]) for p in everything]
        # and every chart the whole chain's: from the day of block 1
        whole = api(served, "/v1/network/series?limit=10000")["data"]
        assert len(whole) > 8 and watched.chart("chart-network")["series"]["hash rate"] == [
            r["hashrate"] for r in whole if not r["partial"]]
        level0 = api(served, "/v1/miners/series?entity=all&level=0&limit=10000")["data"]
        assert watched.chart("chart-supply-share")["series"]["all miners"] == [
            100 * r["balance_share_of_supply"] for r in level0]
        page.screenshot(path=str(shots / "dashboard-all-level0.png"), full_page=True)

        # click through: the newest block, then its pool
        page.click("#blocks tbody tr:first-child td:first-child a")
        page.wait_for_selector("#block")
        tip = api(served, f"/v1/blocks/{status['tip_height']}")
        assert page.locator("#block code").first.text_content() == tip["hash"]
        assert page.locator("#block-nav #next").count() == 0  # the tip has no next block
        page.click("#block-nav #previous")
        page.wait_for_url(f"**/blocks/{status['tip_height'] - 1}")
        assert page.locator("#block code").first.text_content() == api(
            served, f"/v1/blocks/{status['tip_height'] - 1}")["hash"]
        page.click("#block-nav #next")
        page.wait_for_url(f"**/blocks/{status['tip_height']}")
        text = page.text_content("#block td.text") or ""
        assert text and "\ufffd" not in text and all(ch.isprintable() for ch in text)
        page.click("#block a[href^='/pools/']")
        page.wait_for_selector("#pool-name")
        assert page.text_content("#pool-name") == tip["pool_name"]
        watched.charts_ready(("chart-pool",))
        daily_rate = watched.chart("chart-pool")["series"]["daily"]
        assert daily_rate == [r["hashrate"] for r in api(
            served, f"/v1/pools/{tip['pool']}/hashrate")["data"] if not r["partial"]]
        # the pool's own balance at both levels, its outflow and what went to exchanges
        watched.charts_ready(("chart-pool-balance", "chart-pool-flows"))
        own = {level: api(served, f"/v1/miners/series?entity={tip['pool']}&level={level}"
                          "&limit=10000")["data"] for level in (0, 1)}
        balance_chart = watched.chart("chart-pool-balance")["series"]
        for level in (0, 1):
            assert balance_chart[f"level {level}"] == [r["balance"] / 1e8 for r in own[level]]
        flows_chart = watched.chart("chart-pool-flows")["series"]
        complete_days = [r for r in own[1] if not r["partial"]]
        assert flows_chart["outflow"] == [r["outflow"] / 1e8 for r in complete_days]
        assert flows_chart["to exchanges"] == [r["to_exchange"] / 1e8 for r in complete_days]
        assert any(flows_chart["outflow"]) and own[1][-1]["balance"] > 0
        page.screenshot(path=str(shots / "pool.png"), full_page=True)
        # a pool that sent coins of two ages to exchanges: its daily mix, stacked by age
        page.goto(served + "/pools/foundryusa")
        watched.charts_ready(("chart-pool-ages",))
        sent = [r for r in api(served, "/v1/miners/series?entity=foundryusa&level=1"
                                       "&limit=10000")["data"] if not r["partial"]]
        ages_chart = watched.chart("chart-pool-ages")["series"]
        buckets = ["lt_1d", "1d_1w", "1w_1m", "1m_1y", "ge_1y"]
        assert [list(values) for values in ages_chart.values()] == [
            [r["to_exchange_by_age"][b] / 1e8 for r in sent] for b in buckets]
        assert sum(1 for values in ages_chart.values() if any(values)) >= 2
    finally:
        watched.close()
    assert watched.problems == []
    assert all((shots / name).stat().st_size > 20_000
               for name in ("dashboard.png", "dashboard-all-level0.png", "pool.png"))


def test_tables_work_without_javascript(served: str, browser: Browser) -> None:
    watched = Watched(browser, javascript=False)
    try:
        page = watched.page
        page.goto(served + "/")
        page.select_option("#window", "all")
        page.select_option("#level", "0")
        with page.expect_navigation(wait_until="load"):  # the form submits without a script
            page.click("#controls button")
        assert "window=all" in page.url and "level=0" in page.url
        pools = api(served, "/v1/pools?window=all")["data"]
        assert page.locator("#pools tbody tr").count() == len(pools)
        assert page.locator("#blocks tbody tr").count() == 20
        assert page.locator("#level option[selected]").get_attribute("value") == "0"
    finally:
        watched.close()
    assert watched.problems == []


@pytest.fixture()
def hostile_index(tmp_path: Path) -> Path:
    pools = json.loads(POOLS.read_text())
    pools[0]["name"] = PAYLOAD  # Foundry USA, which mined blocks of the sample chain
    pools[0]["link"] = "javascript:window.__xss=1"
    hostile = tmp_path / "pools.json"
    hostile.write_text(json.dumps(pools))
    index = tmp_path / "index"
    cli("reindex", "--datadir", SAMPLE, "--network", "regtest", "--index", index, "--pools",
        hostile, "--labels", LABELS)
    return index


def test_pool_names_are_text_not_markup(hostile_index: Path, browser: Browser) -> None:
    for base in serve(hostile_index):
        watched = Watched(browser)
        page = watched.page
        try:
            page.goto(base + "/?window=all")
            watched.charts_ready(OVERVIEW_CHARTS, YOUNG)
            cells = page.locator("#pools tbody td:first-child").all_text_contents()
            legend = page.locator("#chart-balance .u-legend .u-label").all_text_contents()
            page.locator("#pools tbody a", has_text="Evil & Co").click()
            page.wait_for_selector("#pool-name")
            watched.charts_ready(("chart-pool",))
            title = page.text_content("#pool-name")
            links = page.locator("a[href^='javascript']").count()
            injected = page.locator("main img").count()
            ran = page.evaluate("window.__xss === undefined ? 0 : window.__xss")
        finally:
            watched.close()
        assert PAYLOAD in cells and PAYLOAD in legend and title == PAYLOAD
        assert injected == 0 and ran == 0 and links == 0
        assert watched.problems == []


def test_with_prices_the_balance_switches_to_usd(story_index: Path, tmp_path: Path,
                                                 browser: Browser) -> None:
    from tests.integration.test_prices import CLOSES, DAYS, prices_file

    index = tmp_path / "index"
    shutil.copytree(story_index, index)
    missing = DAYS[5]  # a day without a close
    cli("prices", "import", "--index", index, prices_file(
        tmp_path / "prices.csv", [f"{d},{c}" for d, c in zip(DAYS, CLOSES, strict=True)
                                  if d != missing]))
    for base in serve(index):
        watched = Watched(browser)
        page = watched.page
        try:
            page.goto(base + "/?window=all")  # the whole chain: the day without a close too
            watched.charts_ready(OVERVIEW_CHARTS, YOUNG)
            assert "prices: 2026-03-01 to 2026-03-13" in (page.text_content("#prices") or "")
            page.select_option("#unit", "usd")
            page.wait_for_url("**unit=usd**")
            watched.charts_ready(OVERVIEW_CHARTS, YOUNG)
            shown = watched.chart("chart-balance")["series"]
            stacked = watched.chart("chart-balance")["stacked"]
            by_pool = watched.chart("chart-exchange-pool")["series"]
            by_exchange = watched.chart("chart-exchange-by")["series"]
            headings = page.locator("h2, h3").all_text_contents()
        finally:
            watched.close()
        balances = api(base, "/v1/miners/balances")["data"]
        for b in balances:
            if b["name"] in shown:
                rows = api(base, f"/v1/miners/series?entity={b['entity']}&level=1")["data"]
                assert shown[b["name"]] == [r["balance_usd"] for r in rows]
        every = api(base, "/v1/miners/series?entity=all&level=1")["data"]
        assert sum(v[-1] for v in shown.values()) == pytest.approx(every[-1]["balance_usd"])
        # a day without a close is a gap in every layer, never the stack dropping to 0
        gaps = [i for i, r in enumerate(every) if r["balance_usd"] is None]
        assert [every[i]["day"] for i in gaps] == [missing]
        for cumulative in stacked.values():
            assert [i for i, v in enumerate(cumulative) if v is None] == gaps
        # the unit applies to every amount: flows to exchanges too, per pool and per exchange
        assert "Miners → exchanges per day (USD)" in headings
        assert "All miners: 30-day net position change (USD)" in headings
        for b in balances:
            if b["name"] in by_pool:
                rows = api(base, f"/v1/miners/series?entity={b['entity']}&level=1")["data"]
                assert by_pool[b["name"]] == [r["to_exchange_usd"] for r in rows
                                              if not r["partial"]]
        for day, row in enumerate(r for r in every if not r["partial"]):
            parts = [values[day] for values in by_exchange.values()]
            if row["to_exchange_usd"] is None:
                assert parts == [None] * len(parts)
            else:
                assert sum(parts) == pytest.approx(row["to_exchange_usd"])
        assert watched.problems == []
