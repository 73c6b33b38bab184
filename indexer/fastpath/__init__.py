"""The hot loops, compiled when the C extension was built, else the Python reference.

`MINERFLOW_PURE=1` in the environment selects the reference even when the extension is present
(tests use it to check both build identical indexes). `IMPLEMENTATION` names the one in use.
"""

from __future__ import annotations

import os
import sys
from array import array
from collections.abc import Callable
from types import ModuleType
from typing import Any, Protocol

from indexer.fastpath import coinstore, reference
from indexer.fastpath.coinstore import Coin
from indexer.fastpath.reference import coin_fingerprint as coin_fingerprint
from indexer.fastpath.reference import script_fingerprint as script_fingerprint


class FingerprintFilter(Protocol):
    """A set of 64-bit fingerprints."""

    def add(self, fingerprint: int) -> None: ...

    def __contains__(self, fingerprint: object) -> bool: ...

    def __len__(self) -> int: ...

    @property
    def nbytes(self) -> int:
        """Bytes held by the table (0 for the reference, whose ints are Python objects)."""

    @property
    def capacity(self) -> int:
        """How many slots `slots` gives in all."""

    def reserve(self, n: int) -> None: ...

    def add_many(self, data: bytes) -> None: ...

    def slots(self, start: int, count: int) -> bytes: ...


class PackedUndo:
    """The spent values of a block's transactions as `pack_block_undo` packs them (a
    transaction's list is made only when asked for), and the undo record they come from;
    `hits_of`, the filter the hits were packed with (`undo_held` reads them), or None."""

    def __init__(self, packed: bytes, record: bytes = b"", hits_of: Any = None) -> None:
        self.record = record
        self.packed = packed
        self.hits_of = hits_of
        self.words = array("Q")
        self.words.frombytes(packed)
        if sys.byteorder == "big":
            self.words.byteswap()
        self.tx_count = self.words[0]

    def has_curve_hits(self) -> bool:
        """Whether a hit packed with the values spends an uncompressed key (kinds 4 and 5,
        whose script needs the curve); False without hits."""
        if self.hits_of is None:
            return False
        base = 2 + self.tx_count + self.words[1 + self.tx_count] + 1  # the first hit
        kinds = self.words[base + 2::4]
        return 4 in kinds or 5 in kinds

    def values(self, tx: int) -> list[int]:
        """The values spent by non-coinbase transaction number `tx` (0 = the block's second)."""
        if not 0 <= tx < self.tx_count:
            raise IndexError(f"transaction {tx} of {self.tx_count}")
        first, end = self.words[1 + tx], self.words[2 + tx]
        base = 2 + self.tx_count
        return self.words[base + first:base + end].tolist()


def _choose() -> tuple[ModuleType, str]:
    if os.environ.get("MINERFLOW_PURE") == "1":
        return reference, "python"
    try:
        from indexer.fastpath import _core  # type: ignore[attr-defined]
    except ImportError:
        return reference, "python"
    return _core, "compiled"


_impl, IMPLEMENTATION = _choose()
Filter: Callable[[], FingerprintFilter] = _impl.Filter
scan_block: Callable[[bytes, int, int, int, Any, Any], tuple[int, int]] = _impl.scan_block
parse_block_undo: Callable[[bytes], list[list[int]]] = _impl.parse_block_undo
pack_block_undo: Callable[..., bytes] = _impl.pack_block_undo
xor_at: Callable[[bytes, bytes, int], bytes] = _impl.xor_at
merkle_root: Callable[[bytes], bytes] = _impl.merkle_root
block_weight: Callable[[bytes], int] = _impl.block_weight
block_check: Callable[[bytes], tuple[bytes, int, bytes]] = _impl.block_check
scan_table: Callable[[bytes], bytes] = _impl.scan_table
step_txs: Callable[..., int] = _impl.step_txs
exchange_txs: Callable[..., int] = _impl.exchange_txs
undo_hits: Callable[[bytes, Any], tuple[dict[int, tuple[int, list[tuple[int, bytes, int]]]],
                                         list[tuple[int, int, int, bytes, int, int]]]] = (
    _impl.undo_hits)
undo_held: Callable[[bytes, bytes], tuple[dict[int, tuple[int, list[tuple[int, bytes, int]]]],
                                           list[tuple[int, int, int, bytes, int, int]]]] = (
    _impl.undo_held)
derive_candidates: Callable[[bytes, bytes, Any], list[tuple[int, int, int]]] = (
    _impl.derive_candidates)
decode_address: Callable[[bytes, bytes, int, int], bytes | None] = _impl.decode_address
_coins = _impl if IMPLEMENTATION == "compiled" else coinstore
get_coin: Callable[..., Coin | None] = _coins.get_coin
put_coins: Callable[..., None] = _coins.put_coins
