"""One writer at a time for a whole index directory, and no generation swapped under a pass.

LevelDB's own LOCK keeps a second process out of one generation; these two advisory locks
(`fcntl.flock`, released by the kernel when their process ends, however it ends) order the
processes that share the directory around it:

- `WRITER.lock`, exclusive for a command's whole run, by every command that changes the index's
  lists, prices, history or generations: `rebuild`, `pools update`, `labels import`,
  `prices import`, `rollback`. A second one is refused at once, naming what holds it (a rebuild
  never deletes another's generation, and a list change never lands in a generation a rebuild
  is about to retire).
- `APPLY.lock`, shared by each pass of a block writer (`reindex`, `sync`, a follower), from
  reading which generation is active to its last flush; exclusive while a rebuild compares tips
  and swaps generations, and while unused generations are removed. So a swap never happens in
  the middle of a pass, and a generation is never removed while a process is between reading
  the pointer and opening what it named.

The holder writes what it is (`rebuild`, pid, start time) into the lock file, for the message
of the one refused.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from indexer.errors import IndexLockedError, StoreError

WRITER = "WRITER.lock"
APPLY = "APPLY.lock"


def _open(root: Path, name: str) -> int:
    try:
        root.mkdir(parents=True, exist_ok=True)
        return os.open(root / name, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise unwritable(root, exc) from None


def unwritable(root: Path, exc: OSError) -> StoreError:
    """The one-line error of an index directory minerflow may not write to."""
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return StoreError(f"index {root} is read-only ({exc.strerror}): minerflow needs to "
                          f"write to it, even to read it (LevelDB's lock file); copy it to a "
                          f"writable place or fix its permissions")
    return StoreError(f"cannot use index {root} ({exc.strerror or exc})")


@contextlib.contextmanager
def exclusive(root: Path, what: str) -> Iterator[None]:
    """Hold the directory's writer lock for `what` (a command), or raise IndexLockedError
    naming the holder. A directory that does not exist yet holds no index to guard (LevelDB's
    own lock orders two commands creating one): nothing is made for the lock."""
    if not root.is_dir():
        yield
        return
    fd = _open(root, WRITER)
    try:
        _lock_or_name_holder(fd, root, what)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"`{what}` (pid {os.getpid()}, since {stamp})".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock


def _lock_or_name_holder(fd: int, root: Path, what: str) -> None:
    """Take the writer lock, or raise naming its holder. The holder writes its name just after
    it locks and clears it just before it unlocks: an empty name means one of those moments,
    so look again (the lock may be free by then)."""
    holder = ""
    for _attempt in range(50):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
            if holder:
                break
            time.sleep(0.01)
    raise IndexLockedError(f"index {root} is being changed by {holder or 'another command'}: "
                           f"run `{what}` again when it has finished")


@contextlib.contextmanager
def applying(root: Path) -> Iterator[None]:
    """One pass of a block writer: the generation pointer stays where it is meanwhile."""
    fd = _open(root, APPLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # waits only for a swap, which takes a moment
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def swapping(root: Path, wait: float | None = None) -> Iterator[bool]:
    """No block writer is in a pass while this is held (True); with `wait`, give up after that
    many seconds instead (False, nothing held)."""
    fd = _open(root, APPLY)
    try:
        if wait is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield True
            return
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.05)
        yield True
    finally:
        os.close(fd)
