"""The network: its series (or one pool's), difficulty adjustments, reward stats (SPEC 5)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.deps import Reader
from api.paging import (
    CSV_RESPONSE,
    Cursor,
    Format,
    Limit,
    Since,
    Until,
    as_text,
    csv_page,
    first_bound,
    take,
)
from api.schemas import (
    AdjustmentPage,
    DifficultyAdjustment,
    Interval,
    NetworkSeriesPage,
    RewardStats,
)
from api.shapes import FieldName, Point, Shape, Unit, tv_answer
from indexer.mining_series import difficulty_adjustments, reward_stats
from indexer.series import network_series
from indexer.store import keys

router = APIRouter(tags=["network"])


@router.get("/network/series", response_model=NetworkSeriesPage | list[Point],
            responses=CSV_RESPONSE)
def get_network_series(
    reader: Reader,
    pool: Annotated[str | None, Query(description="A pool slug or 'unknown': that pool's "
                                      "blocks, share and hash rate instead.")] = None,
    interval: Annotated[Interval, Query(description="Weeks start on Monday, months on the "
                                        "1st (UTC).")] = "day",
    since: Since = None,
    until: Until = None,
    cursor: Cursor = None,
    limit: Limit = 1000,
    format: Format = "json",
    shape: Shape = "rows",
    field: FieldName = None,
    unit: Unit = None,
) -> NetworkSeriesPage | Response:
    """Blocks, subsidy and fees (sats), difficulty and hash rate (H/s) per day, week or month;
    per block: size, weight, subsidy, fees, difficulty. With `pool`: that pool's blocks,
    share, hash rate, subsidy, fees and empty blocks."""
    rows = network_series(reader, pool, interval, first_bound(cursor, since), as_text(until))
    key = "height" if interval == "block" else "day"
    page, next_cursor = take(rows, limit, lambda r: r[key])
    if shape == "tv":
        return tv_answer(page, field, unit, next_cursor)
    if format == "csv":
        return csv_page(page, next_cursor)
    data: Any = page
    return NetworkSeriesPage(data=data, count=len(page), tip_height=reader.tip_height,
                             pool=pool, interval=interval, next_cursor=next_cursor)


@router.get("/network/difficulty-adjustments", response_model=AdjustmentPage,
            responses=CSV_RESPONSE)
def get_difficulty_adjustments(
    reader: Reader,
    cursor: Annotated[int | None, Query(ge=0, description="First height: next_cursor of the "
                                        "previous page.")] = None,
    limit: Limit = 1000,
    format: Format = "json",
) -> AdjustmentPage | Response:
    """Every retarget (a height that is a multiple of 2016) that changed the target, oldest
    first, with the difficulty before and after and their ratio."""
    start = min(cursor or 0, keys.MAX_HEIGHT)
    rows, next_cursor = take(difficulty_adjustments(reader, start), limit,
                             lambda r: r["height"])
    if format == "csv":
        return csv_page(rows, next_cursor)
    return AdjustmentPage(data=[DifficultyAdjustment(**r) for r in rows], count=len(rows),
                          tip_height=reader.tip_height, next_cursor=next_cursor)


@router.get("/mining/reward-stats", response_model=RewardStats, responses=CSV_RESPONSE)
def get_reward_stats(
    reader: Reader,
    blocks: Annotated[int, Query(ge=1, le=keys.MAX_HEIGHT, description="How many of the "
                                 "newest blocks.")] = 144,
    format: Format = "json",
) -> RewardStats | Response:
    """Subsidy, claimed fees, revenue and transactions of the newest `blocks` blocks."""
    stats = RewardStats(**reward_stats(reader, blocks), tip_height=reader.tip_height)
    if format == "csv":
        return csv_page([stats.model_dump()], None)
    return stats
