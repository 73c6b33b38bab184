"""The reference implementation of the hot loops, in plain Python.

`indexer/fastpath/_core.c` implements the same four names; tests check that both give the same
answers on real and generated data and build identical indexes. Fingerprints:
- a coin's: the first 8 bytes of its txid (serialized order) as a little-endian int, xor vout;
- a script's: its last 8 bytes (all of it when shorter) as a little-endian int, xor its length.
"""

from __future__ import annotations

import struct

from indexer.parse.deserializer import read_compact_size, skip_witnesses

_U32 = struct.Struct("<I")


class Filter(set[int]):
    """A set of 64-bit fingerprints (the compiled one holds 8-byte slots, not int objects)."""

    @property
    def nbytes(self) -> int:
        return 0


def scan_block(data: bytes, pos: int, index: int, n_tx: int, coins: Filter,
               members: Filter) -> tuple[int, int]:
    """From transaction `index` at `pos`, the (index, pos) of the next one that spends a coin in
    `coins` or pays a script in `members`; (n_tx, end of the last transaction) when none does."""
    d = data
    end = len(d)
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
    except IndexError:
        raise ValueError(f"transaction {index} runs past the end of the data") from None
    return n_tx, pos


def _coreread_compact_size(d: bytes, p: int) -> tuple[int, int]:
    """Bitcoin Core's VARINT (MSB base-128, as used in undo and chainstate records)."""
    n = 0
    while True:
        ch = d[p]
        p += 1
        n = (n << 7) | (ch & 0x7F)
        if ch & 0x80:
            n += 1
        else:
            return n, p


def decompress_amount(x: int) -> int:
    """Core's CompressAmount inverse."""
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
    return int(n * 10**e)


def parse_block_undo(data: bytes) -> list[list[int]]:
    """The spent values of every non-coinbase transaction of a CBlockUndo record."""
    try:
        n_tx, p = read_compact_size(data, 0)
        txs: list[list[int]] = []
        for _ in range(n_tx):
            n_in, p = read_compact_size(data, p)
            values: list[int] = []
            for _ in range(n_in):
                code, p = _coreread_compact_size(data, p)
                if code >> 1 > 0:
                    _version, p = _coreread_compact_size(data, p)
                amount, p = _coreread_compact_size(data, p)
                values.append(decompress_amount(amount))
                size, p = _coreread_compact_size(data, p)
                p += (20 if size < 2 else 32) if size < 6 else size - 6
                if p > len(data):
                    raise IndexError
            txs.append(values)
    except (IndexError, struct.error):
        raise ValueError("undo record runs past its end") from None
    if p != len(data):
        raise ValueError(f"undo record uses {p} of its {len(data)} bytes")
    return txs


def xor_at(data: bytes, key: bytes, offset: int) -> bytes:
    """De-obfuscate `data` read from file offset `offset` with the 8-byte `key`."""
    if len(key) != 8:
        raise ValueError("the xor key is 8 bytes")
    n = len(data)
    shift = offset % 8
    rotated = key[shift:] + key[:shift]
    stream = (rotated * (n // 8 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")
