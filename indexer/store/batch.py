"""A write buffer over several blocks: changes overlaid on the index, per-height undo captured.

Every key a block changes is put through `put`/`delete`; the first time a block touches a key its
previous value (from the overlay, else the index) goes into that block's undo record. `flush`
writes all blocks' changes, their undo records and the new tip in one atomic LevelDB batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import cast

from indexer.store import keys
from indexer.store.db import PendingWrite, Store

Layer = dict[bytes, "bytes | None"]
PutState = tuple[dict[bytes, "bytes | None"], Layer, set[bytes]]
"""What a put changes: the block's undo so far, the overlay, the keys born in this window."""

_UNSET = object()


class WriteBuffer:
    def __init__(self, store: Store, reorg_limit: int) -> None:
        self.store = store
        self.reorg_limit = reorg_limit
        self.overlay: Layer = {}
        self._writing: Layer = {}  # the batch being written, if any
        # [overlay, batch being written]: the dicts in front of the index, newest first, kept
        # as one list object that compiled readers hold (fastpath.get_coin)
        self.layers: list[Layer] = [self.overlay, self._writing]
        self._pending: PendingWrite | None = None
        self._undo: dict[bytes, bytes | None] = {}
        # keys this window made that the index and the batch being written did not hold
        self._born: set[bytes] = set()
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

    def begin_block(self, height: int) -> None:
        assert self._height is None, "previous block not ended"
        self._height = height
        self._undo = {}

    def put(self, key: bytes, value: bytes | None, old: object = _UNSET) -> None:
        """Set `key` (None deletes). `old`, when the caller knows it, saves a read."""
        if old is _UNSET:
            old = self._undo[key] if key in self._undo else self.get(key)
        put_entries(*self.put_state(), ((key, value, cast("bytes | None", old)),))

    def put_state(self) -> PutState:
        """The structures `put_entries` changes, for a compiled writer that follows its rule
        (`fastpath.put_coins`)."""
        assert self._height is not None, "put outside a block"
        return self._undo, self.overlay, self._born

    def delete(self, key: bytes, old: object = _UNSET) -> None:
        self.put(key, None, old)

    def end_block(self, hash_hum: str) -> None:
        height = self._height
        assert height is not None
        undo = keys.pack_undo(list(self._undo.items()))
        self._undo = {}  # the undo record keeps no undo of its own
        self.put(keys.undo_key(height), undo)
        if height - self.reorg_limit >= 0:
            self.put(keys.undo_key(height - self.reorg_limit), None)
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
        self.layers[:] = [self.overlay, self._writing]
        self._born = set()
        self.blocks = 0

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
                self.layers[:] = [self.overlay, self._writing]


def put_entries(undo: dict[bytes, bytes | None], overlay: Layer, born: set[bytes],
                items: Iterable[tuple[bytes, bytes | None, bytes | None]]) -> None:
    """The put rule, for each (key, value, old): the first put of a key in a block records
    `old` (its value before the block) as its undo; a key that no earlier state held is born,
    and a born key deleted again leaves the overlay instead of becoming a delete in the batch
    (a coin created and spent between two flushes costs LevelDB nothing)."""
    for key, value, old in items:
        if key not in undo:
            undo[key] = old
            if old is None and key not in overlay:
                born.add(key)
        if value is None and key in born:
            born.discard(key)
            overlay.pop(key, None)
        else:
            overlay[key] = value


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
