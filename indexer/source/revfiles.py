"""Bitcoin Core undo files (rev*.dat): the values of the outputs each block spends.

A rev record is `magic | size(u32) | CBlockUndo(size) | checksum(32)`, the checksum being
sha256d(parent block hash || CBlockUndo). Blocks stored in blkN.dat have their undo in revN.dat,
in connection order, so a record is found by its shape (inputs per transaction) and confirmed by
its checksum. Only values are decoded; scripts are skipped.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from indexer.errors import SourceError
from indexer.parse.deserializer import Block, sha256d
from indexer.source.blkfiles import xor_at

_PREFIX = struct.Struct("<4sI")


class UndoMissing(SourceError):
    """No undo record for a block in its rev file."""

Shape = tuple[int, ...]


def _core_varint(d: bytes, p: int) -> tuple[int, int]:
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


def _compact_size(d: bytes, p: int) -> tuple[int, int]:
    n = d[p]
    if n < 0xFD:
        return n, p + 1
    width = {0xFD: 2, 0xFE: 4, 0xFF: 8}[n]
    return int.from_bytes(d[p + 1:p + 1 + width], "little"), p + 1 + width


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
    """The spent values of every non-coinbase transaction, in block order."""
    n_tx, p = _compact_size(data, 0)
    txs: list[list[int]] = []
    for _ in range(n_tx):
        n_in, p = _compact_size(data, p)
        values: list[int] = []
        for _ in range(n_in):
            code, p = _core_varint(data, p)
            if code >> 1 > 0:
                _version, p = _core_varint(data, p)
            amount, p = _core_varint(data, p)
            values.append(decompress_amount(amount))
            size, p = _core_varint(data, p)
            p += (20 if size < 2 else 32) if size < 6 else size - 6
        txs.append(values)
    if p != len(data):
        raise SourceError(f"undo record uses {p} of its {len(data)} bytes")
    return txs


@dataclass(frozen=True, slots=True)
class _UndoRecord:
    offset: int
    size: int
    checksum: bytes


class UndoFiles:
    """Finds and decodes the undo record of an active-chain block on demand."""

    def __init__(self, blocks_dir: Path, magic: bytes, key: bytes | None) -> None:
        self.blocks_dir = blocks_dir
        self.magic = magic
        self.key = key
        self._by_file: dict[int, dict[Shape, list[_UndoRecord]]] = {}

    def spent_values(self, file_no: int, block: Block, height: int) -> list[list[int]]:
        """Per non-coinbase transaction, the values its inputs spend."""
        path = self.blocks_dir / f"rev{file_no:05d}.dat"
        shape = tuple(len(tx.inputs) for tx in block.txs[1:])
        candidates = self._records(file_no, path).get(shape, [])
        for record in candidates:
            data = self._read(path, record.offset, record.size)
            if sha256d(block.header.prev_hash_rev + data) == record.checksum:
                return parse_block_undo(data)
        raise UndoMissing(
            f"height {height}: the values of the outputs this block spends are needed, but "
            f"{path.name} holds no undo record for it (block files without their rev files?)"
        )

    def _read(self, path: Path, offset: int, size: int) -> bytes:
        with path.open("rb") as f:
            f.seek(offset)
            return xor_at(f.read(size), self.key, offset)

    def _records(self, file_no: int, path: Path) -> dict[Shape, list[_UndoRecord]]:
        found = self._by_file.get(file_no)
        if found is not None:
            return found
        found = {}
        if path.exists():
            data = xor_at(path.read_bytes(), self.key, 0)
            pos = 0
            while pos + 8 <= len(data):
                magic, size = _PREFIX.unpack_from(data, pos)
                if magic != self.magic:
                    nxt = data.find(self.magic, pos + 1)
                    if nxt < 0:
                        break
                    pos = nxt
                    continue
                start = pos + 8
                if start + size + 32 > len(data):
                    break  # torn tail
                body = data[start:start + size]
                try:
                    shape = _shape(body)
                except (IndexError, KeyError):
                    pos = start + size + 32
                    continue
                checksum = data[start + size:start + size + 32]
                found.setdefault(shape, []).append(_UndoRecord(start, size, checksum))
                pos = start + size + 32
        self._by_file[file_no] = found
        return found


def _shape(data: bytes) -> Shape:
    """Inputs per transaction of an undo record, read without decoding amounts."""
    n_tx, p = _compact_size(data, 0)
    counts = []
    for _ in range(n_tx):
        n_in, p = _compact_size(data, p)
        counts.append(n_in)
        for _ in range(n_in):
            code, p = _core_varint(data, p)
            if code >> 1 > 0:
                _v, p = _core_varint(data, p)
            _a, p = _core_varint(data, p)
            size, p = _core_varint(data, p)
            p += (20 if size < 2 else 32) if size < 6 else size - 6
    return tuple(counts)
