"""What monitoring reads from a running server: `/metrics` parsed by the Prometheus client's
own parser, `/healthz` failing while following is dead or lagging, `HEAD` on every GET route
(same status and headers, no body), and the access log in the common log format, through a
real `minerflow serve` too."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.main import create_app
from indexer.store.db import Store
from tests.conftest import STORY
from tests.integration.test_follow_faults import follower_app, status, until
from tests.integration.test_hostile_node import HEIGHT, block_at, more_coinbase
from tests.replay_node import ReplayNode

CLF = re.compile(r'^(\S+) - - \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] '
                 r'"(GET|HEAD) (\S+) HTTP/1\.1" (\d{3}) (\d+|-)$')


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_parse_and_count_requests(client: TestClient) -> None:
    for _ in range(3):
        assert client.get("/v1/pools?window=all").status_code == 200
    assert client.get("/v1/blocks/999999").status_code == 404
    got = samples(client.get("/metrics").text)
    assert got[("minerflow_tip_height", ())] == 182
    assert got[("minerflow_follower_state", (("state", "off"),))] == 1
    assert got[("minerflow_follower_state", (("state", "dead"),))] == 0
    assert got[("minerflow_tip_time_seconds", ())] > 1.7e9
    pools = (("method", "GET"), ("route", "/v1/pools"), ("status", "200"))
    assert got[("minerflow_http_requests_total", pools)] >= 3
    missing = (("method", "GET"), ("route", "/v1/blocks/{ref}"), ("status", "404"))
    assert got[("minerflow_http_requests_total", missing)] >= 1
    count = got[("minerflow_http_request_duration_seconds_count", (("route", "/v1/pools"),))]
    inf = got[("minerflow_http_request_duration_seconds_bucket",
               (("le", "+Inf"), ("route", "/v1/pools")))]
    assert count == inf >= 3


@pytest.mark.parametrize("url", ["/", "/v1/status", "/v1/pools?window=all", "/v1/blocks/1",
                                 "/v1/miners/series?entity=all", "/metrics", "/healthz",
                                 "/openapi.json", "/static/dashboard.js", "/v1/blocks/999999"])
def test_head_answers_every_get_route_without_a_body(client: TestClient, url: str) -> None:
    got, head = client.get(url), client.head(url)
    assert head.status_code == got.status_code and head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    if url not in ("/metrics", "/v1/status"):  # these change between two calls
        assert head.headers.get("content-length") == got.headers.get("content-length")


def test_healthz_fails_while_following_is_dead_or_lagging(tmp_path: Path) -> None:
    node = ReplayNode(STORY, "before-reorg").start()
    try:
        hash_hum, raw = block_at(node, HEIGHT)
        node.tampered[hash_hum] = more_coinbase(raw)  # the follower stays at its parent
        with TestClient(follower_app(node, tmp_path / "lagging")) as client:
            until(lambda: status(client)["tip_height"] == HEIGHT - 1
                  and status(client)["node"]["node_tip"] == 178
                  and status(client)["node"]["state"] == "retrying", "the follower to stall")
            answer = client.get("/healthz")
            assert answer.status_code == 503
            assert answer.json()["reason"] == (f"the index is {178 - HEIGHT + 1} blocks behind "
                                               f"the node (tip {HEIGHT - 1}, node 178; at most "
                                               f"6)")
            assert client.get(f"/healthz?max_lag={178 - HEIGHT + 1}").status_code == 200
            got = samples(client.get("/metrics").text)
            assert got[("minerflow_lag_blocks", ())] == 178 - HEIGHT + 1
            assert got[("minerflow_follower_state", (("state", "retrying"),))] == 1
            assert got[("minerflow_last_error_age_seconds", ())] >= 0
        del node.tampered[hash_hum]
        with TestClient(follower_app(node, tmp_path / "dead", reorg_limit=2)) as client:
            until(lambda: status(client)["tip_height"] == 178
                  and status(client)["node"]["state"] == "following", "the catch-up")
            assert client.get("/healthz").json() == {"status": "ok", "tip_height": 178}
            node.state = "final"  # a reorg deeper than the undo kept: following dies
            until(lambda: status(client)["node"]["state"] == "dead", "the follower to die")
            answer = client.get("/healthz")
            assert answer.status_code == 503
            assert answer.json()["reason"].startswith("following is dead: the chain changed")
            got = samples(client.get("/metrics").text)
            assert got[("minerflow_follower_state", (("state", "dead"),))] == 1
            assert got[("minerflow_blocks_applied_total", ())] == 179
    finally:
        node.stop()


def test_access_log_in_the_common_log_format(client: TestClient,
                                             caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="minerflow.access"):
        client.get("/v1/pools?window=1w")
        client.head("/v1/status")
    lines = [r.getMessage() for r in caplog.records if r.name == "minerflow.access"]
    parsed = [CLF.match(line) for line in lines]
    assert all(parsed), lines
    assert [(m[2], m[3], m[4]) for m in parsed if m] == [
        ("GET", "/v1/pools?window=1w", "200"), ("HEAD", "/v1/status", "200")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_a_real_server_logs_access_and_answers_head(story_index: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    shutil.copytree(story_index, index)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "indexer", "serve", "--index", str(index), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    try:
        def answered() -> Any:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/status",
                                                 method="HEAD")
                with urllib.request.urlopen(request, timeout=2) as response:
                    return response.status, response.read()
            except OSError:
                return None

        assert until(answered, "the server to answer") == (200, b"")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            assert response.status == 200
    finally:
        server.terminate()
        _out, err = server.communicate(timeout=30)
    lines = [line for line in err.splitlines() if CLF.match(line)]
    assert any('"HEAD /v1/status HTTP/1.1" 200' in line for line in lines), err
    assert any('"GET /healthz HTTP/1.1" 200' in line for line in lines), err


def test_the_app_without_a_follower_is_healthy(story_index: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    shutil.copytree(story_index, index)
    with Store(index) as store, TestClient(create_app(store)) as client:
        assert client.get("/healthz").json() == {"status": "ok", "tip_height": 182}
