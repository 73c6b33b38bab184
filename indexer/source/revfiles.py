"""Bitcoin Core undo files (rev*.dat): the values of the outputs each block spends.

A rev record is `magic | size(u32) | CBlockUndo(size) | checksum(32)`, the checksum being
sha256d(parent block hash || CBlockUndo). Blocks stored in blkN.dat have their undo in revN.dat,
in connection order, so a record is looked for from just after the last one found, matched by its
transaction count and confirmed by its checksum (the first few bytes of each record are all the
file index reads). Only values are decoded; scripts are skipped.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from indexer.errors import SourceError
from indexer.fastpath import PackedUndo, pack_block_undo, parse_block_undo
from indexer.parse.deserializer import RawBlock, read_compact_size, sha256d
from indexer.source.blkfiles import xor_at

_PREFIX = struct.Struct("<4sI")
T = TypeVar("T")


class UndoMissing(SourceError):
    """No undo record for a block in its rev file."""

@dataclass(frozen=True, slots=True)
class _UndoRecord:
    tx_count: int
    offset: int
    size: int
    checksum: bytes


class UndoFiles:
    """Finds and decodes the undo record of an active-chain block on demand."""

    def __init__(self, blocks_dir: Path, magic: bytes, key: bytes | None) -> None:
        self.blocks_dir = blocks_dir
        self.magic = magic
        self.key = key
        self._by_file: dict[int, list[_UndoRecord]] = {}
        self._next: dict[int, int] = {}  # per file, the record after the last one matched
        self._file: tuple[int, bytes] | None = None  # the last rev file listed, de-obfuscated

    def spent_values(self, file_no: int, block: RawBlock, height: int) -> list[list[int]]:
        """Per non-coinbase transaction, the values its inputs spend."""
        return self._decode(parse_block_undo, file_no, block.tx_count,
                            block.header.prev_hash_rev, height)

    def packed_values(self, file_no: int, tx_count: int, prev_hash_rev: bytes,
                      height: int) -> PackedUndo:
        """The same values, packed (decoded with the GIL released: the read-ahead thread
        calls this)."""
        return PackedUndo(self._decode(pack_block_undo, file_no, tx_count, prev_hash_rev,
                                       height))

    def _decode(self, decode: Callable[[bytes], T], file_no: int, tx_count: int,
                prev_hash_rev: bytes, height: int) -> T:
        path = self.blocks_dir / f"rev{file_no:05d}.dat"
        records = self._records(file_no, path)
        after = self._next.get(file_no, 0)
        for i in [*range(after, len(records)), *range(after)]:
            record = records[i]
            if record.tx_count != tx_count - 1:
                continue
            data = self._read(file_no, path, record.offset, record.size)
            if sha256d(prev_hash_rev + data) == record.checksum:
                self._next[file_no] = i + 1
                try:
                    return decode(data)
                except (ValueError, IndexError) as exc:
                    raise SourceError(f"{path.name} offset {record.offset}: undo record of "
                                      f"height {height} does not decode ({exc})") from None
        raise UndoMissing(
            f"height {height}: the values of the outputs this block spends are needed, but "
            f"{path.name} holds no undo record for it (block files without their rev files?)"
        )

    def _read(self, file_no: int, path: Path, offset: int, size: int) -> bytes:
        """Bytes of a rev file, from the copy of the last file read whole."""
        if self._file is not None and self._file[0] == file_no:
            return self._file[1][offset:offset + size]
        with path.open("rb") as f:
            f.seek(offset)
            return xor_at(f.read(size), self.key, offset)

    def _records(self, file_no: int, path: Path) -> list[_UndoRecord]:
        found = self._by_file.get(file_no)
        if found is not None:
            return found
        found = []
        if path.exists():
            data = xor_at(path.read_bytes(), self.key, 0)
            self._file = (file_no, data)
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
                if size:
                    tx_count, _p = read_compact_size(data, start)
                    checksum = data[start + size:start + size + 32]
                    found.append(_UndoRecord(tx_count, start, size, checksum))
                pos = start + size + 32
        self._by_file[file_no] = found
        return found
