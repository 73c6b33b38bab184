"""A write buffer over several blocks: changes overlaid on the index, per-height undo captured.

Every key a block changes is put through `put`/`delete`; the first time a block touches a key its
previous value (from the overlay, else the index) goes into that block's undo record. `flush`
writes all blocks' changes, their undo records and the new tip in one atomic LevelDB batch.
"""

from __future__ import annotations

from dataclasses import replace

from indexer.store import keys
from indexer.store.db import PendingWrite, Store

_UNSET = object()
READ_CACHE_KEYS = 1_000_000  # `cached_get` forgets everything at a flush past this many


class WriteBuffer:
    def __init__(self, store: Store, reorg_limit: int) -> None:
        self.store = store
        self.reorg_limit = reorg_limit
        self.overlay: dict[bytes, bytes | None] = {}
        self._read: dict[bytes, bytes | None] = {}  # what `cached_get` read from the index
        self._writing: dict[bytes, bytes | None] = {}  # the batch being written, if any
        self._pending: PendingWrite | None = None
        self._undo: dict[bytes, bytes | None] = {}
        self._height: int | None = None
        self.tip_height = store.require_state().tip_height
        self.tip_hash: str | None = store.require_state().tip_hash
        self.blocks = 0

    def get(self, key: bytes) -> bytes | None:
        if key in self.overlay:
            return self.overlay[key]
        if key in self._writing:
            return self._writing[key]
        return self.store.get(key)

    def cached_get(self, key: bytes) -> bytes | None:
        """`get` for keys read again and again (cohort scripts): the index is read once."""
        if key in self.overlay:
            return self.overlay[key]
        try:
            return self._read[key]
        except KeyError:
            found = self._read[key] = self.get(key)
            return found

    def begin_block(self, height: int) -> None:
        assert self._height is None, "previous block not ended"
        self._height = height
        self._undo = {}

    def put(self, key: bytes, value: bytes | None, old: object = _UNSET) -> None:
        """Set `key` (None deletes). `old`, when the caller knows it, saves a read."""
        assert self._height is not None, "put outside a block"
        if key not in self._undo:
            self._undo[key] = self.get(key) if old is _UNSET else old  # type: ignore[assignment]
        self.overlay[key] = value
        self._read.pop(key, None)

    def delete(self, key: bytes, old: object = _UNSET) -> None:
        self.put(key, None, old)

    def end_block(self, hash_hum: str) -> None:
        height = self._height
        assert height is not None
        self.overlay[keys.undo_key(height)] = keys.pack_undo(list(self._undo.items()))
        if height - self.reorg_limit >= 0:
            self.overlay[keys.undo_key(height - self.reorg_limit)] = None
        self._height = None
        self.tip_height = height
        self.tip_hash = hash_hum
        self.blocks += 1

    def flush(self, wait: bool = True) -> None:
        """Write everything buffered and the tip atomically. With `wait=False` the batch is
        written on a thread while the caller goes on (one batch at a time, in order: the next
        flush waits for it); reads see it until it has landed. `flush()` returns with all
        written, and raises the error of any batch that failed."""
        assert self._height is None, "flush inside a block"
        self._land()
        if not self.overlay:
            return
        state = replace(self.store.require_state(), tip_height=self.tip_height,
                        tip_hash=self.tip_hash)
        pending = self.store.begin_write(self.overlay, state)
        if wait:
            pending.wait()
        else:
            pending.start()
            self._pending, self._writing = pending, self.overlay
        self.overlay = {}
        self.blocks = 0
        if len(self._read) > READ_CACHE_KEYS:
            self._read = {}

    def settle(self) -> None:
        """Wait for the batch being written, if any (every run ends with this or `flush()`,
        so that no write outlives it)."""
        self._land()

    def _land(self) -> None:
        """Wait for the batch being written, if any."""
        pending, self._pending = self._pending, None
        if pending is not None:
            try:
                pending.wait()
            finally:
                self._writing = {}


def rollback(store: Store, to_height: int) -> None:
    """Undo every block above `to_height`, newest first, in one atomic batch."""
    state = store.require_state()
    changes: dict[bytes, bytes | None] = {}
    for height in range(state.tip_height, to_height, -1):
        raw = store.get(keys.undo_key(height))
        if raw is None:
            raise AssertionError(f"undo record for height {height} missing")
        for key, old in keys.unpack_undo(raw):
            changes[key] = old
        changes[keys.undo_key(height)] = None
    tip_hash = None
    if to_height >= 0:
        record = changes.get(keys.block_key(to_height), store.get(keys.block_key(to_height)))
        assert record is not None
        tip_hash = keys.unpack_block(to_height, record).hash_hum
    store.write(changes, replace(state, tip_height=to_height, tip_hash=tip_hash))


def undo_depth(store: Store) -> int:
    """How many blocks back from the tip the kept undo records reach."""
    state = store.require_state()
    depth = 0
    while state.tip_height - depth >= 0 and store.get(keys.undo_key(state.tip_height - depth)):
        depth += 1
    return depth
