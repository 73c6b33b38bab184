"""Reads from the `minerflow serve` that holds an index: `status` and `export` ask it over
HTTP (its address is in the index directory, `indexer.store.serving`) when LevelDB's lock
keeps them out, and print exactly what they print offline."""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from indexer.errors import IndexLockedError, MinerflowError, SourceError
from indexer.export_rows import ExportQuery
from indexer.reader import IndexReader
from indexer.store import serving
from indexer.store.db import Store

TIMEOUT = 60.0


@contextlib.contextmanager
def reader_or_server(index: Path) -> Iterator[IndexReader | str]:
    """A reader of the index, or, when a `minerflow serve` holds it, that server's URL."""
    try:
        store = Store(index)
    except IndexLockedError:
        url = serving.read(index)
        if url is None:
            raise
        yield url
        return
    with store:
        yield IndexReader(store)


def _open(url: str) -> Any:
    try:
        return urllib.request.urlopen(url, timeout=TIMEOUT)
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("detail")
        except (ValueError, AttributeError):
            detail = None
        if isinstance(detail, str) and exc.code in (404, 422):
            raise MinerflowError(detail) from None
        raise SourceError(f"the server at {url.split('?')[0]} answered HTTP {exc.code}"
                          + (f": {detail}" if isinstance(detail, str) else "")) from None
    except OSError as exc:
        raise SourceError(f"the index is held by a server recorded at {url.split('/v1')[0]}, "
                          f"which does not answer ({exc})") from None


def status(base: str) -> dict[str, Any]:
    with _open(base + "/v1/status") as answer:
        found: dict[str, Any] = json.loads(answer.read())
        return found


def rows(base: str, query: ExportQuery) -> Iterator[dict[str, Any]]:
    """The export's rows as the server computes them, read line by line."""
    url = (f"{base}/v1/export/{query.kind}?" + urllib.parse.urlencode(query.params()))
    with _open(url) as answer:
        for line in answer:
            if line.strip():
                yield json.loads(line)
