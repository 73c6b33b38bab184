"""The rows of each `minerflow export` kind, by name and parameters.

The CLI writes them from the index it opens, or, while `minerflow serve` holds the index, from
the server (`GET /v1/export/{kind}`), which runs these same functions over its own snapshot:
both give the same rows, in the same order, with the same fields.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from indexer.exchange_series import exchange_series
from indexer.reader import IndexReader
from indexer.series import network_series, series_rows

KINDS = ("blocks", "series", "network", "exchanges")


@dataclass(frozen=True, slots=True)
class ExportQuery:
    """What an export asks for (the options of `minerflow export KIND`)."""

    kind: str
    entity: str = "all"  # series: a pool slug; exchanges: an exchange slug
    level: int = 1
    interval: str = "day"
    since: str | None = None
    until: str | None = None
    derived: bool = False
    pool: str | None = None

    def params(self) -> dict[str, str]:
        """As query parameters of `GET /v1/export/{kind}` (unset ones left out)."""
        out = {}
        for key, value in asdict(self).items():
            if key == "kind" or value is None:
                continue
            out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
        return out


def rows_of(reader: IndexReader, query: ExportQuery) -> Iterator[dict[str, Any]]:
    if query.kind == "blocks":
        return (reader.block_row(r) for r in reader.blocks())
    if query.kind == "series":
        return series_rows(reader, query.entity, query.level, query.interval, query.since,
                           query.until, query.derived)
    if query.kind == "network":
        return network_series(reader, query.pool, query.interval, query.since, query.until)
    if query.kind == "exchanges":
        return exchange_series(reader, query.entity, query.interval, query.since, query.until)
    raise ValueError(f"no export kind {query.kind!r}")
