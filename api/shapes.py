"""`?shape=tv&field=F&unit=sats|btc|usd`: any series as the `[{t, v}]` list Glassnode's API
answers (one metric per call, `t` the unix time of the period's start, as Glassnode labels
its points), so scripts written for it read ours unchanged. `docs/glassnode.md` maps their
metric paths to our endpoints and fields."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from fastapi import Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.paging import NEXT_CURSOR_HEADER
from indexer.derived import USD_FIELDS
from indexer.errors import BadParameter

Shape = Annotated[Literal["rows", "tv"], Query(
    description="rows: the page as usual; tv: the list [{t, v}] of one field (Glassnode's "
    "shape), the next cursor in the X-Next-Cursor header.")]
FieldName = Annotated[str | None, Query(
    description="shape=tv: the numeric field given as v (balance, outflow, hashrate, ...).")]
Unit = Annotated[Literal["sats", "btc", "usd"] | None, Query(
    description="shape=tv, an amount field: sats (the default), btc, or usd (needs imported "
    "prices).")]
AMOUNTS = frozenset({*USD_FIELDS, "subsidy", "supply", "net_position_change_30d"})


class Point(BaseModel):
    t: int = Field(description="Unix time (seconds) of the period's start: 00:00 UTC of its "
                   "first day, or the block's chain time.")
    v: float | int | None = Field(description="The field's value in the unit asked for.")


def start_of(row: dict[str, Any]) -> int:
    """The unix time a row's period starts: a block's chain time, a day's midnight (UTC)."""
    if "time" in row and "height" in row:
        return int(row["time"])
    day = row.get("day")
    return calendar.timegm(dt.date.fromisoformat(str(day)).timetuple())


def tv_answer(rows: Iterable[dict[str, Any]], field: str | None, unit: str | None,
              next_cursor: object) -> JSONResponse:
    """The page's rows as [{t, v}]; BadParameter (422) for a field these rows lack or that
    is not a number, or a unit the field cannot take."""
    if field is None:
        raise BadParameter("field: shape=tv needs the field to give as v, e.g. field=balance")
    if unit is not None and unit != "sats" and field not in AMOUNTS:
        raise BadParameter(f"unit: {field} is not an amount in sats; leave unit out")
    points = []
    for row in rows:
        key = f"{field}_usd" if unit == "usd" else field
        if field not in row or isinstance(row[field], bool) or not isinstance(
                row[field], int | float | None):
            numeric = sorted(k for k, v in row.items() if isinstance(v, int | float)
                             and not isinstance(v, bool) and k not in ("height", "time"))
            raise BadParameter(f"field: {field!r} is not a number of these rows; one of "
                               f"{', '.join(numeric)}")
        if key not in row:
            raise BadParameter("unit: usd needs daily prices: import them with "
                               "`minerflow prices import`")
        value = row[key]
        if unit == "btc" and value is not None:
            value = value / 100_000_000
        points.append({"t": start_of(row), "v": value})
    headers = {} if next_cursor is None else {NEXT_CURSOR_HEADER: str(next_cursor)}
    return JSONResponse(points, headers=headers)
