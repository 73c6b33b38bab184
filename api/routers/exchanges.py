"""Exchange series of every coin (SPEC 5.1): the exchanges with their balances and netflows,
and one exchange's (or `all`'s) series."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response

from api.deps import Reader, stale_header, staleness
from api.paging import (
    CSV_RESPONSE,
    Cursor,
    Format,
    Limit,
    Offset,
    Since,
    Until,
    as_text,
    csv_page,
    first_bound,
    take,
    take_from,
)
from api.schemas import ExchangeList, ExchangeSeriesPage, ExchangeSummary, Interval
from indexer.exchange_series import exchange_series, overview

router = APIRouter(tags=["exchanges"])


@router.get("/exchanges", response_model=ExchangeList, responses=CSV_RESPONSE)
def exchanges(reader: Reader, cursor: Offset = 0, limit: Limit = 1000,
              format: Format = "json") -> ExchangeList | Response:
    """Every exchange of the label set, in id order, then `all`: its balance at the tip and
    its netflow (sats) over the last 24 hours, 7 days and 30 days."""
    rows = [ExchangeSummary(**row) for row in overview(reader)]
    page, next_cursor = take_from(rows, cursor, limit)
    if format == "csv":
        return csv_page((r.model_dump() for r in page), next_cursor, stale_header(reader))
    return ExchangeList(data=page, count=len(page), tip_height=reader.tip_height,
                        next_cursor=next_cursor, **staleness(reader))


@router.get("/exchanges/{slug}/series", response_model=ExchangeSeriesPage,
            responses=CSV_RESPONSE, response_model_exclude_unset=True)
def exchange_rows(
    reader: Reader,
    slug: Annotated[str, Path(description="An exchange slug (see /v1/exchanges) or 'all'.")],
    interval: Interval = "day",
    since: Since = None,
    until: Until = None,
    cursor: Cursor = None,
    limit: Limit = 1000,
    format: Format = "json",
) -> ExchangeSeriesPage | Response:
    """Balance, inflow, outflow, netflow, fees, from_miners and from_coinbase (sats) of one
    exchange, or of all exchanges as one entity, per day, week, month or block."""
    rows = exchange_series(reader, slug, interval, first_bound(cursor, since), as_text(until))
    page, next_cursor = take(rows, limit, lambda r: r["height" if interval == "block" else "day"])
    if format == "csv":
        return csv_page(page, next_cursor, stale_header(reader))
    rows_as_given: Any = page  # validated into ExchangeRow
    return ExchangeSeriesPage(data=rows_as_given, count=len(page), tip_height=reader.tip_height,
                              exchange=slug, interval=interval, next_cursor=next_cursor,
                              **staleness(reader))
