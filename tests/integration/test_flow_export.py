"""Flows per transaction, replayed from the block files: they add up, per entity, level and
day, to expected.json's series and final balances, round-trip through Parquet and DuckDB, and
a replay from files that do not hold the indexed chain stops with one line."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb

from tests.conftest import DATA, SAMPLE, STORY, cli, export_jsonl
from tests.integration.test_sync import sync_cli
from tests.replay_node import ReplayNode

FIELDS = ("mined", "inflow", "outflow", "fees", "to_exchange")


def day_of(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).date().isoformat()


def test_flows_per_transaction_add_up_to_the_series(story_index: Path, expected: Any) -> None:
    rows = export_jsonl("flows", "--index", story_index, "--datadir", SAMPLE)
    assert rows and all(r["txid"] and len(r["txid"]) == 64 for r in rows)
    assert any(r["tx_index"] > 0 for r in rows) and any(r["to_exchange"] for r in rows)
    sums: dict[tuple[str, int, str], dict[str, Any]] = defaultdict(
        lambda: {**dict.fromkeys(FIELDS, 0), "to_exchange_by": defaultdict(int)})
    balance: dict[tuple[str, int], int] = defaultdict(int)
    for row in rows:
        for entity in (row["entity"], "all"):
            day = sums[(entity, row["level"], day_of(row["time"]))]
            for field in FIELDS:
                day[field] += row[field]
            for name, value in row["to_exchange_by"].items():
                day["to_exchange_by"][name] += value
            balance[(entity, row["level"])] += row["balance_change"]
    for slug, levels in expected["daily"].items():
        for level_name, days in levels.items():
            level = int(level_name[-1])
            for want in days:
                got = sums.get((slug, level, want["day"]))
                flows = {f: want[f] for f in FIELDS}
                if got is None:
                    assert not any(flows.values()), (slug, level, want["day"])
                    continue
                assert {f: got[f] for f in FIELDS} == flows, (slug, level, want["day"])
                assert dict(got["to_exchange_by"]) == want["to_exchange_by"]
            assert balance[(slug, level)] == expected["final_balances"][slug][level_name]


def test_flows_round_trip_through_parquet(story_index: Path, tmp_path: Path) -> None:
    text = cli("export", "flows", "--index", story_index, "--datadir", SAMPLE,
               "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    cli("export", "flows", "--index", story_index, "--datadir", SAMPLE, "--format", "parquet",
        "--output", tmp_path / "flows")
    db = duckdb.connect()
    table = f"read_parquet('{tmp_path}/flows/**/*.parquet', hive_partitioning = true)"
    assert db.execute(f"select count(*) from {table}").fetchone() == (len(rows),)
    for field in (*FIELDS, "balance_change"):
        assert db.execute(f"select sum({field}) from {table}").fetchone() == (
            sum(int(r[field]) for r in rows),)


def test_files_that_do_not_hold_the_indexed_chain_are_one_line(story_index: Path) -> None:
    torn = cli("export", "flows", "--index", story_index, "--datadir",
               DATA / "regtest-story-torn", ok=False)
    assert torn.exit_code == 1 and "Traceback" not in torn.output
    assert "Error: the block files end at height 179, the index at 182" in (
        torn.output.splitlines())


def test_files_of_another_branch_are_one_line(tmp_path: Path) -> None:
    node = ReplayNode(STORY, "before-reorg").start()
    try:
        sync_cli(node, tmp_path / "index")  # the chain before the reorg at 175: tip 178
    finally:
        node.stop()
    other = cli("export", "flows", "--index", tmp_path / "index", "--datadir", SAMPLE,
                "--format", "csv", ok=False)
    assert other.exit_code == 1 and "Traceback" not in other.output
    errors = [line for line in other.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and errors[0].startswith("Error: the block files hold block ")
    assert "at height 175, the index another" in errors[0]
