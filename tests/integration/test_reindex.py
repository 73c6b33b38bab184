"""`minerflow reindex` over real block files: the regtest story in its plain, Core-28 XOR and
torn variants must export exactly expected.json's blocks and series; the real mainnet files give
heights 0-599; damaged records end the chain with a message naming file and offset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    DATA,
    LABELS,
    POOLS,
    SAMPLE,
    STORY,
    cli,
    export_jsonl,
    load_json,
    reindex_regtest,
    with_supply_share,
    without_ages,
)

STORY_TIP = load_json(STORY / "expected-exchanges.json")["tip"]["hash"]

BLOCK_FIELDS = ("height", "hash", "time", "pool_id", "pool", "method", "conflict", "tag_pool")


def exported_blocks(index: Path) -> list[dict[str, Any]]:
    return [{k: row[k] for k in BLOCK_FIELDS} for row in export_jsonl("blocks", "--index", index)]


def assert_matches_expected(index: Path, expected: Any) -> None:
    assert exported_blocks(index) == expected["blocks"]
    for slug, levels in expected["daily"].items():
        for level_name, rows in levels.items():
            got = export_jsonl("series", "--index", index, "--entity", slug, "--level",
                               level_name[-1], "--interval", "day")
            want = with_supply_share(rows, expected["blocks"])
            if expected["blocks"][-1]["hash"] == STORY_TIP:  # the story's: SPEC 5.3 too
                want = with_supply_share(rows, expected["blocks"], slug, int(level_name[-1]))
            else:
                got = without_ages(got)
            assert got == want, f"{slug} {level_name}"


def test_plain_chain_matches_expected(story_index: Path, expected: Any) -> None:
    assert len(expected["blocks"]) == 183
    assert_matches_expected(story_index, expected)
    hashes = {row["hash"] for row in exported_blocks(story_index)}
    assert not hashes & set(expected["stale_blocks"])


def test_xor_obfuscated_chain_matches_expected(tmp_path: Path, expected: Any) -> None:
    result = reindex_regtest(DATA / "regtest-story-xor", tmp_path / "index")
    assert "indexed 183 block(s)" in result.stdout
    assert_matches_expected(tmp_path / "index", expected)


def test_torn_chain_matches_its_expected_and_names_the_tear(tmp_path: Path) -> None:
    result = reindex_regtest(DATA / "regtest-story-torn", tmp_path / "index")
    assert "blk00002.dat offset" in result.stderr and "missing" in result.stderr
    expected = load_json(DATA / "regtest-story-torn" / "expected.json")
    assert expected["blocks"][-1]["height"] == 179
    assert_matches_expected(tmp_path / "index", expected)


def test_blocksdir_points_at_the_blk_files(tmp_path: Path, expected: Any) -> None:
    result = cli("reindex", "--blocksdir", SAMPLE / "regtest" / "blocks", "--network",
                 "regtest", "--index", tmp_path / "index", "--pools", POOLS, "--labels", LABELS)
    assert "indexed 183 block(s)" in result.stdout
    assert exported_blocks(tmp_path / "index") == expected["blocks"]


def test_progress_shows_blocks_rate_and_eta_on_a_terminal(tmp_path: Path) -> None:
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import sys
    import termios

    leader, follower = pty.openpty()  # a real terminal for stderr, as a user has
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    process = subprocess.run(
        [sys.executable, "-m", "indexer", "reindex", "--datadir", str(SAMPLE), "--network",
         "regtest", "--index", str(tmp_path / "index"), "--pools", str(POOLS), "--labels",
         str(LABELS)], stdout=subprocess.PIPE, stderr=follower, timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2]), "COLUMNS": "160"})
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert process.returncode == 0
    final = [part for part in shown.decode(errors="replace").split("\r") if part.strip()][-1]
    assert "183/183" in final and "blk/s" in final and "MB/s" in final and "00:00" in final


def test_reindex_again_resumes_with_nothing_to_do(tmp_path: Path, expected: Any) -> None:
    index = tmp_path / "index"
    reindex_regtest(SAMPLE, index)
    again = cli("reindex", "--datadir", SAMPLE, "--network", "regtest", "--index", index)
    assert "indexed 0 block(s)" in again.stdout  # lists taken from the index itself
    assert_matches_expected(index, expected)


def test_torn_then_whole_files_continue_the_index(tmp_path: Path, expected: Any) -> None:
    """An index built while the last record was torn continues once the node rewrote it."""
    index = tmp_path / "index"
    reindex_regtest(DATA / "regtest-story-torn", index)
    result = reindex_regtest(SAMPLE, index)
    assert "indexed 3 block(s)" in result.stdout
    assert_matches_expected(index, expected)


def mainnet_datadir(tmp_path: Path, second: str) -> Path:
    blocks = tmp_path / "datadir" / "blocks"
    blocks.mkdir(parents=True)
    shutil.copy(DATA / "mainnet" / "blk" / "blk00000.dat", blocks / "blk00000.dat")
    shutil.copy(DATA / "mainnet" / "blk" / second, blocks / "blk00001.dat")
    shutil.copy(DATA / "mainnet" / "blk" / "rev00000.dat", blocks / "rev00000.dat")
    return tmp_path / "datadir"


def test_mainnet_files_index_heights_0_to_599(tmp_path: Path) -> None:
    datadir = mainnet_datadir(tmp_path, "blk00001.dat")
    cli("reindex", "--datadir", datadir, "--network", "main", "--index", tmp_path / "index")
    status = load_json_line(cli("status", "--index", tmp_path / "index", "--json").stdout)
    assert status["tip_height"] == 599 and status["network"] == "main"
    assert status["genesis"] == (
        "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f")
    blocks = exported_blocks(tmp_path / "index")
    assert [b["height"] for b in blocks] == list(range(600))
    assert blocks[0]["hash"] == status["genesis"]
    # Block 170 holds the first transaction between people (f4184fc5): of the 50 BTC mined in
    # block 9, 10 go to Hal Finney and 40 return to block 9's own key (already 0-hop). With
    # block 170's own 50 BTC subsidy the unknown miner's 0-hop balance grows by 50 - 10.
    btc = 10**8
    rows = export_jsonl("series", "--index", tmp_path / "index", "--entity", "unknown",
                        "--level", "0", "--interval", "block", "--since", "169", "--until", "170")
    assert [r["height"] for r in rows] == [169, 170]
    assert (rows[1]["mined"], rows[1]["outflow"], rows[1]["inflow"], rows[1]["fees"]) == (
        50 * btc, 10 * btc, 0, 0)
    assert rows[1]["balance"] == rows[0]["balance"] + 50 * btc - 10 * btc


def load_json_line(text: str) -> Any:
    import json

    return json.loads(text)


def test_incomplete_file_is_reported_not_fatal(tmp_path: Path) -> None:
    datadir = mainnet_datadir(tmp_path, "incompleteblk.dat")
    result = cli("reindex", "--datadir", datadir, "--network", "main", "--index",
                 tmp_path / "index")
    # blk00001 (70,449 bytes), a stray zero byte, another copy of block 598, zero padding
    assert "tip 599" in result.stdout
    warnings = result.stderr.splitlines()
    assert "warning: blk00001.dat offset 70449: 1 stray byte(s) before the next record, " \
        "skipped" in warnings
    assert any(w.startswith("warning: blk00001.dat offset 70450: another copy of block ")
               and w.endswith(", ignored") for w in warnings)


def test_a_damaged_only_copy_ends_the_chain_at_its_parent(tmp_path: Path) -> None:
    blocks = tmp_path / "datadir" / "blocks"
    blocks.mkdir(parents=True)
    first = (DATA / "mainnet" / "blk" / "blk00000.dat").read_bytes()
    second = (DATA / "mainnet" / "blk" / "blk00001.dat").read_bytes()
    size = int.from_bytes(second[4:8], "little")
    damaged = second[:8 + 81] + bytes(size - 81)  # block 300: header kept, body zeroed
    (blocks / "blk00000.dat").write_bytes(first + damaged)
    result = cli("reindex", "--datadir", tmp_path / "datadir", "--network", "main", "--index",
                 tmp_path / "index", ok=False)
    assert result.exit_code == 1  # damage inside the active chain is an error, said in one line
    assert "tip 299" in result.stdout
    assert f"blk00000.dat offset {len(first)}" in result.stderr
    assert "usable chain ends at height 299" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Error: the node's block files are "
                                                              "damaged")
    status = cli("status", "--index", tmp_path / "index", "--json")
    assert json.loads(status.stdout)["tip_height"] == 299


@pytest.mark.parametrize("args,message", [
    (["--datadir", "/nonexistent/dir", "--network", "regtest"], "does not exist"),
    (["--datadir", str(SAMPLE), "--network", "moonnet"], "unknown network 'moonnet'"),
    (["--datadir", str(SAMPLE), "--network", "main"], "no blk*.dat files for network 'main'"),
    (["--datadir", str(SAMPLE), "--network", "regtest", "--pools", "/nonexistent.json"],
     "pools file /nonexistent.json does not exist"),
])
def test_bad_arguments_fail_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = cli("reindex", "--index", tmp_path / "index", *args, ok=False)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("Error: ")


def test_bad_pools_file_fails_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "pools.json"
    bad.write_text('[{"id": 1, "name": "A"}, {"id": 1, "name": "B"}]')
    result = cli("reindex", "--datadir", SAMPLE, "--network", "regtest", "--index",
                 tmp_path / "index", "--pools", bad, ok=False)
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: pools file {bad}: entry 1: duplicate id 1 (also entry 0)")


def test_an_index_of_other_settings_is_refused(tmp_path: Path) -> None:
    index = tmp_path / "index"
    reindex_regtest(SAMPLE, index)
    result = cli("reindex", "--datadir", SAMPLE, "--network", "regtest", "--index", index,
                 "--pools", DATA.parent.parent / "indexer" / "data" / "pools-v2.json", ok=False)
    assert result.exit_code == 1
    assert "built with another pools list" in result.output
    assert "re-index required" in result.output
