"""`minerflow pools update` and `pools diff`: a new pools list on an indexed chain, in place.

An index built with a list lacking two of the story's pools, updated with the full list, holds
exactly expected.json's attribution and the same per-pool totals as a fresh index; a reorg after
the update rolls back exactly (the kept undo records were rewritten); on the real mainnet files
an edited list moves exactly the blocks the diff predicts and a test finds independently; and
the update is atomic under SIGKILL."""

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
from bitcoin.core import CBlock
from fastapi.testclient import TestClient

from api.main import create_app
from indexer.config import default_pools_path
from indexer.store.db import Store
from tests.conftest import DATA, LABELS, POOLS, SAMPLE, STORY, cli, dump
from tests.integration.test_network import blk_blocks
from tests.integration.test_reindex import exported_blocks, mainnet_datadir
from tests.integration.test_sync import sync_cli
from tests.replay_node import ReplayNode

LACKING = ("ViaBTC", "F2Pool")
ATTRIBUTION = (b"P", b"A", b"W")  # every key attribution decides, besides the block records


def lacking_list(tmp_path: Path) -> Path:
    pools = [p for p in json.loads(POOLS.read_text()) if p["name"] not in LACKING]
    path = tmp_path / "pools-lacking.json"
    path.write_text(json.dumps(pools))
    return path


def attribution_keys(index: Path) -> dict[bytes, bytes]:
    """P, A and W entries, and the block records without their pools-version field."""
    out = {}
    for key, value in dump(index).items():
        if key[:1] in ATTRIBUTION:
            out[key] = value
        elif key[:1] == b"H":
            out[key] = value[:-2]
    return out


def versions_match_records(index: Path) -> None:
    stored = dump(index)
    versions = json.loads(stored[b"Lversions"])
    counts = [0] * len(versions)
    for key, value in stored.items():
        if key[:1] == b"H":
            counts[int.from_bytes(value[-2:], "big")] += 1
    assert counts == [blocks for _sha, blocks in versions]


def test_update_gives_the_full_lists_attribution(tmp_path: Path, story_index: Path,
                                                 expected: Any) -> None:
    index = tmp_path / "index"
    cli("reindex", "--datadir", SAMPLE, "--network", "regtest", "--index", index,
        "--pools", lacking_list(tmp_path), "--labels", LABELS)
    assert exported_blocks(index) != expected["blocks"]
    diff = cli("pools", "diff", lacking_list(tmp_path), POOLS, "--index", index).stdout
    moving = [b for b in expected["blocks"] if b["pool"] in ("viabtc", "f2pool")]
    assert "+ f2pool (id 3)" in diff and "+ viabtc (id 4)" in diff
    assert f"{len(moving)} of 183 blocks would be re-attributed" in diff

    result = cli("pools", "update", "--index", index, "--pools", POOLS)
    assert f"183 blocks matched, {len(moving)} re-attributed" in result.stdout
    assert exported_blocks(index) == expected["blocks"]
    assert attribution_keys(index) == attribution_keys(story_index)
    versions_match_records(index)

    status = json.loads(cli("status", "--index", index, "--json").stdout)
    assert status["stale"] and "`minerflow rebuild`" in status["stale"]
    assert [v["blocks"] for v in status["pools_versions"]] == [183 - len(moving), len(moving)]
    with Store(index) as store, TestClient(create_app(store)) as client:
        body = client.get("/v1/status").json()
        assert body["stale"] is True and body["stale_reason"] == status["stale"]
        for url in ("/v1/miners/series", "/v1/miners/balances", "/v1/pools?window=all",
                    "/v1/pools/viabtc", "/v1/exchanges/flows"):
            answer = client.get(url).json()
            assert answer["stale"] is True and answer["stale_reason"] == status["stale"], url
        csv_answer = client.get("/v1/miners/series?format=csv")
        assert csv_answer.headers["x-minerflow-stale"] == status["stale"]
        assert client.get("/v1/network/series").status_code == 200
        moved = client.get(f"/v1/blocks/{moving[0]['height']}").json()
        assert moved["pool"] == moving[0]["pool"]
        assert moved["pools_sha256"] == status["pools_versions"][1]["sha256"]
        assert "Miner series are stale" in client.get("/").text
    again = cli("pools", "update", "--index", index, "--pools", POOLS)
    assert "already uses this pools list" in again.stdout


