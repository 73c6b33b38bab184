"""Filter and fingerprints, in plain Python: the twin of `filters.c`.

- a coin's fingerprint: the first 8 bytes of its txid (serialized order) as a little-endian
  int, xor vout;
- a script's: its last 8 bytes (all of it when shorter) as a little-endian int, xor its length.
A `Filter` holds fingerprints modulo 2**64.
"""

from __future__ import annotations

import struct
from typing import Any

_MASK64 = (1 << 64) - 1
_MAX_RESERVE = 1 << 40
_SSIZE = 1 << 63


def check_ssize(*values: int) -> None:
    """TypeError or OverflowError, as C's ssize_t conversion raises them."""
    for value in values:
        if not isinstance(value, int):
            raise TypeError("an integer argument is required")
        if not -_SSIZE <= value < _SSIZE:
            raise OverflowError("Python int too large to convert to C ssize_t")


def coin_fingerprint(txid_rev: bytes, vout: int) -> int:
    return int.from_bytes(txid_rev[:8], "little") ^ vout


def script_fingerprint(script: bytes) -> int:
    return int.from_bytes(script[-8:], "little") ^ len(script)


def _fingerprint(value: object) -> int:
    if not isinstance(value, int):
        raise TypeError("a fingerprint is an int")
    return value & _MASK64


class Filter:
    """A set of 64-bit fingerprints (the compiled one holds 8-byte slots, not int objects).
    Like the compiled one, an instance made by `Filter.__new__` alone is a valid empty filter."""

    __slots__ = ("_keys",)
    _keys: set[int]

    def __new__(cls) -> Filter:
        made = super().__new__(cls)
        made._keys = set()
        return made

    def __init__(self) -> None:
        self._keys = set()

    def add(self, fingerprint: int) -> None:
        self._keys.add(_fingerprint(fingerprint))

    def __contains__(self, fingerprint: object) -> bool:
        return _fingerprint(fingerprint) in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def nbytes(self) -> int:
        return 0

    def reserve(self, n: int) -> None:
        """Make room for `n` more fingerprints (a set needs none; the argument is checked)."""
        check_ssize(n)
        if not 0 <= n <= _MAX_RESERVE:
            raise ValueError(f"reserve: {n} fingerprints")

    def add_many(self, data: Any) -> None:
        """Add every nonzero little-endian u64 of a bytes-like object."""
        data = bytes(data)
        if len(data) % 8:
            raise ValueError(f"add_many: {len(data)} bytes is not a whole number of fingerprints")
        for (value,) in struct.iter_unpack("<Q", data):
            if value:
                self._keys.add(value)

    @property
    def capacity(self) -> int:
        """This filter's "slots": its nonzero fingerprints in ascending order."""
        return len(self._keys - {0})

    def slots(self, start: int, count: int) -> bytes:
        """Slots start.. (clipped) as little-endian u64s; over all slots, the nonzero ones are
        the nonzero fingerprints (the compiled table has empty slots between them)."""
        check_ssize(start, count)
        if start < 0 or count < 0:
            raise ValueError(f"slots: start {start}, count {count}")
        keys = sorted(self._keys - {0})[start:start + count]
        return struct.pack(f"<{len(keys)}Q", *keys)
