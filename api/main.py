"""The app factory: `create_app(store)` wires routers, error handlers and the dashboard."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from api import docs_pages, monitoring, pages
from api.deps import public_text
from api.monitoring import Monitor, Requests
from api.routers import blocks, exchanges, export, miners, network, pools, status
from api.schemas import ERROR_RESPONSES
from api.served import STOP_TIMEOUT, FollowerFactory, ServedIndex
from indexer import __version__
from indexer.errors import BadParameter, MinerflowError, NotFound
from indexer.follow import Follower
from indexer.store import serving
from indexer.store.db import Store

STATIC = Path(__file__).parent / "static"
log = logging.getLogger(__name__)


def create_app(store: Store, *, follower: Follower | None = None,
               close_store: bool = False,
               follower_factory: FollowerFactory | None = None,
               url: str | None = None) -> FastAPI:
    """An app serving `store`; with `follower` (or `follower_factory`, which can follow a new
    generation after a rebuild too), it follows the node in a background thread while it
    serves. With `close_store`, the store closes when the app shuts down. With `url`, where it
    listens is recorded in the index directory while it runs (`indexer.store.serving`), for
    the commands that read through it."""
    served = ServedIndex(store, follower, follower_factory)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        served.start()
        if url is not None:
            serving.record(served.root, url)
        try:
            yield
        finally:
            if url is not None:
                serving.clear(served.root)
        if not served.stop():  # never close the store under a writer
            log.error("the follower did not stop within %ss; leaving the index open",
                      STOP_TIMEOUT)
            return
        if close_store:
            served.close()

    app = FastAPI(title="minerflow", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None,  # served from vendored files: docs_pages
                  description="Pool attribution, miner balances and flows from your own node.")
    app.state.served = served
    app.state.requests = Requests()
    app.add_middleware(Monitor, requests=app.state.requests)
    for module in (status, pools, blocks, miners, network, exchanges, export):
        app.include_router(module.router, prefix="/v1", responses=ERROR_RESPONSES)
    app.include_router(monitoring.router, responses={
        422: ERROR_RESPONSES[422], 503: ERROR_RESPONSES[503]})

    @app.exception_handler(NotFound)
    async def not_found(_request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": public_text(str(exc)), "errors": []},
                            status_code=404)

    @app.exception_handler(BadParameter)
    async def bad_parameter(_request: Request, exc: BadParameter) -> JSONResponse:
        return JSONResponse({"detail": public_text(str(exc)), "errors": []},
                            status_code=422)

    @app.exception_handler(MinerflowError)
    async def unavailable(_request: Request, exc: MinerflowError) -> JSONResponse:
        return JSONResponse({"detail": public_text(str(exc)), "errors": []},
                            status_code=503)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": one_line(exc), "errors": jsonable(exc)}, status_code=422)

    app.include_router(pages.router)
    app.include_router(docs_pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def one_line(exc: RequestValidationError) -> str:
    """`name: what is wrong` per parameter, on one line; a union's branches joined by "or"."""
    by_param: dict[str, list[str]] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        name = loc[1] if len(loc) > 1 and loc[0] in ("query", "path") else ".".join(loc)
        message = " ".join(str(err.get("msg", "")).split())
        if message not in by_param.setdefault(name, []):
            by_param[name].append(message)
    return "; ".join(f"{name}: {' or '.join(messages)}" for name, messages in by_param.items())


def jsonable(exc: RequestValidationError) -> list[dict[str, object]]:
    return [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg")), "type": str(e.get("type"))}
            for e in exc.errors()]
