"""Index generations: a rebuild writes a whole new index beside the serving one, then swaps.

An index directory is either plain (the LevelDB files in it) or, after its first `rebuild`,
holds generations: subdirectories `g1`, `g2`, ... each a whole index, and the file `GENERATION`
naming the active one. The swap is the atomic rename of that file, so a crash at any instant
leaves the old generation or the new one active, never a mix, and a process serving the old one
goes on answering from it until it notices the change. `lists.json` beside them holds the
network, the lists and the imported prices of the active generation, so a rebuild can start
while another process holds that generation's lock (and carry the prices over).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from indexer.errors import StoreError

POINTER = "GENERATION"
LISTS = "lists.json"
_NAME = re.compile(r"^g([0-9]{1,9})$")
# what LevelDB and minerflow write into an index directory (a plain index's files, removed once
# it is inactive): LevelDB's own, and the saved filters (indexer/fingerprints.py)
_LEVELDB_FILE = re.compile(r"^(CURRENT|LOCK|LOG|LOG\.old|MANIFEST-[0-9]+|[0-9]+\.(ldb|log|sst)"
                           r"|(fingerprints|exchanges)\.(bin|partial)|TIP(\.tmp)?)$")
TIP = "TIP"
# the rows of the active label set (labels.labelset), named by their sha256's first 16 digits
LABELS_FILE_PREFIX = "labels-"
LABELS_FILE_SUFFIX = ".csv.gz"


def active_name(root: Path) -> str:
    """The active generation's name, "" for a plain index."""
    try:
        name = (root / POINTER).read_bytes().decode("ascii", "replace").strip()
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise StoreError(f"cannot read {root / POINTER} ({exc.strerror or exc})") from None
    if not _NAME.match(name):
        raise StoreError(f"{root / POINTER}: {name[:40]!r} is not a generation name "
                         f"(g1, g2, ...): restore it or re-index")
    return name


def active_path(root: Path) -> Path:
    """Where the active generation's LevelDB lives."""
    name = active_name(root)
    return root / name if name else root


def index_exists(root: Path) -> bool:
    """Whether `root` holds an index (plain, or with an active generation)."""
    try:
        return (active_path(root) / "CURRENT").exists()
    except StoreError:
        return True  # a damaged pointer: opening the index says so


def next_generation(root: Path) -> tuple[str, Path]:
    """The name and path a rebuild writes to: the number after the active one."""
    name = active_name(root)
    number = int(name[1:]) + 1 if name else 1
    return f"g{number}", root / f"g{number}"


def activate(root: Path, name: str) -> None:
    """Make `name` the active generation: write the pointer beside, then rename it over."""
    temporary = root / f"{POINTER}.tmp"
    with temporary.open("w", encoding="ascii") as stream:
        stream.write(name + "\n")
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, root / POINTER)
    _sync_dir(root)


def write_tip(db_path: Path, height: int) -> None:
    """Note a generation's tip height beside its LevelDB (after every batch), where a rebuild
    reads it while another process holds that generation open. Advisory: a crash between a
    batch and this note leaves it one flush behind until the next batch."""
    temporary = db_path / f"{TIP}.tmp"
    try:
        temporary.write_text(f"{height}\n", encoding="ascii")
        os.replace(temporary, db_path / TIP)
    except OSError:
        pass  # the batch landed; a rebuild then catches up from an older note


def read_tip(db_path: Path) -> int | None:
    """The tip height noted by `write_tip`, None when there is no note."""
    try:
        return int((db_path / TIP).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


def pointer_stamp(root: Path) -> str:
    """Changes whenever another generation becomes active (cheap enough for every request)."""
    return active_name(root)


def write_lists(root: Path, network: str, pools: bytes, labels: bytes,
                prices: dict[str, str], labels_file: Path | None = None) -> None:
    """Record the network, lists and prices ({day number: close text}) of the active
    generation, atomically. `labels` is the label set's summary; its rows file (`labels_file`,
    when it is elsewhere) is copied beside, and rows files of other sets are removed."""
    if labels_file is not None and labels_file.parent.resolve() != root.resolve():
        copy = root / f"{labels_file.name}.tmp"
        shutil.copyfile(labels_file, copy)
        os.replace(copy, root / labels_file.name)
    temporary = root / f"{LISTS}.tmp"
    body = {"network": network, "pools": json.loads(pools), "labels": json.loads(labels),
            "prices": prices}
    with temporary.open("w", encoding="utf-8") as stream:
        json.dump(body, stream, ensure_ascii=False)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, root / LISTS)
    kept = json.loads(labels).get("file")
    for path in root.glob(f"{LABELS_FILE_PREFIX}*{LABELS_FILE_SUFFIX}"):
        if path.name != kept:
            path.unlink(missing_ok=True)


def read_lists(root: Path) -> dict[str, Any] | None:
    """The network and lists recorded beside the generations; None when there are none."""
    path = root / LISTS
    try:
        value = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read {path} ({exc}): delete it, and `minerflow rebuild` "
                         f"writes it again from the index while no server holds it") from None
    if not isinstance(value, dict) or not {"network", "pools", "labels"} <= set(value):
        raise StoreError(f"{path} lacks the network, pools or labels")
    return value


def inactive(root: Path, keep: str) -> list[Path]:
    """Generations that are neither active nor `keep`, and a plain index's files once a
    generation is active: what a rebuild may remove when no process holds them."""
    active = active_name(root)
    out = [p for p in sorted(root.iterdir())
           if p.is_dir() and _NAME.match(p.name) and p.name not in (active, keep)]
    if active:
        out += [p for p in sorted(root.iterdir()) if p.is_file() and _LEVELDB_FILE.match(p.name)]
    return out


def remove(paths: list[Path]) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
