"""A node, or a disk, that says what is not so: `sync`, `sync --follow` and `serve --follow`
check every block (merkle root and witness commitment) whichever way it comes, stop at the
parent of one that fails with one line naming it, and pass over a damaged blk-file copy for
the node's good one; every malformed, oversized or too slow answer is a node error, one line
for `sync`, retried by the follower, which keeps following once the node answers well again.
Of two copies of a block in the blk files, the valid one is indexed.
"""

from __future__ import annotations

import shutil
import struct
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
from indexer.parse.deserializer import parse_block, sha256d
from indexer.pipeline import open_for_writing
from indexer.source.answers import MalformedAnswer
from indexer.source.node import NodeSource
from indexer.source.rpc import NodeAuth, NodeClient, NodeUnavailable
from indexer.store.db import Store
from tests.conftest import LABELS, POOLS, SAMPLE, STORY, cli, dump, reindex_regtest
from tests.integration.test_follow_faults import at_tip, status, until
from tests.integration.test_sync import sync_cli, sync_follow_process
from tests.labelsets import load_labels
from tests.replay_node import ReplayNode

REGTEST = get_network("regtest")
HEIGHT = 120  # the block the tests tamper with


@pytest.fixture()
def node() -> Iterator[ReplayNode]:
    replay = ReplayNode(STORY, "final").start()
    yield replay
    replay.stop()


def more_coinbase(raw: bytes) -> bytes:
    """The block with its coinbase's first output worth 1 BTC more (its header unchanged)."""
    out = parse_block(raw).txs[0].outputs[0]
    encoded = struct.pack("<q", out.value) + bytes([len(out.script)]) + out.script
    at = raw.index(encoded)
    return raw[:at] + struct.pack("<q", out.value + 100_000_000) + raw[at + 8:]


def other_witness(raw: bytes) -> bytes:
    """The block with the last byte of its coinbase's witness reserved value changed: the
    header and the merkle root still hold, the witness commitment does not."""
    coinbase = parse_block(raw).txs[0]
    assert raw[coinbase._body_end:coinbase._body_end + 2] == b"\x01\x20"
    at = coinbase._body_end + 2 + 31
    return raw[:at] + bytes([raw[at] ^ 1]) + raw[at + 1:]


def block_at(node: ReplayNode, height: int) -> tuple[str, bytes]:
    block = node.chain()[height]
    return block["hash"], bytes.fromhex(block["raw"])


def source(node: ReplayNode, **options: Any) -> NodeSource:
    return NodeSource(NodeClient(node.url, NodeAuth("rpcuser", "rpcpass"), retries=1,
                                 backoff=0.01, **options), REGTEST)


def follower_app(node: ReplayNode, index: Path, **options: Any) -> Any:
    pools, labels = load_pools(POOLS), load_labels(LABELS, REGTEST)
    store = open_for_writing(index, REGTEST, pools, labels)
    follower = Follower(store, source(node, **options), pools, labels, poll=0.05,
                        flush_blocks=1)
    return create_app(store, follower=follower, close_store=True)


def tip_of(index: Path) -> int:
    with Store(index) as store:
        return store.require_state().tip_height


@pytest.mark.parametrize("rest", [True, False], ids=["rest", "getblock"])
@pytest.mark.parametrize("tamper", [more_coinbase, other_witness])
def test_sync_stops_at_the_parent_of_a_tampered_block(node: ReplayNode, tmp_path: Path,
                                                      story_index: Path, rest: bool,
                                                      tamper: Callable[[bytes], bytes]) -> None:
    node.rest = rest
    hash_hum, raw = block_at(node, HEIGHT)
    node.tampered[hash_hum] = tamper(raw)
    index = tmp_path / "index"
    result = sync_cli(node, index, ok=False)
    assert result.exit_code == 1
    damaged = [line for line in result.output.splitlines() if line.startswith("damaged: ")]
    assert len(damaged) == 1, result.output
    assert damaged[0].startswith(f"damaged: block {hash_hum} (height {HEIGHT}) as the node at "
                                 f"{node.url} sent it ({'REST' if rest else 'getblock'}): "
                                 f"damaged, ")
    assert damaged[0].endswith(f"; the index stops at height {HEIGHT - 1}")
    assert result.output.splitlines()[-1] == (
        f"Error: a block from the node failed its check (see above); the index stops at "
        f"height {HEIGHT - 1}, its parent")
    assert "Traceback" not in result.output and tip_of(index) == HEIGHT - 1
    del node.tampered[hash_hum]
    sync_cli(node, index)
    assert dump(index) == dump(story_index)


