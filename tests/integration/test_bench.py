"""The benchmark runs end to end on tiny corpora and reports every figure the README quotes.
Speed itself is never asserted: the figures are printed by `scripts/bench.py`, not tested."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexer.bench.run import Settings, dumps, run_bench, table
from indexer.cli.bench import REPO_BLOCKS
from tests.conftest import cli

FIGURES = ("parse_mb_s", "parse_tx_s", "bitcoinlib_mb_s", "hash_ceiling_mb_s", "e2e_mb_s",
           "e2e_tx_s", "peak_rss_mb", "index_bytes_per_tx", "projected_mainnet_hours",
           "parse_vs_bitcoinlib", "e2e_vs_hash_ceiling", "flagged_share", "e2e_cpu_per_wall")


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
    ratio = line["parse_mb_s"] / line["bitcoinlib_mb_s"]
    assert abs(line["parse_vs_bitcoinlib"] - ratio) <= 0.1 + ratio / 100  # both are rounded
    assert "| reindex end to end |" in table(result)
    assert any("reindex:" in s for s in said)
    # the default mix, then chains made to carry more miner transactions: more are flagged
    shares = [mix["flagged_share"] for mix in line["e2e_by_share"]]
    assert len(shares) == 3 and shares[0] == line["flagged_share"]
    assert shares[0] < shares[1] < shares[2]
    assert line["e2e_by_share"][0]["e2e_mb_s"] == line["e2e_mb_s"]


@pytest.mark.slow
def test_one_chain_at_a_flagged_share() -> None:
    result = run_bench(Settings(parse_mb=1, chain_blocks=60, runs=1, reference=False),
                       REPO_BLOCKS, say=lambda _line: None, flagged_share=0.3)
    line = json.loads(dumps(result))
    assert [mix["flagged_share"] for mix in line["e2e_by_share"]] == [line["flagged_share"]]
    assert line["flagged_share"] > 0.03  # the default mix flags under 1% at this length


def test_a_flagged_share_beyond_the_calibration_is_one_line() -> None:
    result = cli("bench", "--quick", "--flagged-share", "0.9", ok=False)
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: --flagged-share: expected 0.0134 to 0.8124")


def test_a_blocks_dir_without_the_corpus_blocks_fails_in_one_line(tmp_path: Path) -> None:
    result = cli("bench", "--quick", "--blocks-dir", str(tmp_path), ok=False)
    assert result.exit_code == 1
    assert result.output.strip() == (f"Error: {tmp_path}: mainnet block 702861 "
                                     f"(HEIGHT-HASH.bin) missing")
