"""Miner series (SPEC 5), latest balances, and miner -> exchange flows."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse, Response
from pydantic import Field

from api.deps import Reader
from api.schemas import BalanceList, EntityBalance, ExchangeFlow, ExchangeFlows, SeriesPage, Window
from indexer.export import to_csv
from indexer.reader import exchange_flows
from indexer.series import series_rows

router = APIRouter(tags=["miners"])
Level = Annotated[int, Query(ge=0, le=1, description="0: 0-hop coins; 1: 0-hop and 1-hop.")]
# A height, or a day as text (pydantic's date would take "1.5" as a unix timestamp); the series
# parser checks the day is a real one.
Bound = Annotated[int, Field(ge=0)] | Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]


def as_text(bound: int | str | None) -> str | None:
    """The bound as the series parser reads it (heights beyond the chain clamp there)."""
    return None if bound is None else str(bound)


@router.get("/miners/series", response_model=SeriesPage,
            responses={200: {"content": {"text/csv": {}}}})
def miner_series(
    reader: Reader,
    entity: Annotated[str, Query(description="A pool slug, 'unknown' or 'all'.")] = "all",
    level: Level = 1,
    interval: Literal["day", "block"] = "day",
    since: Annotated[Bound | None, Query(description="A height, or a day YYYY-MM-DD.")] = None,
    until: Annotated[Bound | None, Query(description="A height, or a day YYYY-MM-DD; "
                                         "inclusive.")] = None,
    format: Literal["json", "csv"] = "json",
    derived: Annotated[bool, Query(description="Daily only: add net_position_change_30d and "
                                   "outflow_multiple (BTC).")] = False,
) -> SeriesPage | Response:
    """Balance, mined, inflow, outflow, fees and flows to exchanges, per day or per block."""
    rows = list(series_rows(reader, entity, level, interval, as_text(since), as_text(until),
                            derived))
    if format == "csv":
        return PlainTextResponse(to_csv(rows), media_type="text/csv")
    return SeriesPage(data=rows, count=len(rows), tip_height=reader.tip_height, entity=entity,
                      level=level, interval=interval)


@router.get("/miners/balances", response_model=BalanceList)
def miner_balances(reader: Reader) -> BalanceList:
    """The latest balance of every entity at both levels, largest level-1 balance first."""
    rows = [
        EntityBalance(entity=e.slug, name=e.name, level0=reader.balance(e.id, 0),
                      level1=reader.balance(e.id, 1))
        for e in reader.entities()
    ]
    rows.sort(key=lambda r: (r.entity != "all", -r.level1, r.entity))
    return BalanceList(data=rows, count=len(rows), tip_height=reader.tip_height)


@router.get("/exchanges/flows", response_model=ExchangeFlows)
def exchange_flow_totals(reader: Reader, window: Window = "1m", level: Level = 1) -> ExchangeFlows:
    """Direct miner -> exchange transfers per pool and exchange over the window."""
    _counts, _total, first = reader.pool_counts(window)
    totals = exchange_flows(reader, level, first)
    by_id = reader.pools.by_id
    rows = [ExchangeFlow(entity=by_id[eid].slug, exchange=name, value=value)
            for (eid, name), value in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))]
    return ExchangeFlows(data=rows, count=len(rows), tip_height=reader.tip_height, window=window,
                         level=level, from_height=first)
