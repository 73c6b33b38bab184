"""`minerflow rebuild`: after `pools update` and `labels import` the series are stale; a rebuild
from the block files makes them equal expected.json again, byte for byte a fresh index, while a
server goes on answering from the old generation through killed runs and switches when the new
one is activated."""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from indexer.attribution.pools import load_pools
from indexer.config import get_network
from indexer.follow import Follower
from indexer.labels.indexed import stored_labels
from indexer.source.node import NodeSource
from indexer.source.rpc import NodeAuth, NodeClient
from indexer.store import generations
from indexer.store.db import Store
from tests.conftest import LABELS, POOLS, SAMPLE, STORY, cli, dump
from tests.integration.test_pools_update import lacking_labels, lacking_list
from tests.integration.test_reindex import assert_matches_expected, exported_blocks
from tests.replay_node import ReplayNode

REBUILD = [sys.executable, "-c", "from indexer.cli import main; main()", "rebuild"]


@pytest.mark.parametrize("lacking", ["pools", "labels", "both"])
def test_rebuild_after_new_lists_equals_a_fresh_index(tmp_path: Path, story_index: Path,
                                                      expected: Any, lacking: str) -> None:
    index = tmp_path / "index"
    pools = lacking_list(tmp_path) if lacking in ("pools", "both") else POOLS
    labels = lacking_labels(tmp_path) if lacking in ("labels", "both") else LABELS
    cli("reindex", "--datadir", SAMPLE, "--network", "regtest", "--index", index,
        "--pools", pools, "--labels", labels)
    if pools != POOLS:
        cli("pools", "update", "--index", index, "--pools", POOLS)
        assert exported_blocks(index) == expected["blocks"]  # attribution right at once
    if labels != LABELS:
        cli("labels", "import", LABELS, "--index", index)
    status = json.loads(cli("status", "--index", index, "--json").stdout)
    assert ("pools list" in status["stale"]) == (pools != POOLS)
    assert ("labels" in status["stale"]) == (labels != LABELS)
    with pytest.raises(AssertionError):
        assert_matches_expected(index, expected)  # the series are stale: they differ

    result = cli("rebuild", "--index", index, "--datadir", SAMPLE)
    assert "generation g1 active: 183 block(s) indexed" in result.stdout
    assert_matches_expected(index, expected)
    status = json.loads(cli("status", "--index", index, "--json").stdout)
    assert status["stale"] is None and status["generation"] == "g1"
    assert dump(index / "g1") == dump(story_index)
    # the plain index it replaced is gone; a second rebuild retires g1 the same way
    cli("rebuild", "--index", index, "--datadir", SAMPLE)
    rows = f"labels-{status['labels_sha256'][:16]}.csv.gz"  # the label set's canonical rows
    assert sorted(p.name for p in index.iterdir()) == ["APPLY.lock", "GENERATION", "WRITER.lock",
                                                       "g2", rows, "lists.json"]
    assert dump(index / "g2") == dump(story_index)


def answers(client: TestClient, slugs: list[str]) -> list[Any]:
    urls = ["/v1/pools?window=all", "/v1/miners/balances"] + [
        f"/v1/miners/series?entity={slug}&limit=10000" for slug in slugs]
    return [client.get(url).json() for url in urls]


