"""Pools: shares, hash rates and revenue over a window, one pool, its blocks, its hash rate."""

from __future__ import annotations

from typing import Annotated, get_args

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import Field

from api.deps import Reader, stale_header, staleness
from api.paging import CSV_RESPONSE, Format, Limit, Offset, csv_page, take, take_from
from api.schemas import (
    Balances,
    BlockPage,
    BlockRow,
    PoolDetail,
    PoolHashratePage,
    PoolList,
    PoolRow,
    PoolShare,
    Window,
)
from api.shapes import FieldName, Point, Shape, Unit, tv_answer
from indexer.mining_series import pool_rows, window_totals
from indexer.reader import IndexReader
from indexer.series import day_range

router = APIRouter(tags=["pools"])
Slug = Annotated[str, Path(description="A pool slug (see /v1/pools), or 'unknown'.")]
Day = Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]


def _balances(reader: IndexReader, pool_id: int) -> Balances:
    return Balances(level0=reader.balance(pool_id, 0), level1=reader.balance(pool_id, 1))


@router.get("/pools", response_model=PoolList, responses=CSV_RESPONSE)
def list_pools(
    reader: Reader,
    window: Annotated[Window, Query(description="Ending at the index tip's chain time.")] = "1w",
    cursor: Offset = 0,
    limit: Limit = 1000,
    format: Format = "json",
) -> PoolList | Response:
    """Pools that found blocks in the window, most blocks first: share, hash rate, empty
    blocks, revenue and balances."""
    totals = window_totals(reader, window)
    by_id = reader.pools.by_id
    page, next_cursor = take_from(totals.ranked(), cursor, limit)
    rows = [
        PoolShare(id=p.pool_id, slug=by_id[p.pool_id].slug, name=by_id[p.pool_id].name,
                  blocks=p.blocks, share=p.share, hashrate=p.hashrate,
                  empty_blocks=p.empty_blocks, revenue=p.revenue,
                  balance=_balances(reader, p.pool_id))
        for p in page
    ]
    if format == "csv":
        return csv_page((r.model_dump() for r in rows), next_cursor, stale_header(reader))
    return PoolList(data=rows, count=len(rows), tip_height=reader.tip_height, window=window,
                    from_height=totals.from_height, total_blocks=totals.network.blocks,
                    hashrate=totals.hashrate(totals.network.work), next_cursor=next_cursor,
                    **staleness(reader))


@router.get("/pools/{slug}", response_model=PoolDetail)
def get_pool(reader: Reader, slug: Slug) -> PoolDetail:
    """One pool: its list entry, and per window its blocks, share, hash rate, empty blocks and
    revenue; balances."""
    pool = reader.pool(slug)
    blocks: dict[str, int] = {}
    share: dict[str, float] = {}
    rate: dict[str, float | None] = {}
    empty: dict[str, int] = {}
    revenue: dict[str, int] = {}
    for window in get_args(Window):
        mine = window_totals(reader, window, [pool.id]).pool(pool.id)
        blocks[window], share[window], rate[window] = mine.blocks, mine.share, mine.hashrate
        empty[window], revenue[window] = mine.empty_blocks, mine.revenue
    return PoolDetail(id=pool.id, slug=pool.slug, name=pool.name, link=pool.link,
                      tags=list(pool.tags), addresses=list(pool.addresses), blocks=blocks,
                      share=share, hashrate=rate, empty_blocks=empty, revenue=revenue,
                      balance=_balances(reader, pool.id), tip_height=reader.tip_height,
                      **staleness(reader))


@router.get("/pools/{slug}/hashrate", response_model=PoolHashratePage | list[Point],
            responses=CSV_RESPONSE)
def pool_hashrate(
    reader: Reader,
    slug: Slug,
    since: Annotated[Day | None, Query(description="First day, YYYY-MM-DD.")] = None,
    until: Annotated[Day | None, Query(description="Last day, YYYY-MM-DD; inclusive.")] = None,
    cursor: Annotated[Day | None, Query(description="next_cursor of the previous page.")] = None,
    limit: Limit = 1000,
    format: Format = "json",
    shape: Shape = "rows",
    field: FieldName = None,
    unit: Unit = None,
) -> PoolHashratePage | Response:
    """A pool's daily blocks, share, hash rate and its 7-day mean, subsidy and fees."""
    pool = reader.pool(slug)
    since_day, until_day = day_range(reader, cursor or since, until)
    rows, next_cursor = take(pool_rows(reader, pool.id, "day", since_day, until_day,
                                       average_days=7), limit, lambda r: r["day"])
    if shape == "tv":
        return tv_answer(rows, field, unit, next_cursor)
    if format == "csv":
        return csv_page(rows, next_cursor)
    return PoolHashratePage(data=[PoolRow(**r) for r in rows], count=len(rows),
                            tip_height=reader.tip_height, pool=pool.slug,
                            next_cursor=next_cursor)


@router.get("/pools/{slug}/blocks", response_model=BlockPage, responses=CSV_RESPONSE)
def pool_blocks(
    reader: Reader,
    slug: Slug,
    cursor: Annotated[int | None, Query(ge=0, description="Return blocks below this height; "
                                        "take next_cursor of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    format: Format = "json",
) -> BlockPage | Response:
    """A pool's blocks, newest first."""
    pool = reader.pool(slug)
    heights = reader.pool_heights(pool.id, cursor, limit + 1)
    more = len(heights) > limit
    heights = heights[:limit]
    rows = [reader.block_row(reader.block(h)) for h in heights]
    next_cursor = heights[-1] if more else None
    if format == "csv":
        return csv_page(rows, next_cursor)
    return BlockPage(data=[BlockRow(**r) for r in rows], count=len(rows),
                     tip_height=reader.tip_height, next_cursor=next_cursor)
