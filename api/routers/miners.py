"""Miner series (SPEC 5), latest balances, and miner -> exchange flows."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
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
from api.schemas import (
    BalanceList,
    EntityBalance,
    ExchangeFlow,
    ExchangeFlows,
    Interval,
    SeriesPage,
    Window,
)
from api.shapes import FieldName, Point, Shape, Unit, tv_answer
from indexer.export import exchange_columns
from indexer.labels.indexed import stored_summary
from indexer.mining_series import window_totals
from indexer.prices import has_prices
from indexer.reader import exchange_flows
from indexer.series import series_rows

router = APIRouter(tags=["miners"])
Level = Annotated[int, Query(ge=0, le=1, description="0: 0-hop coins; 1: 0-hop and 1-hop.")]


@router.get("/miners/series", response_model=SeriesPage | list[Point], responses=CSV_RESPONSE,
            response_model_exclude_unset=True)  # a row has the fields its kind has
def miner_series(
    reader: Reader,
    entity: Annotated[str, Query(description="A pool slug, 'unknown' or 'all'.")] = "all",
    level: Level = 1,
    interval: Annotated[Interval, Query(description="Weeks start on Monday, months on the "
                                        "1st (UTC); rows name their first day.")] = "day",
    since: Since = None,
    until: Until = None,
    cursor: Cursor = None,
    limit: Limit = 1000,
    format: Format = "json",
    derived: Annotated[bool, Query(description="Daily only: add net_position_change_30d "
                                   "(sats), outflow_multiple and outflow_revenue_ratio.")] = False,
    shape: Shape = "rows",
    field: FieldName = None,
    unit: Unit = None,
) -> SeriesPage | Response:
    """Balance, mined, inflow, outflow, fees and flows to exchanges (sats), per day, week,
    month or block."""
    rows = series_rows(reader, entity, level, interval, first_bound(cursor, since),
                       as_text(until), derived)
    page, next_cursor = take(rows, limit, lambda r: r["height" if interval == "block" else "day"])
    if shape == "tv":
        return tv_answer(page, field, unit, next_cursor)
    if format == "csv":
        return csv_page(page, next_cursor, stale_header(reader),
                        exchange_columns(stored_summary(reader.store)))
    rows_as_given: Any = page  # validated into MinerRow, unset fields left out of the answer
    return SeriesPage(data=rows_as_given, count=len(page), tip_height=reader.tip_height,
                      entity=entity,
                      level=level, interval=interval, next_cursor=next_cursor,
                      prices="imported" if has_prices(reader) else "none",
                      **staleness(reader))


@router.get("/miners/balances", response_model=BalanceList, responses=CSV_RESPONSE)
def miner_balances(reader: Reader, cursor: Offset = 0, limit: Limit = 1000,
                   format: Format = "json") -> BalanceList | Response:
    """The latest balance (sats) of every entity at both levels and its share of the supply
    at the tip (SPEC 5.2), largest level-1 first."""
    supply = reader.supply()
    rows = []
    for e in reader.entities():
        level0, level1 = reader.balance(e.id, 0), reader.balance(e.id, 1)
        rows.append(EntityBalance(entity=e.slug, name=e.name, level0=level0, level1=level1,
                                  level0_share_of_supply=reader.share_of_supply(level0),
                                  level1_share_of_supply=reader.share_of_supply(level1)))
    rows.sort(key=lambda r: (r.entity != "all", -r.level1, r.entity))
    page, next_cursor = take_from(rows, cursor, limit)
    if format == "csv":
        return csv_page((r.model_dump() for r in page), next_cursor, stale_header(reader))
    return BalanceList(data=page, count=len(page), tip_height=reader.tip_height, supply=supply,
                       next_cursor=next_cursor, **staleness(reader))


@router.get("/exchanges/flows", response_model=ExchangeFlows, responses=CSV_RESPONSE)
def exchange_flow_totals(reader: Reader, window: Window = "1m", level: Level = 1,
                         cursor: Offset = 0, limit: Limit = 1000,
                         format: Format = "json") -> ExchangeFlows | Response:
    """Direct miner -> exchange transfers (sats) per pool and exchange over the window."""
    first = window_totals(reader, window, []).from_height
    totals = exchange_flows(reader, level, first)
    by_id = reader.pools.by_id
    rows = [ExchangeFlow(entity=by_id[eid].slug, exchange=name, value=value)
            for (eid, name), value in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))]
    page, next_cursor = take_from(rows, cursor, limit)
    if format == "csv":
        return csv_page((r.model_dump() for r in page), next_cursor, stale_header(reader))
    return ExchangeFlows(data=page, count=len(page), tip_height=reader.tip_height,
                         window=window, level=level, from_height=first,
                         next_cursor=next_cursor, **staleness(reader))
