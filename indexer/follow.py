"""Following a node: sync, wait, sync again; the node going away is a status, not a crash.

`Follower.status` is what `/v1/status` shows: what the follower is doing, the node's tip, the
last error. Failures of the node (unreachable, restarting, an RPC error, an answer that makes no
sense, a block that fails its check, anything unexpected a node's answer provokes) are retried
with backoff while the status says so; only the index itself failing (a
reorg deeper than the undo kept, a damaged or full index) ends the follower, and then the
status says "dead" and why. `stop()` is seen between blocks and during every wait, so a
shutdown returns within a second with the index at a flushed block. When a rebuild has made
another generation active, `run()` ends (`moved`, state "switching") without writing the
retired one, and whoever owns the follower opens the new generation and follows on it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from indexer.attribution.pools import PoolsList
from indexer.errors import (
    ConfigError,
    DamagedBlockError,
    MinerflowError,
    SourceError,
    StoreError,
)
from indexer.fingerprints import Fingerprints
from indexer.labels.labelset import LabelSet
from indexer.pipeline import RunReport, sync
from indexer.source.node import NodeSource
from indexer.source.zmq_notify import BlockNotifier
from indexer.store.db import Store

log = logging.getLogger(__name__)

MAX_BACKOFF = 60.0


@dataclass(slots=True)
class FollowStatus:
    # starting, syncing, following, waiting, retrying, switching, stopped, dead
    state: str = "starting"
    node_tip: int | None = None
    last_error: str | None = None
    last_error_time: float | None = None  # unix time of the last error
    last_sync: float | None = None  # unix time of the last successful sync
    note: str | None = None  # why the follower waits (a node behind the index)
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
        self._synced_once = False
        self.thread: threading.Thread | None = None
        self.fingerprints: Fingerprints | None = None  # built by the first sync, then kept
        self.moved = False  # a rebuild made another generation active: this one is done
        self.applied_total = 0  # blocks applied by every sync so far
        self.on_moved: Callable[[], None] | None = None  # told once, after run() ends
        node.client.interrupt = self._stop

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        self.node.client.interrupt_now()

    def step(self) -> RunReport | None:
        """One sync; None when the node failed (the status says how; the caller retries).

        The index failing raises, and so does a configuration error before the first
        successful sync (wrong network, rejected credentials: the operator must act)."""
        self.status.syncing = True
        self.status.state = "syncing"
        try:
            if self.fingerprints is None:
                self.fingerprints = Fingerprints(self.store)
            report = sync(self.store, self.node, self.pools, self.labels, self.reorg_limit,
                          flush_blocks=self.flush_blocks, fingerprints=self.fingerprints,
                          stop=self._stop)
        except StoreError:
            raise
        except ConfigError as exc:
            if not self._synced_once and not self._stop.is_set():
                raise
            self._failed(exc)
            return None
        except MinerflowError as exc:
            self._failed(exc)
            return None
        except Exception as exc:  # noqa: BLE001 - whatever a node's answer provoked: retried
            log.debug("sync failed", exc_info=True)
            self._failed(SourceError(f"sync failed ({type(exc).__name__}: {exc}"[:300] + ")"))
            return None
        finally:
            self.status.syncing = False
        self.applied_total += report.applied
        if report.moved:
            self.moved = True
            self.status.state = "switching"
            return report
        self._synced_once = True
        self.status.node_tip = report.node_tip
        if report.damage:  # a block that failed its check: the index stays at its parent
            self._failed(DamagedBlockError(report.damage[0]))
            return None
        self.status.last_error = None
        self.status.note = report.waiting
        self.status.last_sync = time.time()
        self.status.state = "waiting" if report.waiting else "following"
        return report

    def _failed(self, exc: MinerflowError) -> None:
        if self._stop.is_set():  # the failure is the shutdown cutting a call short
            return
        self.status.last_error = str(exc)
        self.status.last_error_time = time.time()
        self.status.state = "retrying"
        log.warning("%s", exc)

    def run(self, on_report: Callable[[RunReport], None] | None = None) -> None:
        failures = 0
        try:
            while not self._stop.is_set():
                try:
                    report = self.step()
                except MinerflowError as exc:
                    self.status.state = "dead"
                    self.status.last_error = str(exc)
                    self.status.last_error_time = time.time()
                    raise
                if report is None:
                    failures += 1
                    self._wait(min(self.poll * 2 ** failures, MAX_BACKOFF))
                    continue
                failures = 0
                if report.moved:
                    break
                if on_report is not None and (report.applied or report.rolled_back):
                    on_report(report)
                if report.stopped:
                    break
                self._wait(self.poll)
        finally:
            if self.status.state not in ("dead", "switching"):
                self.status.state = "stopped"
                if self.fingerprints is not None:  # the next start loads them
                    self.fingerprints.save(self.store)
        if self.moved and self.on_moved is not None:
            self.on_moved()

    def _wait(self, seconds: float) -> None:
        """Until `seconds` pass, a hashblock notification arrives, or stop()."""
        deadline = time.monotonic() + seconds
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if self.notifier is None:
                self._stop.wait(min(left, 0.2))
            elif self.notifier.wait(min(left, 0.2)):
                return

    def start_thread(self) -> threading.Thread:
        self.thread = threading.Thread(target=self._run_quietly, name="minerflow-follow",
                                       daemon=True)
        self.thread.start()
        return self.thread

    def _run_quietly(self) -> None:
        try:
            self.run()
        except MinerflowError as exc:
            log.error("following stopped: %s", exc)