def test_a_reorg_after_the_update_rolls_back_exactly(tmp_path: Path, story_index: Path,
                                                     expected: Any) -> None:
    index = tmp_path / "index"
    node = ReplayNode(STORY, "before-reorg").start()
    try:
        cli("sync", "--index", index, "--rpc-url", node.url, "--rpc-user", "rpcuser",
            "--rpc-password", "rpcpass", "--network", "regtest", "--pools",
            lacking_list(tmp_path), "--labels", LABELS, "--retries", "2")
        cli("pools", "update", "--index", index, "--pools", POOLS)
        node.state = "final"  # blocks 175-178 (attributed by the new list) are rolled back
        second = sync_cli(node, index)
        assert "rolled back 4" in second.stdout
    finally:
        node.stop()
    assert exported_blocks(index) == expected["blocks"]
    assert attribution_keys(index) == attribution_keys(story_index)
    versions_match_records(index)


# -- mainnet ------------------------------------------------------------------------------------

def test_mainnet_edited_list_moves_exactly_the_predicted_blocks(tmp_path: Path) -> None:
    datadir = mainnet_datadir(tmp_path, "blk00001.dat")
    index = tmp_path / "index"
    cli("reindex", "--datadir", datadir, "--network", "main", "--index", index)
    pools = json.loads(default_pools_path().read_text())
    edited = [dict(p) for p in pools]
    marker = "/satoshi-era/"
    edited.append({"id": max(p["id"] for p in pools) + 1, "name": "Early Miner",
                   "addresses": [], "tags": [marker], "link": ""})
    new = tmp_path / "edited.json"
    new.write_text(json.dumps(edited))
    # no 2009 coinbase says /satoshi-era/: the diff predicts nothing moves
    diff = cli("pools", "diff", default_pools_path(), new, "--index", index).stdout
    assert "+ earlyminer" in diff and "0 of 600 blocks would be re-attributed" in diff

    # a tag that 2009 coinbases do hold: the bytes 0x1d 0x01 after the difficulty bits
    chain = [b for name in ("blk00000.dat", "blk00001.dat")
             for b in blk_blocks(DATA / "mainnet" / "blk" / name)]
    by_hash = {b.GetHash(): b for b in chain}
    assert len(by_hash) == 600
    tag = b"\x1d\x01\x0b"
    want = sorted(i for i, b in enumerate(ordered(by_hash)) if tag in b.vtx[0].vin[0].scriptSig)
    assert 0 < len(want) < 600
    edited[-1]["tags"] = [tag.decode("ascii")]
    new.write_text(json.dumps(edited))
    diff = cli("pools", "diff", default_pools_path(), new, "--index", index).stdout
    assert f"{len(want)} of 600 blocks would be re-attributed" in diff
    before = exported_blocks(index)
    cli("pools", "update", "--index", index, "--pools", new)
    after = exported_blocks(index)
    moved = [a["height"] for a, b in zip(after, before, strict=True) if a != b]
    assert moved == want
    assert {after[h]["pool"] for h in moved} == {"earlyminer"}
    assert all(after[h]["method"] == "tag" for h in moved)


def ordered(by_hash: dict[bytes, CBlock]) -> list[CBlock]:
    by_prev = {b.hashPrevBlock: b for b in by_hash.values()}
    chain = [by_prev[b"\0" * 32]]
    while chain[-1].GetHash() in by_prev:
        chain.append(by_prev[chain[-1].GetHash()])
    return chain


# -- atomic under SIGKILL -----------------------------------------------------------------------


