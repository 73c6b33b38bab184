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


def csv_row(row: dict[str, Any]) -> dict[str, Any]:
    """Nested values as compact JSON, booleans as true/false, None as empty, text escaped
    against formula injection."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict | list):
            out[key] = json.dumps(value, separators=(",", ":"), sort_keys=True,
                                  ensure_ascii=False)
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, str):
            out[key] = csv_cell(value)
        else:
            out[key] = "" if value is None else value
    return out


def write_rows(rows: Iterable[dict[str, Any]], fmt: str, stream: TextIO) -> int:
    """Write rows as `jsonl` or `csv` (header from the first row); returns the row count."""
    count = 0
    writer: csv.DictWriter[str] | None = None
    for row in rows:
        if fmt == "jsonl":
            stream.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            flat = csv_row(row)
            if writer is None:
                writer = csv.DictWriter(stream, fieldnames=list(flat), lineterminator="\n")
                writer.writeheader()
            writer.writerow(flat)
        count += 1
    return count


def to_csv(rows: Iterable[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    write_rows(rows, "csv", buffer)
    return buffer.getvalue()
