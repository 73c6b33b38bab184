"""Request dependencies: a reader over the app's index."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from indexer.reader import IndexReader
from indexer.store.db import Store


def get_reader(request: Request) -> IndexReader:
    store: Store = request.app.state.store
    return IndexReader(store)


Reader = Annotated[IndexReader, Depends(get_reader)]
