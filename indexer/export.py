"""Row output formats shared by the CLI and the API: JSON lines and CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any, TextIO

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(text: str) -> str:
    """Text a spreadsheet would run as a formula (pool names, labels and coinbase text come
    from files written by strangers) gets a leading apostrophe, as OWASP advises."""
    return "'" + text if text.startswith(_FORMULA_START) else text


OTHER = "other"  # the column of a map's keys outside the names a CSV was given
# maps whose keys never change, made columns in this order (no `other`)
FIXED_MAPS = {"to_exchange_by_age": ("lt_1d", "1d_1w", "1w_1m", "1m_1y", "ge_1y")}


def flat_maps(row: dict[str, Any], names: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """The row with every map made columns, `<field>.<key>`: the keys `names` gives for the
    field (0 where the row lacks one) and `<field>.other` summing any other key, so every row
    of an export has the same columns; else the map's own keys, in order."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if not isinstance(value, dict):
            out[key] = value
            continue
        fixed = FIXED_MAPS.get(key)
        if fixed is not None:
            out.update((f"{key}.{name}", value.get(name, 0)) for name in fixed)
            continue
        known = (names or {}).get(key)
        for name in known if known is not None else sorted(value):
            out[f"{key}.{name}"] = value.get(name, 0)
        if known is not None:
            out[f"{key}.{OTHER}"] = sum(v for n, v in value.items() if n not in known)
    return out


def csv_row(row: dict[str, Any], names: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """A row with flat cells: maps as columns (`flat_maps`), lists compact JSON, booleans
    true/false, None empty, text escaped against formula injection."""
    return {key: _cell(value) for key, value in flat_maps(row, names).items()}


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return csv_cell(value)
    return "" if value is None else value


def write_rows(rows: Iterable[dict[str, Any]], fmt: str, stream: TextIO,
               names: dict[str, list[str]] | None = None) -> int:
    """Write rows as `jsonl` or `csv` (header from the first row, maps flattened with `names`
    as `csv_row` does); returns the row count."""
    count = 0
    writer: csv.DictWriter[str] | None = None
    for row in rows:
        if fmt == "jsonl":
            stream.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            flat = csv_row(row, names)
            if writer is None:
                writer = csv.DictWriter(stream, fieldnames=list(flat), lineterminator="\n")
                writer.writeheader()
            writer.writerow(flat)
        count += 1
    return count


def to_csv(rows: Iterable[dict[str, Any]], names: dict[str, list[str]] | None = None) -> str:
    buffer = io.StringIO()
    write_rows(rows, "csv", buffer, names)
    return buffer.getvalue()


def exchange_columns(labels_summary: dict[str, Any]) -> dict[str, list[str]]:
    """The CSV columns of `to_exchange_by`: every exchange of the label set, in order."""
    return {"to_exchange_by": sorted(labels_summary.get("exchanges", {}))}
