"""Removing generations no process holds any more: by the process that holds the writer lock
(`indexer.store.writer`), with no block writer between reading the pointer and opening what it
named, so nothing a process holds or is about to open is removed.

`rebuild` removes them before and after its swap; a `serve` or `sync --follow` that has moved
to a new generation calls `sweep` once it has closed the old one (and skips it quietly while
another command holds the writer lock: that command, or the next rebuild, removes them).
"""

from __future__ import annotations

import logging
from pathlib import Path

from indexer.errors import MinerflowError
from indexer.store import generations, writer
from indexer.store.db import unused

log = logging.getLogger(__name__)


def remove_unused(root: Path, keep: str) -> tuple[list[Path], list[str]]:
    """Remove the inactive generations (other than `keep`) no process holds; (what was
    removed, notes on what was left for the operator). The caller holds the writer lock."""
    removed: list[Path] = []
    notes: list[str] = []
    with writer.swapping(root):
        orphans = not (root / "CURRENT").exists()  # no database left there, only its files
        plain_files = [p for p in generations.inactive(root, keep) if p.is_file()]
        if plain_files and (orphans or unused(root)):
            generations.remove(plain_files)
            removed += plain_files
        for path in generations.inactive(root, keep):
            if path.is_symlink():
                notes.append(f"generation {path.name} of {root} is a symbolic link, not a "
                             f"directory minerflow made: it is inactive, remove it (and what "
                             f"it points to) yourself")
            elif path.is_dir() and unused(path):
                generations.remove([path])
                removed.append(path)
    return removed, notes


def sweep(root: Path) -> list[Path]:
    """`remove_unused` when no other command holds the writer lock; what was removed."""
    try:
        with writer.exclusive(root, "removing unused generations"):
            removed, notes = remove_unused(root, keep=generations.active_name(root))
    except MinerflowError as exc:
        log.info("unused generations left for later: %s", exc)
        return []
    for note in notes:
        log.warning("%s", note)
    return removed
