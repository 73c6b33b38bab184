"""Pools: shares over a window, one pool, a pool's blocks (newest first, cursor by height)."""

from __future__ import annotations

from typing import Annotated, get_args

from fastapi import APIRouter, Path, Query

from api.deps import Reader
from api.schemas import Balances, BlockPage, BlockRow, PoolDetail, PoolList, PoolShare, Window

router = APIRouter(tags=["pools"])
Slug = Annotated[str, Path(description="A pool slug (see /v1/pools), or 'unknown'.")]


def _balances(reader: Reader, pool_id: int) -> Balances:
    return Balances(level0=reader.balance(pool_id, 0), level1=reader.balance(pool_id, 1))


@router.get("/pools", response_model=PoolList)
def list_pools(
    reader: Reader,
    window: Annotated[Window, Query(description="Ending at the index tip's chain time.")] = "1w",
) -> PoolList:
    """Pools that found blocks in the window, most blocks first, with share and balances."""
    counts, total, first = reader.pool_counts(window)
    by_id = reader.pools.by_id
    rows = [
        PoolShare(id=pool_id, slug=by_id[pool_id].slug, name=by_id[pool_id].name, blocks=n,
                  share=n / total if total else 0.0, balance=_balances(reader, pool_id))
        for pool_id, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return PoolList(data=rows, count=len(rows), tip_height=reader.tip_height, window=window,
                    from_height=first, total_blocks=total)


@router.get("/pools/{slug}", response_model=PoolDetail)
def get_pool(reader: Reader, slug: Slug) -> PoolDetail:
    """One pool: its list entry, block counts and shares per window, balances."""
    pool = reader.pool(slug)
    blocks: dict[str, int] = {}
    share: dict[str, float] = {}
    for window in get_args(Window):
        counts, total, _first = reader.pool_counts(window)
        blocks[window] = counts.get(pool.id, 0)
        share[window] = blocks[window] / total if total else 0.0
    return PoolDetail(id=pool.id, slug=pool.slug, name=pool.name, link=pool.link,
                      tags=list(pool.tags), addresses=list(pool.addresses), blocks=blocks,
                      share=share, balance=_balances(reader, pool.id),
                      tip_height=reader.tip_height)


@router.get("/pools/{slug}/blocks", response_model=BlockPage)
def pool_blocks(
    reader: Reader,
    slug: Slug,
    cursor: Annotated[int | None, Query(ge=0, description="Return blocks below this height; "
                                        "take next_cursor of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> BlockPage:
    """A pool's blocks, newest first."""
    pool = reader.pool(slug)
    heights = reader.pool_heights(pool.id, cursor, limit + 1)
    more = len(heights) > limit
    heights = heights[:limit]
    rows = [BlockRow(**reader.block_row(reader.block(h))) for h in heights]
    return BlockPage(data=rows, count=len(rows), tip_height=reader.tip_height,
                     next_cursor=heights[-1] if more else None)
