"""The `minerflow` command as a user runs it: a second process on an index in use fails in one
line, labels import checks its file, status/pools/demo print what they should."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from indexer.store.db import Store
from tests.conftest import LABELS, POOLS, SAMPLE, cli, dump, reindex_regtest


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "indexer", *map(str, args)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})


def test_second_process_on_an_index_in_use_fails_in_one_line(story_index: Path,
                                                             tmp_path: Path) -> None:
    index = tmp_path / "index"
    reindex_regtest(SAMPLE, index)
    with Store(index):  # this process holds the index, as `minerflow serve` would
        result = run("reindex", "--datadir", SAMPLE, "--network", "regtest", "--index", index)
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == [
            f"Error: index {index} is in use by another process (a running `minerflow "
            f"serve`, `sync` or `reindex`): stop it or use another --index"]
        assert run("status", "--index", index).returncode == 1
    assert run("status", "--index", index).returncode == 0  # free again, nothing lost


def test_status_json(story_index: Path) -> None:
    status = json.loads(cli("status", "--index", story_index, "--json").stdout)
    assert status["tip_height"] == 182 and status["pools"] == 7


def test_status_of_a_missing_index_is_one_line(tmp_path: Path) -> None:
    result = cli("status", "--index", tmp_path / "nothing", ok=False)
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: no index at {tmp_path / 'nothing'} (run " \
        "`minerflow reindex` or `sync` first)"


def test_labels_import_sets_labels_before_indexing(tmp_path: Path) -> None:
    index = tmp_path / "index"
    result = cli("labels", "import", LABELS, "--index", index, "--network", "regtest",
                 "--pools", POOLS)
    assert "7 labels (7 exchange scripts of 2 exchanges)" in result.stdout
    cli("reindex", "--datadir", SAMPLE, "--network", "regtest", "--index", index,
        "--pools", POOLS)  # labels come from the index
    flows = [json.loads(line) for line in cli(
        "export", "series", "--index", index, "--entity", "all").stdout.splitlines()]
    assert sum(r["to_exchange"] for r in flows) > 0
    again = cli("labels", "import", LABELS, "--index", index, "--network", "regtest")
    assert "already uses these labels" in again.stdout


@pytest.mark.parametrize("content,message", [
    ("address,entity,category\nbcrt1qvj4h52kfmzfy3zkxr78dyrh9k7fkf9remwen4a,X\n",
     "line 2: expected address,entity,category[,source], got 2 field(s)"),
    ("address,entity,category\n1NDyJtNTjmwk5xPNhjgAMu4HDHigtobu1s,Binance,exchange\n",
     "line 2: 1NDyJtNTjmwk5xPNhjgAMu4HDHigtobu1s: version byte 0 is not one of regtest"),
    ("address,entity,category\nbc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4,E,exchange\n",
     "line 2: bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4 is a bc address, not one of regtest"),
])
def test_bad_labels_name_the_line(tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "labels.csv"
    bad.write_text(content)
    result = cli("labels", "import", bad, "--index", tmp_path / "index", "--network", "regtest",
                 ok=False)
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: labels file {bad} {message}"
    assert not (tmp_path / "index").exists()


def test_pools_show_lists_slugs(story_index: Path) -> None:
    out = cli("pools", "show").stdout
    assert "foundryusa" in out and "168 pools" in out
    indexed = cli("pools", "show", "--index", story_index).stdout
    assert "tatmaspool" in indexed and "7 pools" in indexed


def test_demo_indexes_the_bundled_chain(tmp_path: Path) -> None:
    result = cli("demo", "--index", tmp_path / "demo", "--no-serve")
    assert "indexed 183 block(s)" in result.stdout
    lines = result.stdout.splitlines()
    foundry = next(line for line in lines if line.startswith("foundryusa"))
    assert "2125.65484845" in foundry  # expected.json's final level-0 balance, in BTC


def test_help_has_examples() -> None:
    for command in (["reindex"], ["export", "series"], ["labels", "import"], ["demo"]):
        assert "Example:" in cli(*command, "--help").stdout


def test_rollback_undoes_exactly_and_a_reindex_restores(story_index: Path, tmp_path: Path,
                                                        expected: Any) -> None:

    index = tmp_path / "index"
    shutil.copytree(story_index, index)
    result = cli("rollback", "--index", index, "--to", "170")
    block_170 = expected["blocks"][170]["hash"]
    assert result.output == f"rolled back 12 block(s); tip 170 {block_170}\n"
    with Store(index) as store:
        assert store.require_state().tip_height == 170
    assert "indexed 12 block(s)" in reindex_regtest(SAMPLE, index).output
    assert dump(index) == dump(story_index)
    result = cli("rollback", "--index", index, "--to", "182", ok=False)
    assert result.output == ("Error: --to 182: the index tip is 182; rollback only goes "
                             "down\n")


def test_rollback_beyond_the_undo_kept_is_refused(tmp_path: Path) -> None:

    index = tmp_path / "index"
    reindex_regtest(SAMPLE, index, "--reorg-limit", "5")
    before = dump(index)
    result = cli("rollback", "--index", index, "--to", "170", ok=False)
    assert result.output == ("Error: --to 170: the index keeps undo for its newest 5 block(s) "
                             "(tip 182), so it can go down to height 177 at the lowest; lower "
                             "needs a re-index\n")
    assert dump(index) == before
    cli("rollback", "--index", index, "--to", "177")
