"""GET /v1/export/{kind}: every row of an export as JSON lines, from the server's index.

What `minerflow export blocks|series|network|exchanges` prints, computed by the same functions
(`indexer.export_rows`) over one snapshot: the CLI asks here while this server holds the index,
so an export needs no downtime. Parameters are checked before the first byte is sent (an
unknown entity is a 404, a bad range a 422, as elsewhere)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from itertools import chain
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from api.paging import Since, Until, as_text
from api.schemas import Interval
from indexer.export_rows import ExportQuery, rows_of
from indexer.reader import IndexReader

router = APIRouter(tags=["export"])


@router.get("/export/{kind}", response_class=StreamingResponse,
            responses={200: {"content": {"application/x-ndjson": {}},
                             "description": "One JSON object per line."}},
            summary="Every row of an export, as minerflow export prints it")
def export(
    request: Request,
    kind: Literal["blocks", "series", "network", "exchanges"],
    entity: Annotated[str, Query(description="series: a pool slug, 'unknown' or 'all'; "
                                 "exchanges: an exchange slug or 'all'.")] = "all",
    level: Annotated[int, Query(ge=0, le=1, description="series: 0 or 1.")] = 1,
    interval: Interval = "day",
    since: Since = None,
    until: Until = None,
    derived: Annotated[bool, Query(description="series: add the derived daily fields.")] = False,
    pool: Annotated[str | None, Query(description="network: one pool's series.")] = None,
) -> StreamingResponse:
    """The rows of `minerflow export KIND` with the same options, all of them, in order."""
    query = ExportQuery(kind, entity, level, interval, as_text(since), as_text(until), derived,
                        pool)
    held = ExitStack()  # the store and its snapshot, held until the last row is sent
    try:
        snapshot = held.enter_context(request.app.state.served.reading()).snapshot()
        held.callback(snapshot.close)
        found = rows_of(IndexReader(snapshot), query)
        first = next(found, None)  # a bad parameter raises here, before the answer starts
    except BaseException:
        held.close()
        raise

    def lines() -> Iterator[bytes]:
        with held:
            for row in chain([] if first is None else [first], found):
                yield (json.dumps(row, ensure_ascii=False) + "\n").encode()

    return StreamingResponse(lines(), media_type="application/x-ndjson")
