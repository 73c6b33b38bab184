"""Following a node: sync, wait, sync again; the node going away is a status, not a crash.

`Follower.status` is what `/v1/status` shows: the node's tip, the lag, the last error.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from indexer.apply import Fingerprints
from indexer.attribution.pools import PoolsList
from indexer.errors import MinerflowError
from indexer.flows.labels import LabelSet
from indexer.pipeline import RunReport, sync
from indexer.source.node import NodeSource
from indexer.source.rpc import NodeUnavailable
from indexer.source.zmq_notify import BlockNotifier
from indexer.store.db import Store

log = logging.getLogger(__name__)


@dataclass(slots=True)
class FollowStatus:
    node_tip: int | None = None
    last_error: str | None = None
    last_sync: float | None = None  # unix time of the last successful sync
    syncing: bool = False


class Follower:
    """Keeps an index at the node's tip until `stop()`."""

    def __init__(self, store: Store, node: NodeSource, pools: PoolsList, labels: LabelSet,
                 reorg_limit: int = 288, poll: float = 5.0, flush_blocks: int = 50,
                 notifier: BlockNotifier | None = None) -> None:
        self.store = store
        self.node = node
        self.pools = pools
        self.labels = labels
        self.reorg_limit = reorg_limit
        self.poll = poll
        self.flush_blocks = flush_blocks
        self.notifier = notifier
        self.status = FollowStatus()
        self._stop = threading.Event()
        self.fingerprints: Fingerprints | None = None  # built by the first sync, then kept

    def stop(self) -> None:
        self._stop.set()

    def step(self) -> RunReport | None:
        """One sync; None when the node could not be reached (the status says why)."""
        self.status.syncing = True
        try:
            if self.fingerprints is None:
                self.fingerprints = Fingerprints(self.store)
            report = sync(self.store, self.node, self.pools, self.labels, self.reorg_limit,
                          flush_blocks=self.flush_blocks, fingerprints=self.fingerprints)
            self.status.node_tip = self.node.tip()[0]
            self.status.last_error = None
            self.status.last_sync = time.time()
            return report
        except NodeUnavailable as exc:
            self.status.last_error = str(exc)
            log.warning("%s", exc)
            return None
        finally:
            self.status.syncing = False

    def run(self, on_report: Callable[[RunReport], None] | None = None) -> None:
        while not self._stop.is_set():
            try:
                report = self.step()
            except MinerflowError as exc:  # a reorg deeper than the undo kept, bad data
                self.status.last_error = str(exc)
                raise
            if report is not None and on_report is not None and (report.applied
                                                                  or report.rolled_back):
                on_report(report)
            self._wait()

    def _wait(self) -> None:
        """Until the poll interval passes, a hashblock notification arrives, or stop()."""
        deadline = time.monotonic() + self.poll
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if self.notifier is None:
                self._stop.wait(min(left, 0.5))
            elif self.notifier.wait(min(left, 0.5)):
                return

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self._run_quietly, name="minerflow-follow",
                                  daemon=True)
        thread.start()
        return thread

    def _run_quietly(self) -> None:
        try:
            self.run()
        except MinerflowError as exc:
            log.error("following stopped: %s", exc)
