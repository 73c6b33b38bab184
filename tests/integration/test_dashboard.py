"""The dashboard in a real browser (Debian's Chromium driven by Playwright) over a served port:
text from a pools file written by a stranger is shown as text, never run as markup."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import sync_playwright

from api.main import create_app
from indexer.store.db import Store
from tests.conftest import POOLS, SAMPLE, cli
from tests.net import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PAYLOAD = '<img src=x onerror="window.__xss = (window.__xss || 0) + 1">Evil & Co'


@pytest.fixture()
def hostile_index(tmp_path: Path) -> Path:
    pools = json.loads(POOLS.read_text())
    pools[0]["name"] = PAYLOAD  # Foundry USA, which mined blocks of the sample chain
    hostile = tmp_path / "pools.json"
    hostile.write_text(json.dumps(pools))
    index = tmp_path / "index"
    cli("reindex", "--datadir", SAMPLE, "--network", "regtest", "--index", index, "--pools",
        hostile)
    return index


@pytest.fixture()
def served(hostile_index: Path) -> Iterator[str]:
    store = Store(hostile_index)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(store), host="127.0.0.1", port=port,
                                          log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive(), "the server did not start"
            threading.Event().wait(0.02)
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        store.close()


def test_pool_names_are_text_not_markup(served: str) -> None:
    assert Path(CHROMIUM).exists(), "Chromium is needed (.ci/run installs Debian's chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--no-sandbox", "--headless=new"])
        try:
            page = browser.new_page()
            page.goto(served)
            page.wait_for_selector("#pools tbody tr")
            page.wait_for_selector("#chart polyline", state="attached")
            cells = page.locator("#pools tbody td:first-child").all_text_contents()
            options = page.locator("#entity option").all_text_contents()
            injected = page.locator("#pools img, #entity img").count()
            ran = page.evaluate("window.__xss === undefined ? 0 : window.__xss")
        finally:
            browser.close()
    assert PAYLOAD in cells and PAYLOAD in options
    assert injected == 0 and ran == 0
