"""`serve --follow`: one process serves the API while a background thread syncs from the
(replay) node. Every response comes from one snapshot, so no read ever sees a half-applied
block: per-block rows up to the tip served equal the finished index's, and `all` equals the
sum of the entities at every instant. /v1/status shows index tip, node tip, lag, last error."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.main import create_app
from indexer.attribution.pools import load_pools
from indexer.config import get_network
from indexer.follow import Follower
from indexer.pipeline import open_for_writing
from indexer.source.node import NodeSource
from indexer.source.rpc import NodeAuth, NodeClient
from tests.conftest import LABELS, POOLS, STORY, export_jsonl
from tests.labelsets import load_labels
from tests.replay_node import ReplayNode

REGTEST = get_network("regtest")


def make_app(node: ReplayNode, index: Path, poll: float = 0.05) -> Any:
    pools, labels = load_pools(POOLS), load_labels(LABELS, REGTEST)
    store = open_for_writing(index, REGTEST, pools, labels)
    source = NodeSource(NodeClient(node.url, NodeAuth("rpcuser", "rpcpass"), retries=1,
                                   backoff=0.01), REGTEST)
    follower = Follower(store, source, pools, labels, poll=poll, flush_blocks=1)
    return create_app(store, follower=follower, close_store=True)


def test_reads_during_catch_up_never_see_a_half_applied_block(tmp_path: Path,
                                                             story_index: Path) -> None:
    final_rows = export_jsonl("series", "--index", story_index, "--entity", "all", "--level",
                              "1", "--interval", "block")
    node = ReplayNode(STORY, "final").start()
    node.latency = 0.003
    mid_sync_reads = 0
    try:
        with TestClient(make_app(node, tmp_path / "index")) as client:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                series = client.get("/v1/miners/series?entity=all&level=1&interval=block").json()
                tip = series["tip_height"]
                assert series["count"] == max(tip, 0)
                assert series["data"] == final_rows[:max(tip, 0)]
                balances = client.get("/v1/miners/balances").json()
                for level in ("level0", "level1"):
                    rows = balances["data"]
                    assert rows[0]["entity"] == "all"
                    assert rows[0][level] == sum(r[level] for r in rows[1:])
                if 0 < tip < 182:
                    mid_sync_reads += 1
                status = client.get("/v1/status").json()
                if status["tip_height"] == 182 and status["node"]["lag"] == 0:
                    break
            assert status["node"] == {**status["node"], "following": True, "node_tip": 182,
                                      "lag": 0, "last_error": None}
    finally:
        node.stop()
    assert mid_sync_reads >= 3


def test_status_reports_a_node_that_went_away(tmp_path: Path) -> None:
    node = ReplayNode(STORY, "final").start()
    node.max_height = 20
    try:
        with TestClient(make_app(node, tmp_path / "index")) as client:
            deadline = time.monotonic() + 30
            while client.get("/v1/status").json()["tip_height"] < 20:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            node.stop()
            while not client.get("/v1/status").json()["node"]["last_error"]:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            status = client.get("/v1/status").json()
            assert "unreachable" in status["node"]["last_error"]
            assert status["tip_height"] == 20  # still serving what it has
            assert client.get("/v1/pools?window=all").status_code == 200
            node.start()
            node.max_height = None
            while client.get("/v1/status").json()["tip_height"] < 182:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            assert client.get("/v1/status").json()["node"]["last_error"] is None
    finally:
        node.stop()


def test_zmq_hashblock_wakes_the_follower(tmp_path: Path) -> None:
    """With polling every 60 s, only the hashblock notification can bring the new blocks."""
    import zmq

    from indexer.source.zmq_notify import BlockNotifier

    publisher = zmq.Context.instance().socket(zmq.PUB)
    port = publisher.bind_to_random_port("tcp://127.0.0.1")
    node = ReplayNode(STORY, "final").start()
    node.max_height = 100
    pools, labels = load_pools(POOLS), load_labels(LABELS, REGTEST)
    store = open_for_writing(tmp_path / "index", REGTEST, pools, labels)
    source = NodeSource(NodeClient(node.url, NodeAuth("rpcuser", "rpcpass"), retries=1,
                                   backoff=0.01), REGTEST)
    notifier = BlockNotifier(f"tcp://127.0.0.1:{port}")
    follower = Follower(store, source, pools, labels, poll=60.0, notifier=notifier)
    thread = follower.start_thread()
    try:
        deadline = time.monotonic() + 30
        while store.require_state().tip_height < 100:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        node.max_height = None  # the node finds blocks 101-182 and announces them
        tip_hash = bytes.fromhex(node.chain()[-1]["hash"])
        while store.require_state().tip_height < 182:
            assert time.monotonic() < deadline, "the follower slept through hashblock"
            publisher.send_multipart([b"hashblock", tip_hash, (1).to_bytes(4, "little")])
            time.sleep(0.1)
    finally:
        follower.stop()
        thread.join(timeout=30)
        notifier.close()
        publisher.close()
        store.close()
        node.stop()
    assert store.state is not None and store.state.tip_height == 182