@pytest.mark.slow
def test_update_is_atomic_under_sigkill(tmp_path: Path) -> None:
    from scripts.benchkit.chainmaker import make_thin_chain

    make_thin_chain(tmp_path / "chain", 20_000)
    pools = json.loads((tmp_path / "chain" / "pools.json").read_text())
    lacking = tmp_path / "lacking.json"
    lacking.write_text(json.dumps([p for p in pools if p["id"] not in (1, 2)]))
    base = tmp_path / "base"
    cli("reindex", "--datadir", tmp_path / "chain", "--network", "regtest", "--index", base,
        "--pools", lacking, "--labels", tmp_path / "chain" / "exchanges.csv")
    updated = tmp_path / "updated"
    shutil.copytree(base, updated)
    command = [sys.executable, "-c", "from indexer.cli import main; main()", "pools", "update",
               "--pools", str(tmp_path / "chain" / "pools.json"), "--index"]
    started = time.perf_counter()
    subprocess.run([*command, str(updated)], check=True, capture_output=True)
    took = time.perf_counter() - started
    old, new = attribution_keys(base), attribution_keys(updated)
    assert old != new
    rng = random.Random(7)
    kills = outcomes_old = outcomes_new = 0
    while kills < 10:
        trial = tmp_path / f"trial{kills}"
        shutil.rmtree(trial, ignore_errors=True)
        shutil.copytree(base, trial)
        process = subprocess.Popen([*command, str(trial)], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 1.0) * took)
        process.send_signal(signal.SIGKILL)
        if process.wait() != -signal.SIGKILL:
            continue  # it finished before the signal: not a kill
        kills += 1
        got = attribution_keys(trial)
        assert got in (old, new), f"kill {kills}: a mix of the old and the new attribution"
        outcomes_old += got == old
        outcomes_new += got == new
        versions_match_records(trial)
    print(f"\npools update of 20,001 blocks: {took:.2f} s; 10 SIGKILLs: {outcomes_old} left "
          f"the old attribution, {outcomes_new} the new")


# -- labels -------------------------------------------------------------------------------------


def lacking_labels(tmp_path: Path) -> Path:
    lines = LABELS.read_text().splitlines()
    kept = [lines[0]] + [line for line in lines[1:] if ",Exchange Two," not in line]
    assert len(kept) < len(lines)
    path = tmp_path / "labels-lacking.csv"
    path.write_text("\n".join(kept) + "\n")
    return path


def test_labels_import_on_an_empty_index_replaces_them(tmp_path: Path) -> None:
    index = tmp_path / "index"
    cli("labels", "import", lacking_labels(tmp_path), "--index", index, "--network", "regtest",
        "--pools", POOLS)
    again = cli("labels", "import", LABELS, "--index", index)  # network from the index
    assert "set for" in again.stdout and "stale" not in again.stdout
    status = json.loads(cli("status", "--index", index, "--json").stdout)
    assert status["stale"] is None and status["tip_height"] == -1


def test_labels_import_on_an_indexed_chain_marks_the_series_stale(tmp_path: Path) -> None:
    index = tmp_path / "index"
    cli("reindex", "--datadir", SAMPLE, "--network", "regtest", "--index", index,
        "--pools", POOLS, "--labels", lacking_labels(tmp_path))
    result = cli("labels", "import", LABELS, "--index", index)
    assert "miner series are stale: the flows to exchanges were built with labels" in (
        result.stdout)
    with Store(index) as store, TestClient(create_app(store)) as client:
        assert client.get("/v1/status").json()["stale"] is True
        assert client.get("/v1/exchanges/flows?window=all").json()["stale"] is True
        # exchange ids follow the set: rows built with another are refused, not mislabeled
        refused = client.get("/v1/exchanges")
        assert refused.status_code == 503
        assert "exchange series were built with labels" in refused.json()["detail"]
    failed = cli("export", "exchanges", "--index", index, ok=False)
    assert failed.exit_code != 0 and "`minerflow rebuild` brings them up to date" in (
        failed.stderr)
    back = cli("labels", "import", lacking_labels(tmp_path), "--index", index)
    assert "stale" not in back.stdout  # the labels the series were built with: fresh again
