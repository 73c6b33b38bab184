"""The app factory: `create_app(store)` wires routers, error handlers and the dashboard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from api.routers import blocks, miners, pools, status
from indexer import __version__
from indexer.errors import BadParameter, MinerflowError, NotFound
from indexer.follow import Follower
from indexer.store.db import Store

STATIC = Path(__file__).parent / "static"


def create_app(store: Store, *, follower: Follower | None = None,
               close_store: bool = False) -> FastAPI:
    """An app serving `store`; with `follower`, it follows the node in a background thread
    while it serves. With `close_store`, the store closes when the app shuts down."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        thread = follower.start_thread() if follower is not None else None
        yield
        if follower is not None and thread is not None:
            follower.stop()
            thread.join(timeout=30)
        if close_store:
            store.close()

    app = FastAPI(title="minerflow", version=__version__, lifespan=lifespan,
                  description="Pool attribution, miner balances and flows from your own node.")
    app.state.store = store
    app.state.follower = follower
    for module in (status, pools, blocks, miners):
        app.include_router(module.router, prefix="/v1")

    @app.exception_handler(NotFound)
    async def not_found(_request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(BadParameter)
    async def bad_parameter(_request: Request, exc: BadParameter) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(MinerflowError)
    async def unavailable(_request: Request, exc: MinerflowError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        messages = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path"))
            messages.append(f"{where}: {err.get('msg')}")
        return JSONResponse({"detail": "; ".join(messages), "errors": jsonable(exc)},
                            status_code=422)

    if (STATIC / "index.html").exists():
        app.mount("/", StaticFiles(directory=STATIC, html=True), name="dashboard")
    return app


def jsonable(exc: RequestValidationError) -> list[dict[str, object]]:
    return [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg")), "type": str(e.get("type"))}
            for e in exc.errors()]
