"""Open the index (one process at a time), read and check its state record, write batches.

The state record names the format version, network, genesis hash, pools-list and labels hashes and
the tip. An index built for other settings is refused (re-index required) rather than mixed.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from indexer.errors import IndexLockedError, IndexMismatchError, StoreError
from indexer.store import generations, keys, writer
from indexer.store.leveldb import plyvel


@dataclass(slots=True)
class IndexState:
    format: int
    network: str
    genesis: str
    pools_sha256: str
    labels_sha256: str
    tip_height: int = -1
    tip_hash: str | None = None
    # the lists the miner cohort series were built with, when other than the current ones
    # (after `pools update`): the series are stale until a re-index
    series_pools_sha256: str | None = None
    series_labels_sha256: str | None = None

    @property
    def stale(self) -> str | None:
        """Why the miner series do not follow the current lists, or None."""
        reasons = []
        if self.series_pools_sha256 not in (None, self.pools_sha256):
            reasons.append(f"the miner series were built with pools list "
                           f"{self.series_pools_sha256[:12]}, blocks are attributed with "
                           f"{self.pools_sha256[:12]}")
        if self.series_labels_sha256 not in (None, self.labels_sha256):
            reasons.append(f"the flows to exchanges were built with labels "
                           f"{self.series_labels_sha256[:12]}, the index now holds "
                           f"{self.labels_sha256[:12]}")
        if not reasons:
            return None
        return "; ".join(reasons) + ": `minerflow rebuild` brings them up to date"

    def to_bytes(self) -> bytes:
        return keys.pack_state(asdict(self))

    @classmethod
    def from_bytes(cls, data: bytes, path: Path | str = "") -> IndexState:
        """Read leniently: the format is compared first, so that an index written by another
        format (with other fields) is refused with its version, never a traceback."""
        try:
            raw = keys.unpack_state(data)
            found = raw.get("format") if isinstance(raw, dict) else None
        except ValueError:
            raise StoreError(f"index {path}: its state record is damaged: re-index "
                             f"required") from None
        if found != keys.FORMAT_VERSION:
            raise IndexMismatchError(f"index {path} has format {found}, this minerflow reads "
                                     f"format {keys.FORMAT_VERSION}: re-index required")
        names = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in raw.items() if k in names})
        except TypeError:
            raise StoreError(f"index {path}: its state record lacks fields: re-index "
                             f"required") from None


class _Reads:
    """Reads shared by the live index and its snapshots: `_source` is a plyvel DB or snapshot."""

    path: Path
    state: IndexState | None
    _source: Any

    def get(self, key: bytes) -> bytes | None:
        try:
            value: bytes | None = self._source.get(key, verify_checksums=True)
        except plyvel.Error as exc:
            raise _damaged(self.path, exc) from None
        return value

    def scan(self, prefix: bytes, *, reverse: bool = False, start: bytes | None = None,
             stop: bytes | None = None, fill_cache: bool = True) -> Iterator[tuple[bytes, bytes]]:
        """Key/value pairs under `prefix` in key order (or reversed), within [start, stop);
        `fill_cache=False` for a scan read once (it leaves LevelDB's block cache alone)."""
        kwargs: dict[str, Any] = {"reverse": reverse, "verify_checksums": True,
                                  "fill_cache": fill_cache}
        if start is None and stop is None:
            kwargs["prefix"] = prefix
        else:
            kwargs["start"] = start if start is not None else prefix
            kwargs["stop"] = stop if stop is not None else _prefix_end(prefix)
        try:
            with self._source.iterator(**kwargs) as it:
                yield from it
        except plyvel.Error as exc:
            raise _damaged(self.path, exc) from None

    def require_state(self) -> IndexState:
        if self.state is None:
            raise StoreError(f"index {self.path} is empty (run `minerflow reindex` first)")
        return self.state


def unused(path: Path) -> bool:
    """No process holds the LevelDB at `path`, and it opens (a generation a rebuild may
    remove once no server reads it)."""
    try:
        plyvel.DB(str(path)).close()
    except plyvel.Error:
        return False
    return True


class Store(_Reads):
    """One LevelDB index directory, owned by this process until `close()`."""

    def __init__(self, path: Path, *, create: bool = False) -> None:
        self.path = path  # what the user named; the LevelDB is its active generation
        self.db_path = generations.active_path(path)
        if not create and not (self.db_path / "CURRENT").exists():
            raise StoreError(f"no index at {path} (run `minerflow reindex` or `sync` first)")
        try:
            self.db_path.mkdir(parents=True, exist_ok=True)
            self.db: Any = plyvel.DB(str(self.db_path), create_if_missing=create,
                                     bloom_filter_bits=10,
                                     lru_cache_size=64 << 20, write_buffer_size=64 << 20,
                                     paranoid_checks=True)
        except plyvel.IOError as exc:
            if any(word in reason(exc) for word in ("Permission denied", "Read-only")):
                raise writer.unwritable(path, PermissionError(
                    errno.EROFS if "Read-only" in reason(exc) else errno.EACCES,
                    "Read-only file system" if "Read-only" in reason(exc)
                    else "Permission denied")) from None
            if "lock" in str(exc).lower():
                raise IndexLockedError(
                    f"index {path} is in use by another process (a running `minerflow serve`, "
                    f"`sync` or `reindex`): stop it or use another --index"
                ) from None
            raise StoreError(f"cannot open index {path}: {reason(exc)}") from None
        except plyvel.CorruptionError as exc:
            raise _damaged(path, exc) from None
        except plyvel.Error as exc:
            raise StoreError(f"cannot open index {path}: {reason(exc)}") from None
        except OSError as exc:  # the directory itself cannot be made or written
            raise writer.unwritable(path, exc) from None
        self._source = self.db
        try:
            raw = self.get(keys.STATE)
            self.state = IndexState.from_bytes(raw, path) if raw else None
        except StoreError:
            self.close()
            raise

    def close(self) -> None:
        if not self.db.closed:
            self.db.close()

    @property
    def closed(self) -> bool:
        return bool(self.db.closed)

    def moved(self) -> bool:
        """Whether a rebuild has made another generation active since this one was opened."""
        try:
            return generations.active_path(self.path) != self.db_path
        except StoreError:
            return False  # an unreadable pointer: the next open says so

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check_or_init(self, wanted: IndexState, pools_json: bytes,
                      write_labels: Callable[[IndexState], None],
                      labels_file: Path | None) -> None:
        """Initialise an empty index for `wanted`, or refuse one built with other settings.
        `write_labels` writes the label set and, last, the state record: an index whose
        creation was cut short is created again."""
        if self.state is None:
            self.write_raw({keys.POOLS_LIST: pools_json,
                            keys.POOLS_VERSIONS: keys.pack_versions([(wanted.pools_sha256, 0)])})
            write_labels(wanted)
            self.state = wanted
            self.record_lists(labels_file)
            return
        have = self.state
        for field, what in (("network", "network"), ("genesis", "genesis block"),
                            ("pools_sha256", "pools list"), ("labels_sha256", "exchange labels")):
            if getattr(have, field) != getattr(wanted, field):
                raise IndexMismatchError(
                    f"index {self.path} was built with another {what} "
                    f"({getattr(have, field)[:16]} vs {getattr(wanted, field)[:16]}): "
                    f"re-index required (use a new --index directory, or delete this one)"
                )

    def record_lists(self, labels_file: Path | None = None) -> None:
        """Write the network, lists and prices beside the generations (`generations.LISTS`),
        where a rebuild finds them while another process holds this index; `labels_file`, the
        rows of a label set just written, is kept there too."""
        state = self.require_state()
        pools, labels = self.get(keys.POOLS_LIST), self.get(keys.LABELS_LIST)
        assert pools is not None and labels is not None
        prices = {str(keys.day_from_key(key)): value.decode("ascii")
                  for key, value in self.scan(keys.PRICE)}
        try:
            generations.write_lists(self.path, state.network, pools, labels, prices,
                                    labels_file)
        except OSError as exc:
            raise StoreError(f"cannot write {self.path / generations.LISTS} "
                             f"({exc.strerror or exc})") from None

    def snapshot(self) -> Snapshot:
        """A consistent read-only view: later batches stay invisible to it."""
        return Snapshot(self)

    def write(self, puts: dict[bytes, bytes | None], state: IndexState) -> None:
        """Write `puts` (None deletes) and the state record in one atomic batch."""
        self.begin_write(puts, state).wait()

    def compact(self, start: bytes, stop: bytes) -> None:
        """Compact a key range (flushing the memtable first, which gives its memory back)."""
        try:
            self.db.compact_range(start=start, stop=stop)
        except plyvel.Error as exc:
            raise StoreError(f"index {self.path}: cannot compact ({reason(exc)})") from None

    def flush_memtable(self) -> None:
        """Write the memtable out as a table file now. LevelDB's CompactRange flushes the
        memtable before it compacts the range; the range here, keys from 0xff on, holds no key
        of the index (every prefix is ASCII), so nothing else is rewritten. A flushed run of
        keys that overlaps no table lands below level 0 (LevelDB places it up to level 2),
        where the blocks' writes never merge it again."""
        self.compact(b"\xff", b"\xff")

    def write_raw(self, puts: dict[bytes, bytes | None]) -> None:
        """Write `puts` in one batch that leaves the state record as it is: for the parts of a
        long write whose end a marker key tells (a label set's `Lpending`). The batch is not
        synced: LevelDB keeps writes in order, so the synced write that ends the long one
        (`write`, the state record) makes it durable with everything before it."""
        wb = self._batch(puts, sync=False)
        try:
            wb.write()
        except plyvel.Error as exc:
            raise StoreError(f"index {self.path}: cannot write ({reason(exc)})") from None

    def begin_write(self, puts: dict[bytes, bytes | None], state: IndexState) -> PendingWrite:
        """The batch of `write`, built; `start()` writes it on a thread of its own (LevelDB's
        write and sync release the GIL, so they run beside the caller's next blocks), `wait()`
        finishes it (here, when not started) and raises what the write raised. The batch is
        atomic either way."""
        wb = self._batch(puts)
        wb.put(keys.STATE, state.to_bytes())
        return PendingWrite(self, wb, state)

    def _batch(self, puts: dict[bytes, bytes | None], sync: bool = True) -> Any:
        """A write batch holding `puts` (None deletes), synced unless told otherwise."""
        wb = self.db.write_batch(sync=sync)
        for key, value in puts.items():
            if value is None:
                wb.delete(key)
            else:
                wb.put(key, value)
        return wb


class PendingWrite:
    """One batch being written (see `Store.begin_write`)."""

    def __init__(self, store: Store, batch: Any, state: IndexState) -> None:
        self.store = store
        self.batch = batch
        self.state = state
        self.error: Exception | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._write, name="minerflow-write")
        self.thread.start()

    def _write(self) -> None:
        try:
            self.batch.write()
        except plyvel.Error as exc:  # a full disk, an I/O error: nothing of the batch landed
            self.error = exc

    def wait(self) -> None:
        """Wait for the batch to land (writing it here unless `start` was called)."""
        if self.thread is None:
            self._write()
        else:
            self.thread.join()
        if self.error is not None:
            raise StoreError(f"index {self.store.path}: cannot write ({reason(self.error)}); "
                             f"the index stays at height {self.store.require_state().tip_height}"
                             ) from None
        self.store.state = self.state
        generations.write_tip(self.store.db_path, self.state.tip_height)


class Snapshot(_Reads):
    """Reads of the index as of one instant (a LevelDB snapshot); `close()` releases it."""

    def __init__(self, store: Store) -> None:
        self.path = store.path
        self._source = store.db.snapshot()
        raw = self.get(keys.STATE)
        self.state = IndexState.from_bytes(raw, self.path) if raw else None

    def close(self) -> None:
        self._source.close()


def _damaged(path: Path, exc: Exception) -> StoreError:
    return damaged(path, reason(exc))


def damaged(path: Path, why: str) -> StoreError:
    """The one-line error of an index whose bytes are not what minerflow wrote."""
    return StoreError(f"index {path} is damaged ({why}): restore it or re-index into a new "
                      f"directory")


def _prefix_end(prefix: bytes) -> bytes:
    """The smallest key greater than every key starting with `prefix`."""
    trimmed = prefix.rstrip(b"\xff")
    return trimmed[:-1] + bytes([trimmed[-1] + 1]) if trimmed else b"\xff" * 64


def reason(exc: Exception) -> str:
    """LevelDB's message as text (plyvel gives it as bytes)."""
    arg = exc.args[0] if exc.args else exc
    return arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
