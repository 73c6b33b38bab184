"""Request dependencies: a reader over a snapshot of the app's index, released after the
request, so a request never sees a block half-applied by the follower."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request

from indexer.reader import IndexReader
from indexer.store.db import Store


def get_reader(request: Request) -> Iterator[IndexReader]:
    store: Store = request.app.state.store
    snapshot = store.snapshot()
    try:
        yield IndexReader(snapshot)
    finally:
        snapshot.close()


Reader = Annotated[IndexReader, Depends(get_reader)]
