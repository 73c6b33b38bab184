"""Request dependencies: a reader over a snapshot of the app's index, released after the
request, so a request never sees a block half-applied by the follower; and `public_text`,
which every message from the indexer passes before it reaches an answer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, TypedDict

from fastapi import Depends, Request

from indexer.reader import IndexReader


def get_reader(request: Request) -> Iterator[IndexReader]:
    with request.app.state.served.reading() as store:
        snapshot = store.snapshot()
        try:
            yield IndexReader(snapshot)
        finally:
            snapshot.close()


Reader = Annotated[IndexReader, Depends(get_reader)]


# An absolute file path (not the //host of a URL): every directory part but the last name goes.
_PATH = re.compile(r"(?<![\w.:/])/(?:[^\s/'\"():;,]+/)+(?=[^\s/'\"():;,]*)")


def public_text(text: str | None) -> str | None:
    """`text` without the directories of any file path in it: answers name files, never say
    where they live on the server."""
    return None if text is None else _PATH.sub("", text)


class Staleness(TypedDict):
    stale: bool
    stale_reason: str | None


def staleness(reader: IndexReader) -> Staleness:
    """The `stale` and `stale_reason` fields of answers built on the miner series."""
    reason = reader.state.stale
    return {"stale": reason is not None, "stale_reason": reason}


def stale_header(reader: IndexReader) -> dict[str, str]:
    """The same for CSV answers, as a header (absent when fresh)."""
    reason = reader.state.stale
    return {} if reason is None else {"X-Minerflow-Stale": reason}
