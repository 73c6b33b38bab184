"""The benchmark runs end to end on tiny corpora and reports every figure the README quotes.
Speed itself is never asserted: the figures are printed by `scripts/bench.py`, not tested."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from scripts.benchkit.cli import REPO_BLOCKS
from scripts.benchkit.run import Settings, dumps, run_bench, table
from tests.conftest import cli

BENCH = Path(__file__).resolve().parents[2] / "scripts" / "bench.py"

FIGURES = ("parse_mb_s", "parse_tx_s", "bitcoinlib_mb_s", "hash_ceiling_mb_s", "e2e_mb_s",
           "e2e_tx_s", "peak_rss_mb", "index_bytes_per_tx", "projected_mainnet_hours",
           "parse_vs_bitcoinlib", "e2e_vs_hash_ceiling", "flagged_share", "e2e_cpu_per_wall",
           "derive_mb_s", "derive_passes", "derive_chain_mb_s", "seeded_e2e_mb_s")


@pytest.mark.slow
def test_a_tiny_run_reports_every_figure() -> None:
    said: list[str] = []
    result = run_bench(Settings(parse_mb=3, chain_blocks=60, runs=1, reference=True),
                       REPO_BLOCKS, say=said.append)
    line = json.loads(dumps(result))
    for name in FIGURES:
        assert isinstance(line[name], (int, float)) and line[name] > 0, name
    assert line["parse_corpus_mb"] >= 3
    assert line["e2e_corpus_txs"] > 60
    assert line["reference_index_identical"] is True
    # the two rates are printed to 0.1 MB/s and the ratio to 0.1: the ratio of the unrounded
    # rates lies between these bounds
    parse, bitcoinlib = line["parse_mb_s"], line["bitcoinlib_mb_s"]
    low = (parse - 0.05) / (bitcoinlib + 0.05) - 0.05
    high = (parse + 0.05) / max(bitcoinlib - 0.05, 1e-9) + 0.05
    assert low <= line["parse_vs_bitcoinlib"] <= high
    assert "| reindex end to end |" in table(result)
    assert "| labels derive, every pass read |" in table(result)
    assert line["seeded_labels"] > 336_000
    assert any("reindex:" in s for s in said)
    # the default mix, then chains made to carry more miner transactions: more are flagged
    shares = [mix["flagged_share"] for mix in line["e2e_by_share"]]
    assert len(shares) == 3 and shares[0] == line["flagged_share"]
    assert shares[0] < shares[1] < shares[2]
    assert line["e2e_by_share"][0]["e2e_mb_s"] == line["e2e_mb_s"]
    # and one made to pay exchanges more: more of its transactions touch an exchange's script
    heavy = line["e2e_exchange_heavy"]
    assert heavy["exchange_share"] > line["exchange_share"] > 0 and heavy["e2e_mb_s"] > 0
    assert "paying or spending an exchange's script |" in table(result)


@pytest.mark.slow
def test_one_chain_at_a_flagged_share() -> None:
    result = run_bench(Settings(parse_mb=1, chain_blocks=60, runs=1, reference=False),
                       REPO_BLOCKS, say=lambda _line: None, flagged_share=0.3)
    line = json.loads(dumps(result))
    assert [mix["flagged_share"] for mix in line["e2e_by_share"]] == [line["flagged_share"]]
    assert line["e2e_exchange_heavy"] is None
    assert line["flagged_share"] > 0.03  # the default mix flags under 1% at this length


def bench_script(*args: str) -> subprocess.CompletedProcess[str]:
    """`python scripts/bench.py ARGS` as a user runs it from the checkout."""
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True,
                          cwd=tmp_dir())


def tmp_dir() -> str:
    return tempfile.gettempdir()  # not the checkout: the script must find its own kit


def test_a_flagged_share_beyond_the_calibration_is_one_line() -> None:
    done = bench_script("--quick", "--flagged-share", "0.9")
    assert done.returncode == 1
    assert done.stderr.strip().startswith("Error: --flagged-share: expected 0.0134 to 0.8124")


def test_a_blocks_dir_without_the_corpus_blocks_fails_in_one_line(tmp_path: Path) -> None:
    done = bench_script("--quick", "--blocks-dir", str(tmp_path))
    assert done.returncode == 1
    assert done.stderr.strip() == (f"Error: {tmp_path}: mainnet block 702861 "
                                   f"(HEIGHT-HASH.bin) missing")


def test_the_benchmark_is_not_part_of_the_installed_command() -> None:
    assert cli("bench", "--quick", ok=False).exit_code == 2  # click: no such command
    assert importlib.util.find_spec("indexer.bench") is None


@pytest.mark.slow
def test_the_quick_bench_script_prints_one_json_line_at_a_flagged_share() -> None:
    done = bench_script("--quick", "--json", "--flagged-share", "0.3")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert 0 < line["flagged_share"] < 1 and line["e2e_mb_s"] > 0
    assert "| reindex end to end |" in done.stderr
