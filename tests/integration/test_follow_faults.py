"""The follower against a node doing what real nodes do: restart (deleting its cookie while
down), fall behind the index, shrink its tip mid-sync, answer RPC errors, keep blocks pruned;
and against an index that cannot go on. The follower waits, retries or says one clear line,
`/v1/status` tells the truth, and no block is discarded unless the node's chain really forked.
"""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from indexer.attribution.pools import load_pools
from indexer.config import get_network
from indexer.follow import Follower
from indexer.pipeline import open_for_writing, sync
from indexer.source.node import NodeSource
from indexer.source.rpc import NodeAuth, NodeClient
from indexer.store.db import Store
from tests.conftest import LABELS, POOLS, SAMPLE, STORY, cli, dump
from tests.integration.test_sync import sync_cli, sync_follow_process
from tests.labelsets import load_labels
from tests.replay_node import ReplayNode

REGTEST = get_network("regtest")
PATIENCE = 60.0  # a bound on hanging, not a speed claim: every wait below ends on a condition


def until(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + PATIENCE
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


@pytest.fixture()
def node() -> Iterator[ReplayNode]:
    replay = ReplayNode(STORY, "final").start()
    yield replay
    replay.stop()


def source(node: ReplayNode, auth: NodeAuth | None = None) -> NodeSource:
    return NodeSource(NodeClient(node.url, auth or NodeAuth("rpcuser", "rpcpass"), retries=1,
                                 backoff=0.01), REGTEST)


def follower_app(node: ReplayNode, index: Path, auth: NodeAuth | None = None,
                 reorg_limit: int = 288) -> Any:
    pools, labels = load_pools(POOLS), load_labels(LABELS, REGTEST)
    store = open_for_writing(index, REGTEST, pools, labels)
    follower = Follower(store, source(node, auth), pools, labels, reorg_limit, poll=0.05,
                        flush_blocks=1)
    return create_app(store, follower=follower, close_store=True)


def status(client: TestClient) -> dict[str, Any]:
    body: dict[str, Any] = client.get("/v1/status").json()
    return body


def at_tip(client: TestClient, height: int) -> bool:
    s = status(client)
    return bool(s["tip_height"] == height and s["node"]["state"] == "following"
                and s["node"]["lag"] == 0)


def test_one_connection_carries_a_whole_sync(node: ReplayNode, tmp_path: Path,
                                             story_index: Path) -> None:
    sync_cli(node, tmp_path / "index")
    assert node.connections == 1 and node.requests > 183  # 183 REST blocks and the RPC calls
    assert dump(tmp_path / "index") == dump(story_index)


def test_node_restart_deletes_and_renews_its_cookie(node: ReplayNode, tmp_path: Path,
                                                    story_index: Path) -> None:
    node.stop()
    cookie_dir = tmp_path / "datadir" / "regtest"
    cookie_dir.mkdir(parents=True)
    node.cookie_dir = cookie_dir
    node.max_height = 100
    node.start()
    auth = NodeAuth(cookie=cookie_dir / ".cookie")
    with TestClient(follower_app(node, tmp_path / "index", auth)) as client:
        until(lambda: at_tip(client, 100), "the first catch-up")
        node.stop()
        assert not (cookie_dir / ".cookie").exists()
        down = until(lambda: status(client)["node"]["state"] == "retrying" and status(client),
                     "the follower to notice")
        assert down["node"]["following"] is True and down["tip_height"] == 100
        assert ("cookie file" in down["node"]["last_error"]
                or "unreachable" in down["node"]["last_error"])
        named = until(lambda: "cookie file" in (status(client)["node"]["last_error"] or "")
                      and status(client)["node"]["last_error"], "the missing cookie to be named")
        assert named == (f"node at 127.0.0.1:{node.port}: its cookie file .cookie is missing "
                         f"(is the node running?)")  # the name, never the server's directories
        node.max_height = None
        node.start()  # a new cookie, a new token
        until(lambda: at_tip(client, 182), "the catch-up after the restart")
        assert status(client)["node"]["last_error"] is None
    assert dump(tmp_path / "index") == dump(story_index)


def test_a_node_behind_the_index_is_waited_for_never_unindexed(node: ReplayNode,
                                                               tmp_path: Path) -> None:
    index = tmp_path / "index"
    sync_cli(node, index, "--reorg-limit", "10")
    before = dump(index)
    for behind in (100, 175):  # far beyond the undo kept, and within it
        node.max_height = behind  # restarted with -reindex, or a second node part-way
        result = sync_cli(node, index, "--reorg-limit", "10")
        assert "indexed 0 block(s); tip 182" in result.stdout
        assert (f"waiting: the node is at height {behind}, behind the index at 182 on the "
                f"same chain; waiting for it") in result.stderr
        assert dump(index) == before
    node.max_height = None
    assert "indexed 0 block(s); tip 182" in sync_cli(node, index, "--reorg-limit", "10").stdout
    assert dump(index) == before


def test_a_node_behind_on_another_branch_is_a_real_fork(node: ReplayNode,
                                                        tmp_path: Path) -> None:
    """The before-reorg chain differs from the final one at 175: that rollback is real."""
    index = tmp_path / "index"
    sync_cli(node, index)
    node.state, node.max_height = "before-reorg", 176
    result = sync_cli(node, index)
    assert "indexed 2 block(s); tip 176" in result.stdout and "rolled back 8" in result.stdout
    with Store(index) as store:
        assert store.require_state().tip_hash == node.chain()[176]["hash"]


def test_follower_status_while_the_node_is_behind(node: ReplayNode, tmp_path: Path,
                                                  story_index: Path) -> None:
    with TestClient(follower_app(node, tmp_path / "index")) as client:
        until(lambda: at_tip(client, 182), "the catch-up")
        node.max_height = 120
        waiting = until(lambda: status(client)["node"]["state"] == "waiting" and status(client),
                        "the follower to wait")
        assert waiting["tip_height"] == 182 and waiting["node"]["lag"] == -62
        assert waiting["node"]["note"].startswith("the node is at height 120, behind")
        node.max_height = None
        until(lambda: at_tip(client, 182), "the node to catch up")
    assert dump(tmp_path / "index") == dump(story_index)


def test_a_tip_shrinking_mid_sync_ends_the_pass_cleanly(node: ReplayNode, tmp_path: Path,
                                                        story_index: Path) -> None:
    """invalidateblock while we read: the pass stops at a flushed block, the next waits,
    and after reconsiderblock the index ends equal to an uninterrupted one."""
    blocks_asked = 0

    def invalidate_at_the_60th_block(method: str, _params: list[Any]) -> None:
        nonlocal blocks_asked
        if method == "getblock":
            blocks_asked += 1
            if blocks_asked == 60:
                node.max_height = 30

    node.rest = False  # every block is a getblock call the hook can count
    node.on_call = invalidate_at_the_60th_block
    pools, labels = load_pools(POOLS), load_labels(LABELS, REGTEST)
    store = open_for_writing(tmp_path / "index", REGTEST, pools, labels)
    try:
        first = sync(store, source(node), pools, labels, flush_blocks=7)
        assert first.notes and "the node's tip went below height" in first.notes[0]
        assert "Block height out of range" in first.notes[0]
        reached = first.tip_height
        assert 30 < reached < 182
        second = sync(store, source(node), pools, labels)
        assert second.waiting is not None and second.applied == second.rolled_back == 0
        assert store.require_state().tip_height == reached
        node.max_height = None  # reconsiderblock
        third = sync(store, source(node), pools, labels)
        assert third.rolled_back == 0 and third.tip_height == 182
    finally:
        store.close()
    assert dump(tmp_path / "index") == dump(story_index)


def test_rpc_errors_are_retried_and_shown(node: ReplayNode, tmp_path: Path,
                                          story_index: Path) -> None:
    node.max_height = 50
    with TestClient(follower_app(node, tmp_path / "index")) as client:
        until(lambda: at_tip(client, 50), "the catch-up")
        node.errors = [(-1, "internal bug")] * 4
        node.max_height = None
        failing = until(lambda: status(client)["node"]["state"] == "retrying"
                        and status(client), "the error to show")
        assert failing["node"]["last_error"] == "node error -1: internal bug"
        assert failing["node"]["following"] is True
        until(lambda: at_tip(client, 182), "the recovery")
        assert status(client)["node"]["last_error"] is None
    assert dump(tmp_path / "index") == dump(story_index)


def test_a_dead_follower_is_shown_dead(tmp_path: Path) -> None:
    """A reorg deeper than the undo kept ends following; the API says so and goes on serving."""
    node = ReplayNode(STORY, "before-reorg").start()
    try:
        with TestClient(follower_app(node, tmp_path / "index", reorg_limit=2)) as client:
            until(lambda: at_tip(client, 178), "the catch-up")
            node.state = "final"
            dead = until(lambda: status(client)["node"]["state"] == "dead" and status(client),
                         "the follower to die")
            assert dead["node"]["following"] is False
            assert "re-index required" in dead["node"]["last_error"]
            assert dead["tip_height"] == 178
            assert client.get("/v1/pools?window=all").status_code == 200
    finally:
        node.stop()


@pytest.mark.slow
def test_stopping_mid_catch_up_is_prompt_and_resumes_exactly(node: ReplayNode, tmp_path: Path,
                                                             story_index: Path) -> None:
    node.latency = 0.02
    pools, labels = load_pools(POOLS), load_labels(LABELS, REGTEST)
    store = open_for_writing(tmp_path / "index", REGTEST, pools, labels)
    follower = Follower(store, source(node), pools, labels, poll=0.05, flush_blocks=5)
    thread = follower.start_thread()
    try:
        until(lambda: store.require_state().tip_height >= 20, "some blocks")
        started = time.monotonic()
        follower.stop()
        thread.join(timeout=PATIENCE)
        took = time.monotonic() - started
        assert not thread.is_alive() and follower.status.state == "stopped"
        stopped_at = store.require_state().tip_height
        assert stopped_at < 182, "stopped only after the catch-up"
        print(f"follower stopped {took * 1000:.0f} ms after stop(), at height {stopped_at}")
    finally:
        store.close()
    sync_cli(node, tmp_path / "index")
    assert dump(tmp_path / "index") == dump(story_index)


def test_sigterm_stops_sync_follow_with_a_word(node: ReplayNode, tmp_path: Path,
                                               story_index: Path) -> None:
    node.latency = 0.01
    index = tmp_path / "index"
    process = sync_follow_process(node, index, "--poll", "0.1", "--flush-every", "5")
    try:
        until(lambda: node.requests > 40, "the sync to start")
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=PATIENCE)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    lines = err.strip().splitlines()
    assert lines[-1].startswith("stopped on SIGTERM; the index is at height "), err
    height = int(lines[-1].rsplit(" ", 1)[1])
    with Store(index) as store:
        assert store.require_state().tip_height == height
    sync_cli(node, index)
    assert dump(index) == dump(story_index)