def test_sync_datadir_takes_the_nodes_copy_of_a_damaged_local_block(
        node: ReplayNode, tmp_path: Path, story_index: Path) -> None:
    """`reindex` refuses a damaged blk file; `sync --datadir` must not index it either: it asks
    the node, and stops at the parent when the node's copy is no better."""
    hash_hum, raw = block_at(node, HEIGHT)
    datadir = tmp_path / "datadir"
    shutil.copytree(SAMPLE / "regtest", datadir / "regtest")
    (datadir / "regtest" / ".cookie").write_text("rpcuser:rpcpass")
    damaged = more_coinbase(raw)
    for blk in sorted((datadir / "regtest" / "blocks").glob("blk*.dat")):
        data = blk.read_bytes()
        if raw in data:
            blk.write_bytes(data.replace(raw, damaged))
            break
    else:
        raise AssertionError("block not found in the sample's blk files")
    args = ("sync", "--datadir", datadir, "--rpc-url", node.url, "--network", "regtest",
            "--pools", POOLS, "--labels", LABELS, "--retries", "1")
    node.tampered[hash_hum] = damaged  # the node reads the same damaged disk
    result = cli("sync", "--index", tmp_path / "bad", *args[1:], ok=False)
    assert result.exit_code == 1 and tip_of(tmp_path / "bad") == HEIGHT - 1
    assert f"damaged: block {hash_hum} (height {HEIGHT}) as the node at" in result.output
    assert "the node's blk file holds a damaged copy too (blk" in result.output
    del node.tampered[hash_hum]  # a node that serves a good copy: used instead of the file's
    cli("sync", "--index", tmp_path / "good", *args[1:])
    assert dump(tmp_path / "good") == dump(story_index)


def test_the_follower_stays_at_the_parent_of_a_tampered_block_then_goes_on(
        node: ReplayNode, tmp_path: Path, story_index: Path) -> None:
    hash_hum, raw = block_at(node, HEIGHT)
    node.tampered[hash_hum] = more_coinbase(raw)
    with TestClient(follower_app(node, tmp_path / "index")) as client:
        held = until(lambda: status(client)["node"]["state"] == "retrying"
                     and status(client)["tip_height"] == HEIGHT - 1 and status(client),
                     "the follower to stop at the parent")
        error = held["node"]["last_error"]
        assert error.startswith(f"block {hash_hum} (height {HEIGHT}) as the node at")
        assert "do not match the merkle root" in error, held
        assert held["node"]["following"], held
        totals = client.get("/v1/miners/series?entity=all&level=0&interval=block").json()
        assert totals["data"][-1]["height"] == HEIGHT - 1  # nothing of the block was written
        del node.tampered[hash_hum]
        until(lambda: at_tip(client, 182), "the catch-up once the node sends the block")
        assert status(client)["node"]["last_error"] is None
    assert dump(tmp_path / "index") == dump(story_index)


def _result(key: str, value: Any) -> Callable[[Any], Any]:
    def rewrite(answer: Any) -> Any:
        answer[0]["result"][key] = value
        return answer

    return rewrite


def _drop(key: str) -> Callable[[Any], Any]:
    def rewrite(answer: Any) -> Any:
        del answer[0]["result"][key]
        return answer

    return rewrite


def _ids_as_lists(answer: Any) -> Any:
    for one in answer:
        one["id"] = [one["id"]]
    return answer


def _hashes_as_numbers(answer: Any) -> Any:
    for one in answer:
        one["result"] = 12345
    return answer


