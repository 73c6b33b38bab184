"""The reference implementation of the hot loops, in plain Python: the executable specification.

`indexer/fastpath/_core.c` implements the same six names; the differential harness
(`tests/fuzz/targets.py`, driven by hypothesis in the suite and by `scripts/fuzz.py` against a
sanitizer build) checks that both give the same result or both raise the same error type on
every input, and the index tests that both build byte-identical indexes. Fingerprints:
- a coin's: the first 8 bytes of its txid (serialized order) as a little-endian int, xor vout;
- a script's: its last 8 bytes (all of it when shorter) as a little-endian int, xor its length.
A `Filter` holds fingerprints modulo 2**64. Malformed bytes raise ValueError; arguments of the
wrong type raise TypeError; integers that do not fit a signed 64-bit word raise OverflowError.
"""

from __future__ import annotations

import struct
from typing import Any

from indexer.errors import ParseError
from indexer.parse.deserializer import Tx, parse_block, read_compact_size, skip_witnesses
from indexer.parse.deserializer import merkle_root as merkle_of_txids

_U32 = struct.Struct("<I")
_MASK64 = (1 << 64) - 1
_SSIZE = 1 << 63
MAX_MONEY = 21_000_000 * 100_000_000
_MALFORMED = (IndexError, struct.error, OverflowError)  # what short or absurd bytes raise here


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


def _ssize(*values: int) -> None:
    for value in values:
        if not isinstance(value, int):
            raise TypeError("an integer argument is required")
        if not -_SSIZE <= value < _SSIZE:
            raise OverflowError("Python int too large to convert to C ssize_t")


def scan_block(data: bytes, pos: int, index: int, n_tx: int, coins: Filter,
               members: Filter) -> tuple[int, int]:
    """From transaction `index` at `pos`, the (index, pos) of the next one that spends a coin in
    `coins` or pays a script in `members`; (n_tx, end of the last transaction) when none does."""
    if not isinstance(coins, Filter) or not isinstance(members, Filter):
        raise TypeError("coins and members are Filters")
    _ssize(pos, index, n_tx)
    d = bytes(data)
    end = len(d)
    if pos < 0 or pos > end or index < 0 or index > n_tx:
        raise ValueError(f"scan_block: pos {pos} or index {index} outside the data ({end} bytes, "
                         f"{n_tx} txs)")
    from_bytes = int.from_bytes
    try:
        while index < n_tx:
            start = pos
            p = pos + 4
            segwit = d[p] == 0 and d[p + 1] != 0
            if segwit:
                p += 2
            n_in, p = read_compact_size(d, p)
            hit = False
            for _ in range(n_in):
                if p + 36 > end:
                    raise IndexError
                if (from_bytes(d[p:p + 8], "little") ^ _U32.unpack_from(d, p + 32)[0]) in coins:
                    hit = True
                slen, p = read_compact_size(d, p + 36)
                p += slen + 4
            n_out, p = read_compact_size(d, p)
            for _ in range(n_out):
                slen, p = read_compact_size(d, p + 8)
                if p + slen > end:
                    raise IndexError
                script = d[p:p + slen]
                if (from_bytes(script[-8:], "little") ^ slen) in members:
                    hit = True
                p += slen
            if segwit:
                p = skip_witnesses(d, p, n_in)
            p += 4
            if p > end:
                raise IndexError
            if hit:
                return index, start
            index += 1
            pos = p
    except _MALFORMED:
        raise ValueError(f"transaction {index} runs past the end of the data") from None
    return n_tx, pos


def _core_varint(d: bytes, p: int) -> tuple[int, int]:
    """Bitcoin Core's VARINT (MSB base-128, as used in undo and chainstate records), read as a
    uint64 the way Core's ReadVarInt does: a value that would not fit is an error."""
    n = 0
    while True:
        ch = d[p]
        p += 1
        if n > _MASK64 >> 7:
            raise OverflowError("VARINT too large")
        n = (n << 7) | (ch & 0x7F)
        if not ch & 0x80:
            return n, p
        if n == _MASK64:
            raise OverflowError("VARINT too large")
        n += 1


def decompress_amount(x: int) -> int:
    """Core's CompressAmount inverse; an amount above MAX_MONEY is an error."""
    if x == 0:
        return 0
    x -= 1
    e = x % 10
    x //= 10
    if e < 9:
        d = x % 9 + 1
        x //= 9
        n = x * 10 + d
    else:
        n = x + 1
    n *= 10**e
    if n > MAX_MONEY:
        raise OverflowError("amount above MAX_MONEY")
    return int(n)


def parse_block_undo(data: bytes) -> list[list[int]]:
    """The spent values of every non-coinbase transaction of a CBlockUndo record."""
    data = bytes(data)
    try:
        n_tx, p = read_compact_size(data, 0)
        txs: list[list[int]] = []
        for _ in range(n_tx):
            n_in, p = read_compact_size(data, p)
            values: list[int] = []
            for _ in range(n_in):
                code, p = _core_varint(data, p)
                if code >> 1 > 0:
                    _version, p = _core_varint(data, p)
                amount, p = _core_varint(data, p)
                values.append(decompress_amount(amount))
                size, p = _core_varint(data, p)
                p += (20 if size < 2 else 32) if size < 6 else size - 6
                if p > len(data):
                    raise IndexError
            txs.append(values)
    except _MALFORMED:
        raise ValueError("undo record runs past its end") from None
    if p != len(data):
        raise ValueError(f"undo record uses {p} of its {len(data)} bytes")
    return txs


def xor_at(data: bytes, key: bytes, offset: int) -> bytes:
    """De-obfuscate `data` read from file offset `offset` with the 8-byte `key`."""
    if not isinstance(offset, int):
        raise TypeError("the offset is an int")
    data, key = bytes(data), bytes(key)
    if len(key) != 8:
        raise ValueError("the xor key is 8 bytes")
    n = len(data)
    shift = offset % 8
    rotated = key[shift:] + key[:shift]
    stream = (rotated * (n // 8 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")


def _whole_block(data: bytes) -> list[Tx]:
    """The transactions of a whole block; ValueError when the bytes are not exactly one."""
    try:
        return parse_block(data, require_coinbase=False).txs
    except ParseError as exc:
        raise ValueError(str(exc)) from None


def merkle_root(block: Any) -> bytes:
    """The merkle root (serialized order) of the txids of a whole serialized block."""
    return merkle_of_txids([tx.txid_rev for tx in _whole_block(bytes(block))])


def block_weight(block: Any) -> int:
    """BIP 141 weight of a whole serialized block: 3 x stripped size + total size."""
    data = bytes(block)
    txs = _whole_block(data)
    _n, stripped = read_compact_size(data, 80)
    return 3 * (stripped + sum(tx.stripped_size for tx in txs)) + len(data)
