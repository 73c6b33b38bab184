"""The dashboard's HTML pages, rendered on the server so that every table works without
JavaScript; the charts are drawn in the browser from the /v1 API (static/dashboard.js).

Templates autoescape: pool names, coinbase text and exchange labels come from files and blocks
written by strangers, and reach the page as text only. Pages carry a Content-Security-Policy that
admits scripts and styles from this server alone.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import jinja2
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.deps import Reader, public_text
from api.schemas import Window
from indexer.errors import NotFound
from indexer.follow import Follower
from indexer.labels.indexed import labels_info
from indexer.mining import block_totals, difficulty
from indexer.mining_series import window_totals
from indexer.prices import price_summary
from indexer.reader import IndexReader
from indexer.store.keys import ALL_ENTITY, BlockRecord

TEMPLATES = Jinja2Templates(env=jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True))
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
RECENT_BLOCKS = 20
router = APIRouter(include_in_schema=False)


def btc(sats: int) -> str:
    return f"{sats / 1e8:,.8f}"


def rate(hashes_per_second: float | None) -> str:
    """A hash rate with an SI prefix: 1.23 EH/s."""
    if hashes_per_second is None:
        return "–"
    value = hashes_per_second
    for unit in ("H/s", "kH/s", "MH/s", "GH/s", "TH/s", "PH/s", "EH/s"):
        if abs(value) < 1000 or unit == "EH/s":
            return f"{value:.3g} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def utc(seconds: int | None) -> str:
    if seconds is None:
        return "–"
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def web_link(url: str) -> str | None:
    """The URL when it is an http(s) one; a pools file may name `javascript:` links."""
    return url if url.lower().startswith(("https://", "http://")) else None


TEMPLATES.env.filters.update(btc=btc, rate=rate, utc=utc, web_link=web_link)


def render(request: Request, name: str, context: dict[str, Any],
           status_code: int = 200) -> HTMLResponse:
    response = TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def freshness(reader: IndexReader, request: Request) -> dict[str, Any]:
    """Tip, node state and lag, list versions, and a warning when the series are behind."""
    state = reader.state
    tip_time = reader.block(state.tip_height).chain_time if state.tip_height >= 0 else None
    follower: Follower | None = request.app.state.served.follower
    node: dict[str, Any] = {"state": "off", "lag": None, "error": None}
    warning = None if state.stale is None else f"Miner series are stale: {state.stale}."
    if follower is not None:
        s = follower.status
        lag = None if s.node_tip is None else s.node_tip - state.tip_height
        node = {"state": s.state, "lag": lag, "error": public_text(s.last_error)}
        if warning is None and s.state in ("dead", "retrying"):
            warning = f"Following the node is {s.state}: the series may be stale."
        elif warning is None and lag is not None and lag > 6:
            warning = f"The index is {lag} blocks behind the node: the series are stale."
    return {"network": state.network, "tip_height": state.tip_height, "tip_time": tip_time,
            "tip_hash": state.tip_hash, "pools_sha256": state.pools_sha256,
            "labels_sha256": state.labels_sha256, "labels": labels_info(reader.store),
            "format": state.format, "node": node, "warning": warning}


def block_line(reader: IndexReader, record: BlockRecord) -> dict[str, Any]:
    totals = block_totals(record, reader.network)
    return {**reader.block_detail(record), "fees": totals.fees, "subsidy": totals.subsidy}


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, reader: Reader,
             window: Annotated[Window, Query()] = "1w",
             level: Annotated[int, Query(ge=0, le=1)] = 1,
             unit: Annotated[Literal["btc", "usd"], Query()] = "btc") -> HTMLResponse:
    totals = window_totals(reader, window)
    by_id = reader.pools.by_id
    pools = [
        {"slug": by_id[p.pool_id].slug, "name": by_id[p.pool_id].name, "figures": p,
         "level0": reader.balance(p.pool_id, 0), "level1": reader.balance(p.pool_id, 1),
         "share_of_supply": reader.share_of_supply(reader.balance(p.pool_id, 1))}
        for p in totals.ranked()
    ]
    tip = reader.tip_height
    recent = [block_line(reader, r) for r in reversed(list(
        reader.blocks(max(tip - RECENT_BLOCKS + 1, 1), tip + 1)))]
    network = {
        "supply": reader.supply(),
        "miners_share_of_supply": reader.share_of_supply(reader.balance(ALL_ENTITY, 1)),
        "hashrate": totals.hashrate(totals.network.work),
        "difficulty": difficulty(reader.block(tip).bits, reader.network) if tip >= 0 else None,
        "blocks": totals.network.blocks, "from_height": totals.from_height,
    }
    return render(request, "overview.html", {
        "fresh": freshness(reader, request), "window": window, "windows": get_args(Window),
        "level": level, "pools": pools, "recent": recent, "network": network,
        "prices": (prices := price_summary(reader)), "unit": unit if prices else "btc",
    })


@router.get("/blocks/{ref}", response_class=HTMLResponse)
def block_page(request: Request, reader: Reader, ref: str) -> HTMLResponse:
    try:
        record = reader.block_by_ref(ref)
    except NotFound as exc:
        return not_found(request, reader, str(exc))
    block = block_line(reader, record)
    block["difficulty"] = difficulty(record.bits, reader.network)
    block["weight"] = record.weight
    previous = record.height - 1 if record.height > 0 else None
    following = record.height + 1 if record.height < reader.tip_height else None
    return render(request, "block.html", {"fresh": freshness(reader, request), "block": block,
                                          "previous": previous, "next": following})


@router.get("/pools/{slug}", response_class=HTMLResponse)
def pool_page(request: Request, reader: Reader, slug: str) -> HTMLResponse:
    try:
        pool = reader.pool(slug)
    except NotFound as exc:
        return not_found(request, reader, str(exc))
    windows = [(window, window_totals(reader, window, [pool.id]).pool(pool.id))
               for window in get_args(Window)]
    heights = reader.pool_heights(pool.id, None, RECENT_BLOCKS)
    return render(request, "pool.html", {
        "fresh": freshness(reader, request), "pool": pool, "windows": windows,
        "balance": {"level0": reader.balance(pool.id, 0), "level1": reader.balance(pool.id, 1),
                    "share_of_supply": reader.share_of_supply(reader.balance(pool.id, 1))},
        "recent": [block_line(reader, reader.block(h)) for h in heights],
    })


def not_found(request: Request, reader: IndexReader, message: str) -> HTMLResponse:
    return render(request, "missing.html", {"fresh": freshness(reader, request),
                                            "message": public_text(message)}, status_code=404)
