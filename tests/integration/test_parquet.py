"""Parquet exports of a real index read back with DuckDB: the same rows and totals as the CSV
exports, partitioned by year."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import duckdb
import pytest

from tests.conftest import cli

EXPORTS = {
    "blocks": (["blocks"], ["size", "tx_count", "pool_id"]),
    "series": (["series", "--entity", "foundryusa", "--level", "1"],
               ["mined", "inflow", "outflow", "fees", "to_exchange"]),
    "series-block": (["series", "--entity", "all", "--interval", "block"],
                     ["mined", "outflow", "to_exchange"]),
    "network": (["network"], ["blocks", "subsidy", "fees"]),
    "network-pool": (["network", "--pool", "antpool", "--interval", "week"],
                     ["blocks", "subsidy", "empty_blocks"]),
}


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_parquet_totals_equal_the_csv_exports(name: str, story_index: Path,
                                              tmp_path: Path) -> None:
    args, sums = EXPORTS[name]
    csv_text = cli("export", *args, "--index", story_index, "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    out = tmp_path / name
    cli("export", *args, "--index", story_index, "--format", "parquet", "--output", out)
    table = f"read_parquet('{out}/**/*.parquet', hive_partitioning = true)"
    db = duckdb.connect()
    assert db.execute(f"select count(*) from {table}").fetchone() == (len(rows),)
    for column in sums:
        assert db.execute(f"select sum({column}) from {table}").fetchone() == (
            sum(int(r[column]) for r in rows),), column
    # one partition per year, every row in its own year's
    key = "time" if "time" in rows[0] else "day"
    order = "height" if "height" in rows[0] else key
    got = db.execute(f"select year, {key} from {table} order by {order}").fetchall()
    assert [r[0] for r in got] == [year(r[key]) for r in rows]
    assert sorted(p.name for p in out.iterdir()) == sorted({f"year={year(r[key])}" for r in rows})
    # and the columns are the CSV's
    described = db.execute(f"describe select * exclude (year) from {table}").fetchall()
    columns = [c[0] for c in described]
    assert columns == list(rows[0])


def year(value: str) -> int:
    """The year of a date text or of unix seconds."""
    if "-" in value:
        return int(value[:4])
    return dt.datetime.fromtimestamp(int(value), dt.UTC).year


def test_parquet_needs_an_empty_output_directory(story_index: Path, tmp_path: Path) -> None:
    missing = cli("export", "blocks", "--index", story_index, "--format", "parquet", ok=False)
    assert missing.exit_code == 1
    assert missing.output.strip() == "Error: --format parquet writes a directory: give --output DIR"
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    taken = cli("export", "blocks", "--index", story_index, "--format", "parquet", "--output",
                tmp_path / "taken", ok=False)
    assert taken.exit_code == 1 and "new or empty directory" in taken.output
    assert (tmp_path / "taken" / "file").read_text() == "x"