MALFORMED: dict[str, tuple[str, Callable[[Any], Any], str]] = {
    # name: (the method whose answer is spoiled, how, what the one line says)
    "height-not-integer": ("getblockchaininfo", _result("blocks", "182"),
                           "answered getblockchaininfo with height '182', not an integer"),
    "height-float": ("getblockchaininfo", _result("blocks", 182.5),
                     "answered getblockchaininfo with height 182.5, not an integer"),
    "hash-not-hex": ("getblockchaininfo", _result("bestblockhash", "zz" * 32),
                     "answered getblockchaininfo with 'zzzz"),
    "no-bestblockhash": ("getblockchaininfo", _drop("bestblockhash"),
                         "answered getblockchaininfo with no 'bestblockhash'"),
    "result-not-object": ("getblockchaininfo", lambda a: [{**a[0], "result": [1, 2]}],
                          "answered getblockchaininfo with list [1, 2], not an object"),
    "ids-are-lists": ("getblockchaininfo", _ids_as_lists,
                      "left call getblockchaininfo unanswered"),
    "not-a-batch": ("getblockchaininfo", lambda a: a[0],
                    "answered a batch of 1 calls with something else"),
    "not-utf8": ("getblockchaininfo", lambda a: b"\xff\xfe[1]",
                 "answered with something that is not JSON text"),
    "hash-a-number": ("getblockhash", _hashes_as_numbers,
                      "with 12345, not a block hash of 64 hex digits"),
}


@pytest.mark.parametrize("shape", sorted(MALFORMED))
def test_a_malformed_answer_is_one_line_for_sync(node: ReplayNode, tmp_path: Path,
                                                 shape: str) -> None:
    method, rewrite, says = MALFORMED[shape]
    node.rewrites = [(method, rewrite)]
    result = sync_cli(node, tmp_path / "index", ok=False)
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "Traceback" not in result.output, result.output
    assert result.output.startswith(f"Error: node at {node.url} ")
    assert says in result.output


@pytest.mark.parametrize("shape", sorted(MALFORMED))
def test_the_follower_outlives_every_malformed_answer(node: ReplayNode, tmp_path: Path,
                                                      story_index: Path, shape: str) -> None:
    method, rewrite, says = MALFORMED[shape]
    node.max_height = 60
    with TestClient(follower_app(node, tmp_path / "index")) as client:
        until(lambda: at_tip(client, 60), "the first catch-up")
        node.rewrites = [(method, rewrite)] * 3
        node.max_height = None
        failing = until(lambda: status(client)["node"]["state"] == "retrying"
                        and status(client), "the malformed answer to show")
        assert says in failing["node"]["last_error"] and failing["node"]["following"]
        until(lambda: at_tip(client, 182), "following again once the node answers well")
        assert status(client)["node"]["last_error"] is None
    assert dump(tmp_path / "index") == dump(story_index)


def test_an_oversized_answer_is_refused_before_it_is_read(node: ReplayNode,
                                                           tmp_path: Path) -> None:
    node.padding = 3 << 20
    with pytest.raises(MalformedAnswer, match=r"announced an answer of 3,14\d,\d+ bytes, more "
                                              r"than the 1,048,576 minerflow reads"):
        source(node, max_answer=1 << 20).tip()
    assert source(node, max_answer=1 << 20).tip()[0] == 182  # the connection is usable again


def test_a_dripping_node_is_cut_off_at_the_deadline(node: ReplayNode, tmp_path: Path,
                                                    story_index: Path) -> None:
    node.drip = 0.05  # an answer of a few hundred bytes takes many seconds
    started = time.monotonic()
    with pytest.raises(NodeUnavailable, match="too slow: no whole answer within 0.3 s"):
        source(node, deadline=0.3).tip()
    print(f"gave up after {time.monotonic() - started:.2f} s (2 tries of 0.3 s)")
    node.max_height = None
    with TestClient(follower_app(node, tmp_path / "index", deadline=0.3)) as client:
        slow = until(lambda: status(client)["node"]["state"] == "retrying" and status(client),
                     "the follower to give up on the drip")
        assert "too slow" in slow["node"]["last_error"]
        node.drip = 0
        until(lambda: at_tip(client, 182), "following once the node answers at speed")
    assert dump(tmp_path / "index") == dump(story_index)


