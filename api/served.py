"""The index a server answers from, the switch to a new generation after `rebuild`, and the
retirement of the old one.

Every request reads through `reading()`, which compares the index's generation pointer with the
one the server opened (a file read). When a rebuild has activated a new generation, the
follower (if any) is stopped between blocks, the new generation is opened, and following
resumes on it; a follower that finds its generation retired first asks for the same switch
itself, so a server without requests moves too. Requests already running finish on the old
generation; the last of them closes it, and the generations no process holds are then removed
(`indexer.store.retire.sweep`, on a thread of its own).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator

from indexer.errors import MinerflowError
from indexer.follow import Follower
from indexer.store import generations, writer
from indexer.store.db import Store
from indexer.store.retire import sweep

STOP_TIMEOUT = 10.0
log = logging.getLogger(__name__)
FollowerFactory = Callable[[Store], Follower]


class ServedIndex:
    def __init__(self, store: Store, follower: Follower | None = None,
                 follower_factory: FollowerFactory | None = None) -> None:
        self.root = store.path
        self.store = store
        self.factory = follower_factory
        self._applied_before = 0
        self.follower: Follower | None = None
        self._attach(follower if follower is not None else (
            follower_factory(store) if follower_factory is not None else None))
        self.retired: list[Store] = []
        self._readers: dict[int, int] = {}  # id(store) -> requests reading it now
        self._stamp = self._read_stamp()
        self._lock = threading.RLock()
        self._closed = False

    @property
    def applied(self) -> int:
        """Blocks the followers of this server applied since it started."""
        follower = self.follower
        return self._applied_before + (follower.applied_total if follower is not None else 0)

    def _attach(self, follower: Follower | None) -> None:
        if self.follower is not None:  # the one it replaces
            self._applied_before += self.follower.applied_total
        self.follower = follower
        if follower is not None:
            follower.on_moved = self._follower_moved

    def _read_stamp(self) -> str | None:
        try:
            return generations.pointer_stamp(self.root)
        except MinerflowError:
            return None  # unreadable for now: keep answering from what is open

    def start(self) -> None:
        if self.follower is not None:
            self.follower.start_thread()

    def current(self) -> Store:
        """The store of the active generation (switching to it first when it changed)."""
        stamp = self._read_stamp()
        if stamp is not None and stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp and not self._closed:
                    self._switch(stamp)
        return self.store

    @contextlib.contextmanager
    def reading(self) -> Iterator[Store]:
        """The current store, kept open until the block ends (a retired one then closes)."""
        with self._lock:
            store = self.current()
            self._readers[id(store)] = self._readers.get(id(store), 0) + 1
        try:
            yield store
        finally:
            with self._lock:
                self._readers[id(store)] -= 1
                if not self._readers[id(store)]:
                    del self._readers[id(store)]
                    if store in self.retired:
                        self._close_retired(store)

    def _follower_moved(self) -> None:
        """Called on the follower's thread as it ends: switch from another thread (the switch
        waits for this one)."""
        threading.Thread(target=self.current, name="minerflow-switch", daemon=True).start()

    def _switch(self, stamp: str) -> None:
        if not self._stop_follower():
            log.error("the follower did not stop within %ss; staying on the old generation",
                      STOP_TIMEOUT)
            return
        try:
            with writer.applying(self.root):  # no swap between the pointer and the open
                fresh = Store(self.root)
                stamp = generations.pointer_stamp(self.root)
        except MinerflowError as exc:  # e.g. still locked by the rebuild: next request retries
            log.warning("cannot open the new generation yet: %s", exc)
            self._restart_follower()
            return
        old = self.store
        self.retired.append(old)
        self.store = fresh
        self._stamp = stamp
        log.info("now serving generation %s of %s", stamp, self.root)
        if self.factory is not None:
            self._attach(self.factory(fresh))
        elif self.follower is not None:
            log.warning("no way to follow the new generation: following stops")
            self.follower = None
        self.start()
        if id(old) not in self._readers:
            self._close_retired(old)

    def _close_retired(self, store: Store) -> None:
        self.retired.remove(store)
        store.close()
        log.info("closed the retired generation %s", store.db_path.name)
        threading.Thread(target=sweep, args=(self.root,), name="minerflow-sweep",
                         daemon=True).start()

    def _stop_follower(self) -> bool:
        follower = self.follower
        if follower is None or follower.thread is None:
            return True
        follower.stop()
        if follower.thread is not threading.current_thread():
            follower.thread.join(timeout=STOP_TIMEOUT)
        return not follower.thread.is_alive()

    def _restart_follower(self) -> None:
        if self.follower is not None and self.factory is not None:
            self._attach(self.factory(self.store))
            self.start()

    def stop(self) -> bool:
        """Stop following; False when the follower would not stop (the stores stay open)."""
        return self._stop_follower()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for store in [*self.retired, self.store]:
                store.close()
            self.retired.clear()
