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
    try:
        if read(root) is not None and json.loads(
                (root / SERVING).read_text(encoding="utf-8")).get("pid") == os.getpid():
            (root / SERVING).unlink()
    except (OSError, ValueError):
        pass


def read(root: Path) -> str | None:
    """The URL of the live server recorded for `root`, or None."""
    try:
        found = json.loads((root / SERVING).read_text(encoding="utf-8"))
        url, pid = found["url"], found["pid"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(url, str) or not isinstance(pid, int):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None  # the server died without removing its record
    except PermissionError:
        pass  # alive, another user's
    return url
