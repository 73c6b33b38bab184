"""`/docs` and `/redoc` render in Chromium with the network cut off: every request the page
makes that is not to this server is aborted and counted (none may be), no CSP violation or
console error occurs, Swagger UI lists every operation of the OpenAPI document and ReDoc its
title and operations."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Route

from tests.integration.test_dashboard import Watched, browser, serve  # noqa: F401 - fixtures


@pytest.fixture(scope="module")
def docs_served(story_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    copy = tmp_path_factory.mktemp("docs") / "index"
    shutil.copytree(story_index, copy)
    yield from serve(copy)


def offline(watched: Watched, base: str) -> list[str]:
    """Abort every request that leaves `base`; the list of those aborted."""
    left: list[str] = []

    def route(r: Route) -> None:
        if r.request.url.startswith(base + "/"):
            r.continue_()
        else:
            left.append(r.request.url)
            r.abort("internetdisconnected")

    watched.context.route("**/*", route)
    watched.page.on("console", lambda m: "Content Security Policy" in m.text
                    and watched.problems.append(f"CSP: {m.text}"))
    return left


def operations(base: str) -> list[str]:
    spec = httpx.get(base + "/openapi.json").json()
    return [f"{method.upper()} {path}" for path, item in spec["paths"].items()
            for method in item]


def test_swagger_ui_renders_offline(docs_served: str, browser: Browser) -> None:  # noqa: F811
    watched = Watched(browser)
    left = offline(watched, docs_served)
    try:
        watched.page.goto(docs_served + "/docs")
        watched.page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
        shown = watched.page.locator(".swagger-ui .opblock").count()
        assert shown == len(operations(docs_served)) > 10
        assert "minerflow" in watched.page.locator(".swagger-ui .title").first.inner_text()
        assert left == [] and watched.problems == []
    finally:
        watched.close()


def test_redoc_renders_offline(docs_served: str, browser: Browser) -> None:  # noqa: F811
    watched = Watched(browser)
    left = offline(watched, docs_served)
    try:
        watched.page.goto(docs_served + "/redoc")
        watched.page.wait_for_selector("h1", timeout=30_000)
        assert "minerflow" in watched.page.locator("h1").first.inner_text()
        watched.page.wait_for_selector("[data-section-id^='operation/']", state="attached",
                                       timeout=30_000)
        sections = watched.page.locator("[data-section-id^='operation/']").count()
        assert sections == len(operations(docs_served))
        assert left == [] and watched.problems == []
    finally:
        watched.close()


def test_the_docs_pages_carry_the_csp(docs_served: str) -> None:
    for page in ("/docs", "/redoc"):
        answer = httpx.get(docs_served + page)
        assert answer.status_code == 200
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "http" not in policy
        assert "cdn" not in answer.text.lower()
