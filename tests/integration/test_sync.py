"""`minerflow sync` against a replay node serving the real node's recorded RPC answers: catch-up,
the reorg at height 175 rolled back exactly, retries on a refusing, warming-up or dropping node,
a reorg deeper than the undo kept, and credentials kept out of every message."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from indexer.attribution.pools import load_pools
from indexer.config import get_network
from indexer.pipeline import open_for_writing, sync
from indexer.source.node import NodeSource
from indexer.source.rpc import NodeAuth, NodeClient, NodeUnavailable
from indexer.store.db import Store
from tests.conftest import LABELS, POOLS, SAMPLE, STORY, cli, dump
from tests.integration.test_reindex import assert_matches_expected
from tests.labelsets import load_labels
from tests.replay_node import ReplayNode

REGTEST = get_network("regtest")


@pytest.fixture()
def node() -> Iterator[ReplayNode]:
    replay = ReplayNode(STORY, "before-reorg").start()
    yield replay
    replay.stop()


def client(node: ReplayNode, retries: int = 2) -> NodeSource:
    return NodeSource(NodeClient(node.url, NodeAuth("rpcuser", "rpcpass"), retries=retries,
                                 backoff=0.01), REGTEST)


def sync_follow_process(node: ReplayNode, index: Path, *extra: str) -> Any:
    """`minerflow sync --follow` of the replay node in a process of its own (stdout and stderr
    piped, as text)."""
    return subprocess.Popen(
        [sys.executable, "-m", "indexer", "sync", "--index", str(index), "--rpc-url", node.url,
         "--rpc-user", "rpcuser", "--rpc-password", "rpcpass", "--network", "regtest",
         "--pools", str(POOLS), "--labels", str(LABELS), "--follow", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})


def sync_cli(node: ReplayNode, index: Path, *extra: str, ok: bool = True) -> Any:
    return cli("sync", "--index", index, "--rpc-url", node.url, "--rpc-user", "rpcuser",
               "--rpc-password", "rpcpass", "--network", "regtest", "--pools", POOLS,
               "--labels", LABELS, "--retries", "2", *extra, ok=ok)


def test_sync_through_the_reorg_equals_a_fresh_reindex(node: ReplayNode, tmp_path: Path,
                                                       story_index: Path, expected: Any) -> None:
    index = tmp_path / "index"
    first = sync_cli(node, index)
    assert "indexed 179 block(s); tip 178 4b565b15" in first.stdout
    before = totals(index)
    node.state = "final"
    second = sync_cli(node, index)
    assert "indexed 8 block(s)" in second.stdout and "rolled back 4" in second.stdout
    assert_matches_expected(index, expected)
    assert dump(index) == dump(story_index)
    # the per-day and whole-chain totals were rolled back with the stale blocks, byte for byte
    after = totals(index)
    assert after == totals(story_index) and after != before
    assert after[b"W\xff\xff"][:4] == (182).to_bytes(4, "big")  # blocks 1-182


def totals(index: Path) -> dict[bytes, bytes]:
    """The `A` (per day) and `W` (whole chain) entries of an index."""
    return {k: v for k, v in dump(index).items() if k[:1] in (b"A", b"W")}


def test_sync_without_rest_uses_getblock(node: ReplayNode, tmp_path: Path,
                                         story_index: Path) -> None:
    node.rest = False
    node.state = "final"
    sync_cli(node, tmp_path / "index")
    assert dump(tmp_path / "index") == dump(story_index)


def test_sync_resumes_an_index_built_from_block_files(node: ReplayNode, tmp_path: Path,
                                                      expected: Any) -> None:
    index = tmp_path / "index"
    node.state, node.max_height = "final", 120
    sync_cli(node, index)
    node.max_height = None
    assert "indexed 62 block(s)" in sync_cli(node, index).stdout
    assert_matches_expected(index, expected)


def test_refused_connections_are_a_clear_status_and_write_nothing(node: ReplayNode,
                                                                   tmp_path: Path) -> None:
    index = tmp_path / "index"
    node.max_height = 50
    sync_cli(node, index)
    before = dump(index)
    node.stop()
    result = sync_cli(node, index, ok=False)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "is unreachable (ConnectionRefusedError" in lines[0]
    assert dump(index) == before


def test_warming_up_node_is_retried(node: ReplayNode, tmp_path: Path) -> None:
    node.warming_up = 2
    source = client(node, retries=3)
    assert source.tip()[0] == 178
    node.warming_up = 10
    with pytest.raises(NodeUnavailable, match="warming up"):
        client(node, retries=2).tip()


def test_dropped_connections_mid_batch_are_retried(node: ReplayNode, tmp_path: Path,
                                                   story_index: Path) -> None:
    node.state = "final"
    pools, labels = load_pools(POOLS), load_labels(LABELS, REGTEST)
    store = open_for_writing(tmp_path / "index", REGTEST, pools, labels)
    try:
        source = client(node, retries=3)
        node.drop = 2  # the next two requests are cut off without an answer
        report = sync(store, source, pools, labels)
        assert report.applied == 183 and node.drop == 0
    finally:
        store.close()
    assert dump(tmp_path / "index") == dump(story_index)


def test_a_reorg_deeper_than_the_undo_kept_stops_with_its_message(node: ReplayNode,
                                                                  tmp_path: Path) -> None:
    index = tmp_path / "index"
    sync_cli(node, index, "--reorg-limit", "3")
    before = dump(index)
    node.state = "final"
    result = sync_cli(node, index, "--reorg-limit", "3", ok=False)
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: the chain changed 4 blocks below the index tip 178, deeper than the 3 blocks "
        "of undo kept (--reorg-limit 3): re-index required")
    assert dump(index) == before


def test_credentials_never_appear(node: ReplayNode, tmp_path: Path) -> None:
    node.stop()
    result = cli("sync", "--index", tmp_path / "index", "--rpc-url",
                 f"http://rpcuser:s3cr3t-pw@127.0.0.1:{node.port}", "--network", "regtest",
                 "--pools", POOLS, "--labels", LABELS, "--retries", "0", ok=False)
    assert result.exit_code == 1 and "s3cr3t-pw" not in result.output
    assert "rpcuser" not in result.output and f"127.0.0.1:{node.port}" in result.output
    node.start()
    cli("sync", "--index", tmp_path / "index", "--rpc-url",
        f"http://rpcuser:rpcpass@127.0.0.1:{node.port}", "--network", "regtest")
    for command in (["status", "--json"], ["export", "blocks"]):
        out = cli(*command[:1], *command[1:], "--index", tmp_path / "index").stdout
        assert "rpcpass" not in out


def test_wrong_credentials_and_network_are_one_line(node: ReplayNode, tmp_path: Path) -> None:
    result = cli("sync", "--index", tmp_path / "index", "--rpc-url", node.url, "--rpc-user",
                 "rpcuser", "--rpc-password", "wrong", "--network", "regtest", ok=False)
    assert result.output.strip() == (
        f"Error: node at {node.url} rejected the credentials (check the cookie file or "
        "rpcuser/rpcpassword)")
    result = cli("sync", "--index", tmp_path / "other", "--rpc-url", node.url, "--rpc-user",
                 "rpcuser", "--rpc-password", "rpcpass", "--network", "main", ok=False)
    assert "runs 'regtest', not 'main'" in result.output


def test_cookie_and_bitcoin_conf(node: ReplayNode, tmp_path: Path) -> None:
    datadir = tmp_path / "datadir"
    (datadir / "regtest").mkdir(parents=True)
    (datadir / "regtest" / ".cookie").write_text("rpcuser:rpcpass")
    (datadir / "bitcoin.conf").write_text(f"[regtest]\nrpcport={node.port}\n")
    result = cli("sync", "--index", tmp_path / "index", "--datadir", datadir, "--network",
                 "regtest", "--pools", POOLS, "--labels", LABELS)
    assert "tip 178" in result.stdout
    with Store(tmp_path / "index") as store:
        assert store.require_state().tip_height == 178
    (datadir / "regtest" / ".cookie").unlink()
    result = cli("sync", "--index", tmp_path / "index", "--datadir", datadir, "--network",
                 "regtest", "--retries", "1", ok=False)
    assert result.output == (f"Error: node at 127.0.0.1:{node.port}: its cookie file "
                             f"{datadir / 'regtest' / '.cookie'} is missing (is the node "
                             f"running?)\n")


def test_sync_reads_blocks_from_the_datadir_files(node: ReplayNode, tmp_path: Path,
                                                  story_index: Path) -> None:
    """With readable blk files, blocks come from them; the node answers only for the chain."""
    import shutil

    datadir = tmp_path / "datadir"
    shutil.copytree(SAMPLE / "regtest", datadir / "regtest")
    (datadir / "regtest" / ".cookie").write_text("rpcuser:rpcpass")
    node.state, node.rest = "final", False
    cli("sync", "--index", tmp_path / "index", "--datadir", datadir, "--rpc-url", node.url,
        "--network", "regtest", "--pools", POOLS, "--labels", LABELS)
    assert dump(tmp_path / "index") == dump(story_index)
    assert node.requests < 30  # chain queries only: no getblock per block
