"""Where a running `minerflow serve` can be reached, recorded in the index directory it holds
(`SERVING`: JSON `url`, `pid`), so that commands that only read (`status`, `export`) ask it
instead of failing on LevelDB's lock. Written once the server is about to listen, removed when
it stops; a record left by a server that died is recognised by its pid."""

from __future__ import annotations

import json
import os
from pathlib import Path

SERVING = "SERVING"


def record(root: Path, url: str) -> None:
    temporary = root / f"{SERVING}.tmp"
    temporary.write_text(json.dumps({"url": url, "pid": os.getpid()}), encoding="utf-8")
    os.replace(temporary, root / SERVING)


def clear(root: Path) -> None:
    """Remove the record, if it is this process's own."""
    found = _recorded(root)
    if found is not None and found[1] == os.getpid():
        (root / SERVING).unlink(missing_ok=True)


def read(root: Path) -> str | None:
    """The URL of the live server recorded for `root`, or None."""
    found = _recorded(root)
    if found is None:
        return None
    url, pid = found
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None  # the server died without removing its record
    except PermissionError:
        pass  # alive, another user's
    return url


def _recorded(root: Path) -> tuple[str, int] | None:
    """(url, pid) as recorded, or None when there is no readable record."""
    try:
        found = json.loads((root / SERVING).read_text(encoding="utf-8"))
        url, pid = found["url"], found["pid"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(url, str) or not isinstance(pid, int):
        return None
    return url, pid