def test_pruned_node_and_pruned_datadir_say_so(node: ReplayNode, tmp_path: Path) -> None:
    node.pruned_below = 50
    result = sync_cli(node, tmp_path / "index", ok=False)
    assert result.output == ("Error: the node is pruned: it keeps blocks from height 50 on, "
                             "and the index needs them from height 0; index from a node "
                             "without -prune\n")
    datadir = tmp_path / "pruned"
    shutil.copytree(SAMPLE / "regtest", datadir / "regtest")
    (datadir / "regtest" / "blocks" / "blk00000.dat").unlink()
    (datadir / "regtest" / "blocks" / "rev00000.dat").unlink()
    result = cli("reindex", "--datadir", datadir, "--network", "regtest", "--index",
                 tmp_path / "index2", "--pools", POOLS, ok=False)
    blocks = datadir / "regtest" / "blocks"
    assert result.output == (f"Error: {blocks} is pruned: blk00000.dat is gone and the first "
                             f"file left is blk00001.dat; reindex needs every block from "
                             f"genesis (run the node without -prune, or sync an existing "
                             f"index from a node that still holds its next blocks)\n")


def test_wrong_network_and_unresolvable_zmq_are_one_line(node: ReplayNode, tmp_path: Path,
                                                         story_index: Path) -> None:
    index = tmp_path / "index"
    shutil.copytree(story_index, index)
    result = cli("sync", "--index", index, "--rpc-url", node.url, ok=False)  # main, by default
    assert result.output == (f"Error: index {index} holds the 'regtest' chain, not 'main': "
                             f"give --network regtest (or a new --index directory)\n")
    result = sync_cli(node, index, "--zmq", "tcp://no-such-host.invalid:28332", ok=False)
    assert result.output.startswith("Error: --zmq 'tcp://no-such-host.invalid:28332': host "
                                    "'no-such-host.invalid' does not resolve")
    assert len(result.output.splitlines()) == 1