def test_the_valid_copy_of_a_block_wins_over_one_stored_first(tmp_path: Path,
                                                              story_index: Path) -> None:
    """Two records of one block differ only in witness data (the header's hash and merkle
    root cover none of it): the one whose witness commitment holds is indexed, and the note
    names the other as the copy left out."""
    datadir = tmp_path / "datadir"
    shutil.copytree(SAMPLE / "regtest", datadir / "regtest")
    blk = datadir / "regtest" / "blocks" / "blk00001.dat"
    data = blk.read_bytes()
    magic = data[:4]
    # the fifth record of the file, a block of the active chain
    at, seen = 0, 0
    while seen < 5:
        size = struct.unpack_from("<I", data, at + 4)[0]
        start, at, seen = at, at + 8 + size, seen + 1
    raw = data[start + 8:at]
    bad = other_witness(raw)
    assert sha256d(bad[:80]) == sha256d(raw[:80])
    blk.write_bytes(data[:start] + magic + struct.pack("<I", len(bad)) + bad + data[start:])
    result = reindex_regtest(datadir, tmp_path / "index")
    hash_hum = sha256d(raw[:80])[::-1].hex()
    assert (f"warning: blk00001.dat offset {start}: a copy of block {hash_hum} that fails its "
            f"check (merkle root or witness commitment), ignored for the valid copy at "
            f"blk00001.dat offset {start + 8 + len(bad)}") in result.output
    assert dump(tmp_path / "index") == dump(story_index)


def test_a_block_whose_witness_fails_ends_the_reindex_at_its_parent(tmp_path: Path) -> None:
    datadir = tmp_path / "datadir"
    shutil.copytree(SAMPLE / "regtest", datadir / "regtest")
    blk = datadir / "regtest" / "blocks" / "blk00000.dat"
    data = blk.read_bytes()
    size = struct.unpack_from("<I", data, 4 + 8 + struct.unpack_from("<I", data, 4)[0])[0]
    first = 8 + struct.unpack_from("<I", data, 4)[0]  # block 1's record follows genesis
    raw = data[first + 8:first + 8 + size]
    blk.write_bytes(data[:first + 8] + other_witness(raw) + data[first + 8 + size:])
    result = cli("reindex", "--datadir", datadir, "--network", "regtest", "--index",
                 tmp_path / "index", "--pools", POOLS, "--labels", LABELS, ok=False)
    assert (f"damaged: blk00000.dat offset {first}: block {sha256d(raw[:80])[::-1].hex()} "
            f"(height 1): damaged, its witness data does not match the witness commitment in "
            f"its coinbase; the usable chain ends at height 0") in result.output
    assert tip_of(tmp_path / "index") == 0


def test_sync_follow_stays_at_the_parent_and_says_so(node: ReplayNode, tmp_path: Path,
                                                     story_index: Path) -> None:
    import signal

    from indexer.store import generations

    hash_hum, raw = block_at(node, HEIGHT)
    node.tampered[hash_hum] = more_coinbase(raw)
    index = tmp_path / "index"
    process = sync_follow_process(node, index, "--poll", "0.05")
    try:
        until(lambda: generations.read_tip(index) == HEIGHT - 1, "the follower at the parent")
        time.sleep(0.3)  # a few more tries, none of which may get past the parent
        assert generations.read_tip(index) == HEIGHT - 1
        del node.tampered[hash_hum]
        until(lambda: generations.read_tip(index) == 182, "the follower past the block")
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    said = [line for line in err.splitlines() if f"block {hash_hum} (height {HEIGHT})" in line]
    assert said and all(line.endswith(f"the index stops at height {HEIGHT - 1}") for line in said)
    assert "Traceback" not in err
    assert dump(index) == dump(story_index)
