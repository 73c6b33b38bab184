"""Cursor pages and CSV for every list endpoint.

A page holds at most `limit` rows; `next_cursor` (JSON) or the `X-Next-Cursor` header (CSV)
names where the next page starts, and is absent on the last page. Series and retargets page by
their own key (a height or a date: pass it back as `cursor`); short computed lists (pools in a
window, balances, exchange flows) page by position.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import islice
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Query
from fastapi.responses import PlainTextResponse, Response
from pydantic import Field

from indexer.export import to_csv

MAX_LIMIT = 10_000
NEXT_CURSOR_HEADER = "X-Next-Cursor"
T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows per page.")]
Format = Annotated[Literal["json", "csv"], Query(description="csv: the same rows as CSV, "
                                                 "the next cursor in the X-Next-Cursor header.")]
Offset = Annotated[int, Query(ge=0, description="Position of the first row: take "
                              "next_cursor of the previous page.")]
# A height, or a day as text (pydantic's date would take "1.5" as a unix timestamp); the series
# parser checks the day is a real one.
Bound = Annotated[int, Field(ge=0)] | Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
Since = Annotated[Bound | None, Query(description="A height, or a day YYYY-MM-DD.")]
Until = Annotated[Bound | None, Query(description="A height, or a day YYYY-MM-DD; inclusive.")]
Cursor = Annotated[Bound | None, Query(description="next_cursor of the previous page.")]
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}},
          "headers": {NEXT_CURSOR_HEADER: {"description": "Where the next page starts "
                                           "(absent on the last page).",
                                           "schema": {"type": "string"}}}},
}


def first_bound(cursor: int | str | None, since: int | str | None) -> str | None:
    """Where a series page starts, as the series parser reads it: the cursor, else `since`
    (heights beyond the chain clamp there)."""
    bound = cursor if cursor is not None else since
    return None if bound is None else str(bound)


def as_text(bound: int | str | None) -> str | None:
    return None if bound is None else str(bound)


def take(rows: Iterable[T], limit: int, cursor_of: Callable[[T], Any]) -> tuple[list[T], Any]:
    """The first `limit` rows and the cursor of the row after them (None when none is left)."""
    page = list(islice(rows, limit + 1))
    if len(page) > limit:
        return page[:limit], cursor_of(page[limit])
    return page, None


def take_from(rows: list[T], offset: int, limit: int) -> tuple[list[T], int | None]:
    """A page of an in-memory list by position."""
    end = offset + limit
    return rows[offset:end], end if end < len(rows) else None


def csv_page(rows: Iterable[dict[str, Any]], next_cursor: object,
             headers: dict[str, str] | None = None,
             names: dict[str, list[str]] | None = None) -> Response:
    """Rows as CSV, maps flattened into columns (`names`: see `indexer.export.csv_row`)."""
    headers = dict(headers or {})
    if next_cursor is not None:
        headers[NEXT_CURSOR_HEADER] = str(next_cursor)
    return PlainTextResponse(to_csv(rows, names), media_type="text/csv", headers=headers)
