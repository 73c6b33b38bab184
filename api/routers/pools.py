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
from indexer.mining import hashrate
from indexer.mining_series import WindowTotals, pool_rows, window_totals
from indexer.reader import IndexReader
from indexer.series import day_range

router = APIRouter(tags=["pools"])
Slug = Annotated[str, Path(description="A pool slug (see /v1/pools), or 'unknown'.")]
Day = Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]


def _balances(reader: IndexReader, pool_id: int) -> Balances:
    return Balances(level0=reader.balance(pool_id, 0), level1=reader.balance(pool_id, 1))


def _rate(totals: WindowTotals, work: int) -> float | None:
    return None if totals.seconds is None else hashrate(work, totals.seconds)


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
    total = totals.network.blocks
    by_id = reader.pools.by_id
    ranked = sorted(totals.pools.items(), key=lambda kv: (-kv[1].blocks, kv[0]))
    page, next_cursor = take_from(ranked, cursor, limit)
    rows = [
        PoolShare(id=pool_id, slug=by_id[pool_id].slug, name=by_id[pool_id].name,
                  blocks=t.blocks, share=t.blocks / total if total else 0.0,
                  hashrate=_rate(totals, t.work), empty_blocks=t.empty_blocks,
                  revenue=t.subsidy + t.fees, balance=_balances(reader, pool_id))
        for pool_id, t in page
    ]
    if format == "csv":
        return csv_page((r.model_dump() for r in rows), next_cursor, stale_header(reader))
    return PoolList(data=rows, count=len(rows), tip_height=reader.tip_height, window=window,
                    from_height=totals.from_height, total_blocks=total,
                    hashrate=_rate(totals, totals.network.work), next_cursor=next_cursor,
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
        totals = window_totals(reader, window, [pool.id])
        mine = totals.pools.get(pool.id)
        total = totals.network.blocks
        blocks[window] = mine.blocks if mine else 0
        share[window] = blocks[window] / total if total else 0.0
        rate[window] = _rate(totals, mine.work) if mine else 0.0
        empty[window] = mine.empty_blocks if mine else 0
        revenue[window] = mine.subsidy + mine.fees if mine else 0
    return PoolDetail(id=pool.id, slug=pool.slug, name=pool.name, link=pool.link,
                      tags=list(pool.tags), addresses=list(pool.addresses), blocks=blocks,
                      share=share, hashrate=rate, empty_blocks=empty, revenue=revenue,
                      balance=_balances(reader, pool.id), tip_height=reader.tip_height,
                      **staleness(reader))


@router.get("/pools/{slug}/hashrate", response_model=PoolHashratePage, responses=CSV_RESPONSE)
def pool_hashrate(
    reader: Reader,
    slug: Slug,
    since: Annotated[Day | None, Query(description="First day, YYYY-MM-DD.")] = None,
    until: Annotated[Day | None, Query(description="Last day, YYYY-MM-DD; inclusive.")] = None,
    cursor: Annotated[Day | None, Query(description="next_cursor of the previous page.")] = None,
    limit: Limit = 1000,
    format: Format = "json",
) -> PoolHashratePage | Response:
    """A pool's daily blocks, share, hash rate and its 7-day mean, subsidy and fees."""
    pool = reader.pool(slug)
    since_day, until_day = day_range(reader, cursor or since, until)
    rows, next_cursor = take(pool_rows(reader, pool.id, "day", since_day, until_day,
                                       average_days=7), limit, lambda r: r["date"])
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
