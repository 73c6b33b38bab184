"""The index a server answers from, and the switch to a new generation after `rebuild`.

Every request asks `current()`, which compares the index's generation pointer with the one the
server opened (a file read). When a rebuild has activated a new generation, the follower (if
any) is stopped between blocks, the new generation is opened, and following resumes on it;
requests already running finish on the old one, which stays open until shutdown.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from indexer.errors import MinerflowError
from indexer.follow import Follower
from indexer.store import generations
from indexer.store.db import Store

STOP_TIMEOUT = 10.0
log = logging.getLogger(__name__)
FollowerFactory = Callable[[Store], Follower]


class ServedIndex:
    def __init__(self, store: Store, follower: Follower | None = None,
                 follower_factory: FollowerFactory | None = None) -> None:
        self.root = store.path
        self.store = store
        self.follower = follower if follower is not None else (
            follower_factory(store) if follower_factory is not None else None)
        self.factory = follower_factory
        self.retired: list[Store] = []
        self._stamp = self._read_stamp()
        self._lock = threading.Lock()

    def _read_stamp(self) -> str | None:
        try:
            return generations.pointer_stamp(self.root)
        except MinerflowError:
            return None  # unreadable for now: keep answering from what is open

    def start(self) -> None:
        if self.follower is not None:
            self.follower.start_thread()

    def current(self) -> Store:
        stamp = self._read_stamp()
        if stamp is not None and stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp:
                    self._switch(stamp)
        return self.store

    def _switch(self, stamp: str) -> None:
        if not self._stop_follower():
            log.error("the follower did not stop within %ss; staying on the old generation",
                      STOP_TIMEOUT)
            return
        try:
            fresh = Store(self.root)
        except MinerflowError as exc:  # e.g. still locked by the rebuild: next request retries
            log.warning("cannot open the new generation yet: %s", exc)
            self._restart_follower()
            return
        self.retired.append(self.store)
        self.store = fresh
        self._stamp = stamp
        log.info("now serving generation %s of %s", stamp, self.root)
        if self.factory is not None:
            self.follower = self.factory(fresh)
        elif self.follower is not None:
            log.warning("no way to follow the new generation: following stops")
            self.follower = None
        self.start()

    def _stop_follower(self) -> bool:
        follower = self.follower
        if follower is None or follower.thread is None:
            return True
        follower.stop()
        follower.thread.join(timeout=STOP_TIMEOUT)
        return not follower.thread.is_alive()

    def _restart_follower(self) -> None:
        if self.follower is not None and self.factory is not None:
            self.follower = self.factory(self.store)
            self.start()

    def stop(self) -> bool:
        """Stop following; False when the follower would not stop (the stores stay open)."""
        return self._stop_follower()

    def close(self) -> None:
        for store in [*self.retired, self.store]:
            store.close()
