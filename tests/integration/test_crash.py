"""Kill the indexer with SIGKILL at random moments (seeded) across a reindex and two syncs
through the recorded reorg; after every kill the index opens with a consistent tip, every
restart resumes, and the final index equals an uninterrupted run's, key for key."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from indexer.store import keys
from indexer.store.db import Store
from tests.conftest import LABELS, POOLS, SAMPLE, STORY, dump
from tests.replay_node import ReplayNode

ROOT = Path(__file__).parents[2]


def command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "indexer", *map(str, args)]


def assert_consistent(index: Path) -> int:
    """The state's tip names a stored block with that hash; returns the tip height (-1 when a
    kill landed before the index was created)."""
    if not (index / "CURRENT").exists():
        return -1
    with Store(index) as store:
        state = store.state
        if state is None or state.tip_height < 0:
            return -1
        raw = store.get(keys.block_key(state.tip_height))
        assert raw is not None, "tip block record missing"
        assert keys.unpack_block(state.tip_height, raw).hash_hum == state.tip_hash
        assert store.get(keys.block_key(state.tip_height + 1)) is None
        return state.tip_height


def logs(index: Path) -> dict[str, int]:
    """LevelDB's write-ahead logs in `index` and their sizes."""
    sizes = {}
    for path in index.glob("*.log") if index.exists() else ():
        try:
            sizes[path.name] = path.stat().st_size
        except FileNotFoundError:  # rotated away while we looked
            pass
    return sizes


def written(index: Path, before: set[str]) -> int:
    """Bytes this run has logged so far: the size of logs that were not there before it."""
    return sum(size for name, size in logs(index).items() if name not in before)


def kill_runs(args: list[str], index: Path, rng: random.Random, wanted: int) -> int:
    """Start `args` repeatedly and SIGKILL it once it has logged a random number of bytes
    (a point in its progress, whatever the machine's pace) until `wanted` kills landed mid-run;
    then let one run finish. Returns the number of kills."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    kills = 0
    for _attempt in range(wanted * 3):
        if kills >= wanted:
            break
        before = set(logs(index))
        threshold = rng.randint(200, 30_000)  # about 0 to 12 blocks of writes
        process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE)
        while process.poll() is None and written(index, before) < threshold:
            time.sleep(0.001)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
        else:
            assert process.returncode == 0, process.stderr.read() if process.stderr else ""
            break  # finished: nothing left to interrupt
        assert_consistent(index)
    finished = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    return kills


@pytest.mark.slow
def test_sigkill_at_random_moments_resumes_to_an_identical_index(tmp_path: Path,
                                                                 story_index: Path) -> None:
    rng = random.Random(20261121)
    lists = ["--pools", POOLS, "--labels", LABELS]
    reference = dump(story_index)

    def reindex_round(name: str) -> int:
        index = tmp_path / name
        args = command("reindex", "--datadir", SAMPLE, "--network", "regtest", "--index",
                       index, *lists, "--flush-every", "1", "--throttle", "0.004")
        landed = kill_runs(args, index, rng, 14)
        assert dump(index) == reference
        return landed

    kills = reindex_round("by-reindex")

    by_sync = tmp_path / "by-sync"
    node = ReplayNode(STORY, "before-reorg").start()
    try:
        sync = command("sync", "--index", by_sync, "--rpc-url", node.url, "--rpc-user",
                       "rpcuser", "--rpc-password", "rpcpass", "--network", "regtest", *lists,
                       "--flush-every", "1", "--retries", "1", "--throttle", "0.004")
        kills += kill_runs(sync, by_sync, rng, 14)
        assert assert_consistent(by_sync) == 178
        node.state = "final"  # the reorg: roll back 4, apply 8, under kills too
        kills += kill_runs(sync, by_sync, rng, 4)
    finally:
        node.stop()
    assert dump(by_sync) == reference
    print(f"{kills} SIGKILLs landed mid-run")
    assert kills >= 25
