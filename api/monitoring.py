"""What an operator's monitoring reads: `/metrics` (Prometheus text format 0.0.4), `/healthz`,
an access log in the common log format, and `HEAD` on every `GET` route.

The middleware (`Monitor`) counts every request by method, route template and status and
times it; it answers `HEAD` as the route's `GET` without the body, and writes one access-log
line per request to the `minerflow.access` logger. The follower's state, the index tip and its
lag come from the served index at scrape time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field

from api.deps import public_text
from indexer.follow import Follower
from indexer.reader import IndexReader

access_log = logging.getLogger("minerflow.access")
router = APIRouter(tags=["monitoring"])

# seconds: the upper bounds of the latency histogram's buckets
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STATES = ("off", "starting", "syncing", "following", "waiting", "retrying", "switching",
          "stopped", "dead")
MAX_LAG = 6  # blocks behind the node before /healthz fails

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Requests:
    """Request counts and latencies by (method, route, status), safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[tuple[str, str, int], int] = {}
        self.buckets: dict[str, list[int]] = {}  # route -> counts per bucket, then +Inf
        self.sums: dict[str, float] = {}

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            key = (method, route, status)
            self.counts[key] = self.counts.get(key, 0) + 1
            slots = self.buckets.setdefault(route, [0] * (len(BUCKETS) + 1))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    slots[i] += 1
                    break
            else:
                slots[-1] += 1
            self.sums[route] = self.sums.get(route, 0.0) + seconds

    def lines(self) -> list[str]:
        with self._lock:
            out = ["# HELP minerflow_http_requests_total HTTP requests answered.",
                   "# TYPE minerflow_http_requests_total counter"]
            for (method, route, status), n in sorted(self.counts.items()):
                out.append(f'minerflow_http_requests_total{{method="{method}",'
                           f'route="{_label(route)}",status="{status}"}} {n}')
            out += ["# HELP minerflow_http_request_duration_seconds Time to answer, by route.",
                    "# TYPE minerflow_http_request_duration_seconds histogram"]
            for route, slots in sorted(self.buckets.items()):
                running = 0
                name = f'route="{_label(route)}"'
                for bound, n in zip((*BUCKETS, float("inf")), slots, strict=True):
                    running += n
                    le = "+Inf" if bound == float("inf") else f"{bound:g}"
                    out.append(f'minerflow_http_request_duration_seconds_bucket{{{name},'
                               f'le="{le}"}} {running}')
                out.append(f"minerflow_http_request_duration_seconds_sum{{{name}}} "
                           f"{self.sums[route]:.6f}")
                out.append(f"minerflow_http_request_duration_seconds_count{{{name}}} "
                           f"{running}")
            return out


