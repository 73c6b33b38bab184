"""The scan table: `scan_block`'s walk over a whole block done ahead, with the filters left out.

The read-ahead thread makes a block's table while the applying thread is busy with the block
before; the cohort step (`step_txs(..., table)`) then only probes fingerprints instead of
walking the bytes. The reference of `scan_table` and of the table reading in `_core.c`.

Layout, u64 little-endian words: n_tx; k, the transactions walked whole from the first; bad,
1 when transaction k is malformed; k + 1 starts (the last is the end of transaction k - 1, or
where the malformed one starts); k + 1 coin fingerprint starts; k + 1 member fingerprint
starts; the coin fingerprints (one per input, as `coin_fingerprint`); the member fingerprints
(one per output, as `script_fingerprint`).

A table handed to the step is trusted in nothing: words inconsistent with each other or with
the block (its length, its transaction count, the position the step starts at) raise
ValueError, and so does a flagged transaction that does not end where the table says.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from indexer.parse.deserializer import read_compact_size, skip_witnesses

_U32 = struct.Struct("<I")
_MALFORMED = (IndexError, struct.error, OverflowError)
MISMATCH = "the scan table does not match the block"


def walk_tx(d: bytes, p: int, coin_fps: list[int], member_fps: list[int]) -> int:
    """Walk the transaction at `p`, appending its fingerprints; where it ends (IndexError,
    struct.error or OverflowError when it runs past the data). The reference's one walk of a
    transaction's framing: the scan and the scan table both go through it."""
    end = len(d)
    from_bytes = int.from_bytes
    p += 4
    segwit = d[p] == 0 and d[p + 1] != 0
    if segwit:
        p += 2
    n_in, p = read_compact_size(d, p)
    for _ in range(n_in):
        if p + 36 > end:
            raise IndexError
        coin_fps.append(from_bytes(d[p:p + 8], "little") ^ _U32.unpack_from(d, p + 32)[0])
        slen, p = read_compact_size(d, p + 36)
        p += slen + 4
    n_out, p = read_compact_size(d, p)
    for _ in range(n_out):
        slen, p = read_compact_size(d, p + 8)
        if p + slen > end:
            raise IndexError
        member_fps.append(from_bytes(d[max(p, p + slen - 8):p + slen], "little") ^ slen)
        p += slen
    if segwit:
        p = skip_witnesses(d, p, n_in)
    p += 4
    if p > end:
        raise IndexError
    return p


def block_start(d: bytes) -> tuple[int, int]:
    """A block's transaction count and where its first transaction starts; ValueError when the
    count cannot be right (every transaction takes 10 bytes at least)."""
    try:
        if len(d) < 81:
            raise IndexError
        n_tx, p = read_compact_size(d, 80)
    except _MALFORMED:
        raise ValueError("block runs past its end") from None
    if n_tx > (len(d) - p) // 10:
        raise ValueError("block runs past its end")
    if n_tx == 0:
        raise ValueError("block holds no transactions")
    return n_tx, p


def scan_table(block: Any) -> bytes:
    """The table of a whole serialized block; ValueError when it cannot be a block's."""
    d = bytes(memoryview(block))
    n_tx, p = block_start(d)
    starts: list[int] = []
    coin_at: list[int] = []
    member_at: list[int] = []
    coin_fps: list[int] = []
    member_fps: list[int] = []
    bad = 0
    for _ in range(n_tx):
        starts.append(p)
        coin_at.append(len(coin_fps))
        member_at.append(len(member_fps))
        try:
            p = walk_tx(d, p, coin_fps, member_fps)
        except _MALFORMED:
            del coin_fps[coin_at[-1]:], member_fps[member_at[-1]:]
            bad = 1
            break
    k = len(starts) - bad
    if not bad:
        starts.append(p)
        coin_at.append(len(coin_fps))
        member_at.append(len(member_fps))
    words = [n_tx, k, bad, *starts, *coin_at, *member_at, *coin_fps, *member_fps]
    return struct.pack(f"<{len(words)}Q", *words)


@dataclass(frozen=True, slots=True)
class ScanTable:
    n_tx: int
    k: int
    bad: int
    starts: tuple[int, ...]
    coin_at: tuple[int, ...]
    member_at: tuple[int, ...]
    coin_fps: tuple[int, ...]
    member_fps: tuple[int, ...]

    def next_hit(self, index: int, coins: Any, members: Any) -> int | None:
        """From transaction `index` on, the first whose fingerprints the filters hold, or None
        past the last one walked whole."""
        for i in range(index, self.k):
            if any(fp in coins for fp in self.coin_fps[self.coin_at[i]:self.coin_at[i + 1]]):
                return i
            if any(fp in members
                   for fp in self.member_fps[self.member_at[i]:self.member_at[i + 1]]):
                return i
        return None


def read_table(table: Any, data_len: int, pos: int, index: int, n_tx: int) -> ScanTable:
    """A table checked against itself and against the block it is for (TypeError when it is
    not bytes-like, ValueError when it does not fit)."""
    raw = bytes(memoryview(table))
    words = len(raw) // 8
    if len(raw) % 8 or words < 6:
        raise ValueError(MISMATCH)
    w = struct.unpack(f"<{words}Q", raw)
    n, k, bad = w[0], w[1], w[2]
    if n != n_tx or bad > 1 or k > n or (bad == 0) != (k == n) or k > (words - 3) // 3 - 1:
        raise ValueError(MISMATCH)
    starts, coin_at, member_at = w[3:4 + k], w[4 + k:5 + 2 * k], w[5 + 2 * k:6 + 3 * k]
    for i in range(k + 1):
        if (starts[i] > data_len or (i > 0 and (starts[i] < starts[i - 1]
                                                or coin_at[i] < coin_at[i - 1]
                                                or member_at[i] < member_at[i - 1]))
                or (i == 0 and (coin_at[0] != 0 or member_at[0] != 0))):
            raise ValueError(MISMATCH)
    fixed = 3 + 3 * (k + 1)
    if coin_at[k] > words - fixed or member_at[k] != words - fixed - coin_at[k]:
        raise ValueError(MISMATCH)
    if not 0 <= index <= k or starts[index] != pos:
        raise ValueError(MISMATCH)
    fps = w[fixed:]
    return ScanTable(n, k, bad, starts, coin_at, member_at, fps[:coin_at[k]], fps[coin_at[k]:])