@pytest.mark.slow
def test_a_server_answers_from_the_old_generation_until_the_new_one_is_active(
        tmp_path: Path) -> None:
    from scripts.benchkit.chainmaker import make_thin_chain

    chain = tmp_path / "chain"
    make_thin_chain(chain, 20_000)
    pools = json.loads((chain / "pools.json").read_text())
    lacking = tmp_path / "lacking.json"
    lacking.write_text(json.dumps([p for p in pools if p["id"] not in (1, 2)]))
    common = ["--datadir", chain, "--network", "regtest", "--labels", chain / "exchanges.csv"]
    index, fresh = tmp_path / "index", tmp_path / "fresh"
    cli("reindex", *common, "--index", index, "--pools", lacking)
    cli("pools", "update", "--index", index, "--pools", chain / "pools.json")
    cli("reindex", *common, "--index", fresh, "--pools", chain / "pools.json")

    timing = tmp_path / "timing"  # how long a whole rebuild takes here
    cli("reindex", *common, "--index", timing, "--pools", lacking)
    cli("pools", "update", "--index", timing, "--pools", chain / "pools.json")
    started = time.perf_counter()
    subprocess.run([*REBUILD, "--index", str(timing), "--datadir", str(chain)], check=True,
                   capture_output=True)
    took = time.perf_counter() - started

    with Store(fresh) as store, TestClient(create_app(store)) as client:
        slugs = [row["slug"] for row in client.get("/v1/pools?window=all").json()["data"]][:4]
        want = answers(client, slugs)
    store = Store(index)
    with TestClient(create_app(store, close_store=True)) as client:
        before = answers(client, slugs)
        def blocks(page: Any) -> list[tuple[str, int]]:
            return [(row["slug"], row["blocks"]) for row in page["data"]]

        assert before != want  # the series are stale, the attribution is the new list's
        assert blocks(before[0]) == blocks(want[0])
        assert client.get("/v1/status").json()["stale"] is True
        rng = random.Random(11)
        kills = 0
        while kills < 10:
            # each trial from scratch, so that every kill lands inside a whole pass; the last
            # run resumes from the last kill's partial generation
            shutil.rmtree(index / "g1", ignore_errors=True)
            run = subprocess.Popen([*REBUILD, "--index", str(index), "--datadir", str(chain)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.2, 0.7) * took)
            run.send_signal(signal.SIGKILL)
            assert run.wait() == -signal.SIGKILL, "the rebuild ended before the kill"
            kills += 1
            assert generations.active_name(index) == ""
            assert answers(client, slugs) == before, f"kill {kills}: the answers changed"
        finished = subprocess.run([*REBUILD, "--index", str(index), "--datadir", str(chain)],
                                  capture_output=True, text=True, check=True)
        resumed = int(finished.stdout.split(": ", 1)[1].split(" block")[0])
        assert 0 < resumed < 20_001, finished.stdout  # it went on from the killed runs' work
        assert generations.active_name(index) == "g1"
        assert answers(client, slugs) == want  # the next request answers from g1
        assert client.get("/v1/status").json()["stale"] is False
    print(f"\nrebuild of 20,001 blocks: {took:.2f} s; 10 SIGKILLs while serving, answers "
          f"unchanged; the last run indexed {resumed} blocks")


def test_a_following_server_switches_and_follows_the_new_generation(
        tmp_path: Path, story_index: Path) -> None:
    regtest = get_network("regtest")
    index = tmp_path / "index"
    node = ReplayNode(STORY, "final").start()
    node.max_height = 150
    try:
        cli("sync", "--index", index, "--rpc-url", node.url, "--rpc-user", "rpcuser",
            "--rpc-password", "rpcpass", "--network", "regtest", "--pools",
            lacking_list(tmp_path), "--labels", LABELS, "--retries", "2")
        cli("pools", "update", "--index", index, "--pools", POOLS)

        def follower_of(store: Store) -> Follower:
            source = NodeSource(NodeClient(node.url, NodeAuth("rpcuser", "rpcpass"),
                                           retries=1, backoff=0.01), regtest)
            return Follower(store, source, load_pools(POOLS), stored_labels(store),
                            poll=0.05)

        store = Store(index)
        app = create_app(store, follower=follower_of(store), follower_factory=follower_of,
                         close_store=True)
        with TestClient(app) as client:
            assert client.get("/v1/status").json()["stale"] is True
            cli("rebuild", "--index", index, "--datadir", SAMPLE)  # the files hold 0-182
            status = client.get("/v1/status").json()  # this request switches
            assert status["stale"] is False and status["tip_height"] == 182
            node.max_height = None
            deadline = time.monotonic() + 30
            while client.get("/v1/status").json()["node"]["lag"] != 0:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            status = client.get("/v1/status").json()
            assert status["node"]["following"] and status["node"]["node_tip"] == 182
            series = client.get("/v1/miners/series?entity=all&interval=block").json()["data"]
    finally:
        node.stop()
    want = cli("export", "series", "--index", story_index, "--entity", "all", "--interval",
               "block").stdout.splitlines()
    assert [json.loads(line) for line in want] == series