def _label(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Monitor:
    """ASGI middleware: HEAD as GET without a body, request metrics, the access log."""

    def __init__(self, app: ASGIApp, requests: Requests) -> None:
        self.app = app
        self.requests = requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        if head:
            scope = dict(scope, method="GET")
        started = time.perf_counter()
        status, size = 500, 0

        async def sending(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
                if head:
                    message = dict(message, body=b"")
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - started
            template = _template(scope)
            method = "HEAD" if head else str(scope["method"])
            self.requests.record(method, template, status, seconds)
            access_log.info('%s - - [%s] "%s %s HTTP/%s" %d %s', _client(scope),
                            time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()), method,
                            _target(scope), scope.get("http_version", "1.1"), status,
                            size if size else "-")


def log_access(stream: Any) -> None:
    """Write the access log, one common-log-format line per request, to `stream` (`serve`)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access_log.addHandler(handler)
    access_log.setLevel(logging.INFO)
    access_log.propagate = False


def _template(scope: Scope) -> str:
    """The matched route's path template with the prefix it was included under (`/v1`): the
    route knows only its own part, so find where that part starts in the request's path."""
    route = scope.get("route")
    path = str(scope.get("path", ""))
    own, regex = getattr(route, "path_format", None), getattr(route, "path_regex", None)
    if own is None or regex is None:
        return "unmatched"
    for at in (i for i, c in enumerate(path) if c == "/"):
        if regex.match(path[at:]):
            return path[:at] + str(own)
    return str(own)


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "-"


def _target(scope: Scope) -> str:
    query = scope.get("query_string", b"")
    path = str(scope.get("path", ""))
    return path + ("?" + query.decode("latin-1") if query else "")


def _follower(request: Request) -> Follower | None:
    follower: Follower | None = request.app.state.served.follower
    return follower


@router.get("/metrics", response_class=PlainTextResponse,
            summary="Prometheus metrics: index tip, following, requests")
def metrics(request: Request) -> PlainTextResponse:
    """The index tip and its time, the follower's state, the node's tip and the lag, the age
    of the last node error, blocks applied since start, and request counts and latencies by
    route, in the Prometheus text format."""
    served = request.app.state.served
    with served.reading() as store:
        reader = IndexReader(store)
        state = reader.state
        tip_time = reader.block(state.tip_height).chain_time if state.tip_height >= 0 else None
    follower = _follower(request)
    s = follower.status if follower is not None else None
    state_name = "off" if s is None else s.state
    lines = [
        "# HELP minerflow_tip_height Height of the index's tip (-1: empty).",
        "# TYPE minerflow_tip_height gauge", f"minerflow_tip_height {state.tip_height}",
        "# HELP minerflow_follower_state The follower's state (1 for the current one).",
        "# TYPE minerflow_follower_state gauge",
        *(f'minerflow_follower_state{{state="{name}"}} {int(name == state_name)}'
          for name in STATES),
        "# HELP minerflow_blocks_applied_total Blocks the follower applied since start.",
        "# TYPE minerflow_blocks_applied_total counter",
        f"minerflow_blocks_applied_total {served.applied}",
    ]
    if tip_time is not None:
        lines += ["# HELP minerflow_tip_time_seconds Chain time of the tip (unix seconds).",
                  "# TYPE minerflow_tip_time_seconds gauge",
                  f"minerflow_tip_time_seconds {tip_time}"]
    if s is not None and s.node_tip is not None:
        lines += ["# HELP minerflow_node_tip_height The node's tip at the last sync.",
                  "# TYPE minerflow_node_tip_height gauge",
                  f"minerflow_node_tip_height {s.node_tip}",
                  "# HELP minerflow_lag_blocks Node tip minus index tip.",
                  "# TYPE minerflow_lag_blocks gauge",
                  f"minerflow_lag_blocks {s.node_tip - state.tip_height}"]
    if s is not None and s.last_error_time is not None and s.last_error is not None:
        lines += ["# HELP minerflow_last_error_age_seconds Seconds since the last node error.",
                  "# TYPE minerflow_last_error_age_seconds gauge",
                  f"minerflow_last_error_age_seconds {time.time() - s.last_error_time:.3f}"]
    lines += request.app.state.requests.lines()
    return PlainTextResponse("\n".join(lines) + "\n",
                             media_type="text/plain; version=0.0.4; charset=utf-8")


class Health(BaseModel):
    status: str = Field(description="ok, or failing")
    reason: str | None = Field(None, description="Why it is failing (absent when ok).")
    tip_height: int = Field(description="The index's tip.")


@router.get("/healthz", summary="Health: 200 while the index answers and following keeps up",
            response_model=Health, response_model_exclude_none=True,
            responses={503: {"model": Health, "description": "Following is dead, or the "
                             "index lags the node by more than max_lag blocks."}})
def healthz(request: Request, max_lag: int = Query(
        MAX_LAG, ge=0, le=1_000_000, description="Blocks the index may be behind the node.")
            ) -> JSONResponse:
    """200 `{"status": "ok"}` while the index opens and, when following, the follower is
    alive and at most `max_lag` blocks behind the node; 503 with the reason otherwise."""
    served = request.app.state.served
    with served.reading() as store:
        tip = store.require_state().tip_height
    follower = _follower(request)
    problem = None
    if follower is not None:
        s = follower.status
        if s.state == "dead" or not follower.alive and s.state != "switching":
            problem = f"following is {s.state}: {public_text(s.last_error) or 'not running'}"
        elif s.node_tip is not None and s.node_tip - tip > max_lag:
            problem = (f"the index is {s.node_tip - tip} blocks behind the node (tip {tip}, "
                       f"node {s.node_tip}; at most {max_lag})")
    if problem is not None:
        return JSONResponse({"status": "failing", "reason": problem, "tip_height": tip},
                            status_code=503)
    return JSONResponse({"status": "ok", "tip_height": tip})
