"""One writer at a time for a whole index directory: two rebuilds started together leave one
working index equal to a fresh one; list and history changes are refused while a rebuild runs
(naming it) instead of being undone by its swap; prices survive a rebuild; a rebuild never
activates a tip below the active one's; a following `sync` or `serve` moves to the new
generation, and the retired one is closed and removed; symlinked generations and read-only
indexes are one line, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from indexer.attribution.pools import load_pools
from indexer.config import get_network
from indexer.follow import Follower
from indexer.labels.indexed import stored_labels
from indexer.reader import IndexReader
from indexer.source.node import NodeSource
from indexer.source.rpc import NodeAuth, NodeClient
from indexer.store import generations, keys, writer
from indexer.store.db import Store
from tests.conftest import DATA, LABELS, POOLS, SAMPLE, STORY, cli, dump
from tests.integration.test_follow_faults import until
from tests.integration.test_sync import sync_cli, sync_follow_process
from tests.replay_node import ReplayNode

REGTEST = get_network("regtest")
REBUILD = [sys.executable, "-c", "from indexer.cli import main; main()", "rebuild"]
TORN = DATA / "regtest-story-torn"  # its files end at block 179


@pytest.fixture()
def node() -> Iterator[ReplayNode]:
    replay = ReplayNode(STORY, "final").start()
    yield replay
    replay.stop()


def copied(story_index: Path, tmp_path: Path) -> Path:
    index = tmp_path / "index"
    shutil.copytree(story_index, index)
    return index


def test_two_rebuilds_started_together_leave_one_working_index(story_index: Path,
                                                                tmp_path: Path) -> None:
    index = copied(story_index, tmp_path)
    for trial in range(3):
        runs = [subprocess.Popen([*REBUILD, "--index", str(index), "--datadir", str(SAMPLE)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
        outcomes = [(run.wait(), *run.communicate()) for run in runs]
        done = [out for code, out, _err in outcomes if code == 0]
        refused = [err for code, _out, err in outcomes if code != 0]
        assert done, outcomes
        for err in refused:  # the one that came second is told who holds the index
            assert err.startswith(f"Error: index {index} is being changed by `minerflow "
                                  f"rebuild` (pid "), err
            assert err.strip().endswith("run `minerflow rebuild` again when it has finished")
        active = generations.active_path(index)
        assert dump(active) == dump(story_index), f"trial {trial}: {outcomes}"
        gens = sorted(p.name for p in index.iterdir() if p.name.startswith("g"))
        assert gens == [active.name], f"trial {trial}: {gens} left beside the active one"
    assert json.loads(cli("status", "--index", index, "--json").stdout)["tip_height"] == 182


@pytest.mark.parametrize("command", [
    ("pools", "update", "--pools", POOLS),
    ("labels", "import", LABELS),
    ("prices", "import", "PRICES"),
    ("rollback", "--to", "100"),
])
def test_list_and_history_changes_wait_for_a_rebuild(story_index: Path, tmp_path: Path,
                                                     command: tuple[object, ...]) -> None:
    """Made while a rebuild builds, these would be undone by its swap: refused, naming it."""
    index = copied(story_index, tmp_path)
    before = dump(index)
    prices = tmp_path / "prices.csv"
    prices.write_text("date,close_usd\n2026-03-01,60000\n")
    command = tuple(prices if c == "PRICES" else c for c in command)
    args = [*command[:2], "--index", index, *command[2:]] if command[0] != "rollback" else [
        "rollback", "--index", index, *command[1:]]
    name = " ".join(str(c) for c in command[:2]) if command[0] != "rollback" else "rollback"
    with writer.exclusive(index, "minerflow rebuild"):
        result = cli(*args, ok=False)
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: index {index} is being changed by `minerflow "
                                    f"rebuild` (pid {os.getpid()}, since ")
    assert result.output.endswith(f"run `minerflow {name}` again when it has finished\n")
    assert dump(index) == before


def test_prices_survive_a_rebuild(story_index: Path, tmp_path: Path) -> None:
    index = copied(story_index, tmp_path)
    prices = tmp_path / "prices.csv"
    prices.write_text("date,close_usd\n2026-03-01,60000\n2026-03-02,61000.5\n")
    cli("prices", "import", "--index", index, prices)
    before = json.loads(cli("status", "--index", index, "--json").stdout)["prices"]
    assert before == {"first": "2026-03-01", "last": "2026-03-02", "days": 2}
    cli("rebuild", "--index", index, "--datadir", SAMPLE)
    after = json.loads(cli("status", "--index", index, "--json").stdout)
    assert after["generation"] == "g1" and after["prices"] == before
    with Store(index) as store:
        assert [v for _k, v in store.scan(keys.PRICE)] == [b"60000", b"61000.5"]


def test_a_rebuild_never_activates_below_the_active_tip(node: ReplayNode, story_index: Path,
                                                        tmp_path: Path) -> None:
    index = tmp_path / "index"
    sync_cli(node, index)  # 182, from the node
    result = cli("rebuild", "--index", index, "--datadir", TORN, ok=False)
    assert result.output == (
        "Error: generation g1 reaches height 179 of the block files, the active generation "
        "is at 182: not activated (it would go back); run rebuild again when the node's files "
        "reach 182 (it resumes)\n")
    assert generations.active_name(index) == ""
    assert dump(index) == dump(story_index)
    cli("rebuild", "--index", index, "--datadir", SAMPLE)  # files that reach it: it resumes
    assert generations.active_name(index) == "g1"
    assert dump(index / "g1") == dump(story_index)


def test_sync_follow_moves_to_the_new_generation(node: ReplayNode, story_index: Path,
                                                 tmp_path: Path) -> None:
    index = tmp_path / "index"
    node.max_height = 100
    process = sync_follow_process(node, index, "--poll", "0.1")
    try:
        until(lambda: generations.read_tip(index) == 100, "the follower to reach 100")
        cli("rebuild", "--index", index, "--datadir", TORN)  # g1 at 179 > 100: activated
        node.max_height = None  # the follower, moved to g1, takes 180-182 into it
        until(lambda: generations.read_tip(index / "g1") == 182, "blocks written into g1")
        until(lambda: not (index / "CURRENT").exists(), "the retired plain index removed")
        process.terminate()
        _out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert f"generation g1 of {index} is active now (rebuilt); going on with it" in err
    assert dump(index / "g1") == dump(story_index)


def test_a_serving_follower_moves_without_a_request_and_the_old_one_goes(
        node: ReplayNode, story_index: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    node.max_height = 100
    sync_cli(node, index)

    def follower_of(store: Store) -> Follower:
        source = NodeSource(NodeClient(node.url, NodeAuth("rpcuser", "rpcpass"), retries=1,
                                       backoff=0.01), REGTEST)
        return Follower(store, source, load_pools(POOLS), stored_labels(store), poll=0.05)

    store = Store(index)
    app = create_app(store, follower=follower_of(store), follower_factory=follower_of,
                     close_store=True)
    with TestClient(app) as client:
        served = app.state.served
        cli("rebuild", "--index", index, "--datadir", TORN)
        node.max_height = None
        # no request meanwhile: the follower finds its generation retired and asks to switch
        until(lambda: served.store.db_path.name == "g1" and served.follower is not None
              and served.follower.status.state == "following"
              and generations.read_tip(index / "g1") == 182, "the switch by the follower")
        until(lambda: not (index / "CURRENT").exists() and not served.retired,
              "the retired generation closed and removed")
        assert store.closed
        assert client.get("/v1/status").json()["tip_height"] == 182
    assert dump(index / "g1") == dump(story_index)


def test_a_symlinked_generation_is_one_line(story_index: Path, tmp_path: Path) -> None:
    index = copied(story_index, tmp_path)
    cli("rebuild", "--index", index, "--datadir", SAMPLE)  # g1
    elsewhere = tmp_path / "other-disk" / "g2"
    elsewhere.mkdir(parents=True)
    (index / "g2").symlink_to(elsewhere)  # an operator put the next generation elsewhere
    cli("rebuild", "--index", index, "--datadir", SAMPLE)  # builds through the link
    assert generations.active_name(index) == "g2" and dump(elsewhere) == dump(story_index)
    result = cli("rebuild", "--index", index, "--datadir", SAMPLE)  # g2 retired: a link
    assert result.exit_code == 0 and "Traceback" not in result.output
    assert (f"warning: generation g2 of {index} is a symbolic link, not a directory minerflow "
            f"made: it is inactive, remove it (and what it points to) yourself") in result.output
    assert (index / "g2").is_symlink() and dump(index / "g3") == dump(story_index)
    (index / "g4").symlink_to(tmp_path / "nowhere")
    result = cli("rebuild", "--index", index, "--datadir", SAMPLE, ok=False)
    assert result.output == (f"Error: generation g4 of {index} is a symbolic link to nothing: "
                             f"remove it, then run rebuild again\n")


def test_a_read_only_index_says_so(story_index: Path, tmp_path: Path) -> None:
    index = copied(story_index, tmp_path)
    view = tmp_path / "view"
    view.mkdir()
    mounted = subprocess.run(["mount", "--bind", str(index), str(view)],
                             capture_output=True).returncode == 0 and subprocess.run(
        ["mount", "-o", "remount,ro,bind", str(view)], capture_output=True).returncode == 0
    try:
        if not mounted:  # no mount here: take the write bits (enough for a user who is not root)
            assert os.geteuid() != 0, "root can neither mount nor be refused by permissions"
            shutil.rmtree(view)
            shutil.copytree(index, view)
            for path in [view, *view.iterdir()]:
                path.chmod(0o555 if path.is_dir() else 0o444)
        for args in (("status", "--index", view), ("pools", "update", "--index", view,
                                                   "--pools", POOLS)):
            result = cli(*args, ok=False)
            assert result.exit_code == 1 and len(result.output.splitlines()) == 1
            assert result.output.startswith(f"Error: index {view} is read-only (")
            assert "in use by another process" not in result.output
    finally:
        if mounted:
            subprocess.run(["umount", str(view)], check=True)


def test_readers_of_one_list_share_its_parse(story_index: Path) -> None:
    """The pools list is parsed once per list, not on every request."""
    with Store(story_index) as store:
        first, second = store.snapshot(), store.snapshot()
        try:
            assert IndexReader(first).pools is IndexReader(second).pools
        finally:
            first.close()
            second.close()
    started = time.perf_counter()
    with Store(story_index) as store:
        for _ in range(200):
            IndexReader(store)
    print(f"200 readers in {time.perf_counter() - started:.3f} s")
