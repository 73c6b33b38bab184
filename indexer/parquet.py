"""Columnar export: the rows of any export as Parquet files partitioned by year.

`OUT/year=YYYY/part-0.parquet` (Hive partitioning), so DuckDB, Spark or BigQuery read the
directory as one table and prune years. The columns are the export's fields, in its order;
nested values (`to_exchange_by`) are compact JSON text, as in CSV. Rows arrive in time order,
so each year's file is written once, in batches, without holding the export in memory.
Needs the optional `pyarrow` (`pip install 'minerflow[parquet]'`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from itertools import groupby, islice
from pathlib import Path
from typing import Any

from indexer.errors import ConfigError
from indexer.export import flat_maps

BATCH_ROWS = 50_000
# Columns whose values may all be null in a batch get their type from here, not from the data.
_FLOAT_FIELDS = {"share", "hashrate", "hashrate_7d", "difficulty", "previous_difficulty",
                 "change", "net_position_change_30d_usd", "outflow_multiple",
                 "outflow_revenue_ratio", "to_exchange_age_days"}
_TEXT_FIELDS = {"tag_pool"}


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise ConfigError("the parquet format needs pyarrow: pip install 'minerflow[parquet]'"
                          ) from None
    return pyarrow


def year_of(row: dict[str, Any]) -> int:
    """The row's year: of its day (text), else of its time (unix seconds)."""
    if "day" in row:
        return int(str(row["day"])[:4])
    return dt.datetime.fromtimestamp(int(row["time"]), dt.UTC).year


def _flat(row: dict[str, Any], names: dict[str, list[str]] | None) -> dict[str, Any]:
    """Maps as columns, as the CSV has them (`flat_maps`); lists as compact JSON text."""
    return {k: json.dumps(v, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
            if isinstance(v, list) else v for k, v in flat_maps(row, names).items()}


def _schema(pa: Any, row: dict[str, Any]) -> Any:
    fields = []
    for name, value in row.items():
        if name in _FLOAT_FIELDS:
            kind = pa.float64()
        elif name in _TEXT_FIELDS or isinstance(value, str):
            kind = pa.string()
        elif isinstance(value, bool):
            kind = pa.bool_()
        elif isinstance(value, int):
            kind = pa.int64()
        elif isinstance(value, float):
            kind = pa.float64()
        else:
            raise ConfigError(f"parquet: no column type for field {name!r}")
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


def write_parquet(rows: Iterable[dict[str, Any]], out: Path,
                  names: dict[str, list[str]] | None = None) -> int:
    """Write the rows under `out` (a new or empty directory), maps as columns as the CSV has
    them (`names`: see `indexer.export.flat_maps`); returns the row count."""
    pa = _pyarrow()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out}: the parquet output must be a new or empty directory")
    count = 0
    schema = None
    for year, year_rows in groupby((_flat(r, names) for r in rows), key=year_of):
        folder = out / f"year={year}"
        if folder.exists():
            raise ConfigError(f"{out}: rows of {year} came again after another year's")
        folder.mkdir(parents=True)
        writer = None
        try:
            while batch := list(islice(year_rows, BATCH_ROWS)):
                schema = schema or _schema(pa, batch[0])
                if writer is None:
                    writer = pa.parquet.ParquetWriter(folder / "part-0.parquet", schema)
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                count += len(batch)
        finally:
            if writer is not None:
                writer.close()
    return count
