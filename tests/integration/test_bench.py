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
           "parse_vs_bitcoinlib", "e2e_vs_hash_ceiling")


@pytest.mark.slow
def test_a_tiny_run_reports_every_figure() -> None:
    said: list[str] = []
    result = run_bench(Settings(parse_mb=3, chain_blocks=24, runs=1, reference=True),
                       REPO_BLOCKS, say=said.append)
    line = json.loads(dumps(result))
    for name in FIGURES:
        assert isinstance(line[name], (int, float)) and line[name] > 0, name
    assert line["parse_corpus_mb"] >= 3
    assert line["e2e_corpus_txs"] > 24
    assert line["reference_index_identical"] is True
    ratio = line["parse_mb_s"] / line["bitcoinlib_mb_s"]
    assert abs(line["parse_vs_bitcoinlib"] - ratio) <= 0.1 + ratio / 100  # both are rounded
    assert "| reindex end to end |" in table(result)
    assert any("reindex:" in s for s in said)


def test_a_blocks_dir_without_the_corpus_blocks_fails_in_one_line(tmp_path: Path) -> None:
    result = cli("bench", "--quick", "--blocks-dir", str(tmp_path), ok=False)
    assert result.exit_code == 1
    assert result.output.strip() == (f"Error: {tmp_path}: mainnet block 702861 "
                                     f"(HEIGHT-HASH.bin) missing")
