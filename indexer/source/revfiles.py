"""Bitcoin Core undo files (rev*.dat): the values of the outputs each block spends.

A rev record is `magic | size(u32) | CBlockUndo(size) | checksum(32)`, the checksum being
sha256d(parent block hash || CBlockUndo). Blocks stored in blkN.dat have their undo in revN.dat,
in connection order, so a record is looked for from just after the last one found, matched by its
transaction count and confirmed by its checksum (the first few bytes of each record are all the
file index reads). The index decodes values only; `labels derive` reads whole records.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from indexer.errors import SourceError
from indexer.fastpath import FingerprintFilter, PackedUndo, pack_block_undo, parse_block_undo
from indexer.parse.deserializer import RawBlock, read_compact_size, sha256d
from indexer.source.blkfiles import xor_at

_PREFIX = struct.Struct("<4sI")
_FILES_KEPT = 4  # rev files whose record lists are kept
T = TypeVar("T")


class UndoMissing(SourceError):
    """No undo record for a block in its rev file."""

@dataclass(frozen=True, slots=True)
class UndoRecord:
    """Where one undo record's CBlockUndo lies in its (de-obfuscated) rev file."""

    tx_count: int  # of the block's non-coinbase transactions
    offset: int
    size: int
    checksum: bytes


def undo_records(data: bytes, magic: bytes) -> list[UndoRecord]:
    """Every whole record of a de-obfuscated rev file, in file order (stray bytes skipped, a
    torn tail left out)."""
    found: list[UndoRecord] = []
    pos = 0
    while pos + 8 <= len(data):
        record_magic, size = _PREFIX.unpack_from(data, pos)
        if record_magic != magic:
            nxt = data.find(magic, pos + 1)
            if nxt < 0:
                break
            pos = nxt
            continue
        start = pos + 8
        if start + size + 32 > len(data):
            break  # torn tail
        if size:  # the record and its checksum are in `data`: the count's 9 bytes at most too
            tx_count = read_compact_size(data, start)[0]
            checksum = data[start + size:start + size + 32]
            found.append(UndoRecord(tx_count, start, size, checksum))
        pos = start + size + 32
    return found


def read_rev_file(path: Path, key: bytes | None) -> bytes:
    """The plain bytes of a rev file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read {path} ({exc.strerror or exc})") from None
    return xor_at(data, key, 0)


def _outwards(start: int, count: int) -> Iterator[int]:
    """0 .. count-1, nearest to `start` first."""
    start = min(max(start, 0), count)
    for step in range(max(start, count - start) + 1):
        if start + step < count:
            yield start + step
        if step and start - step >= 0:
            yield start - step


class UndoFiles:
    """Finds and decodes the undo record of an active-chain block on demand; safe to share
    between the read-ahead threads (a file is listed under a lock; the search hint and the
    copy of the last file are replaced whole)."""

    def __init__(self, blocks_dir: Path, magic: bytes, key: bytes | None) -> None:
        self.blocks_dir = blocks_dir
        self.magic = magic
        self.key = key
        self._by_file: dict[int, list[UndoRecord]] = {}
        self._next: dict[int, int] = {}  # per file, the record after the last one matched
        self._file: tuple[int, bytes] | None = None  # the last rev file listed, de-obfuscated
        self._paths: dict[int, Path] = {}
        self._listing = threading.Lock()

    def spent_values(self, file_no: int, block: RawBlock, height: int) -> list[list[int]]:
        """Per non-coinbase transaction, the values its inputs spend."""
        return self._decode(parse_block_undo, file_no, block.tx_count,
                            block.header.prev_hash_rev, height)

    def packed_values(self, file_no: int, tx_count: int, prev_hash_rev: bytes,
                      height: int, scripts: FingerprintFilter | None = None) -> PackedUndo:
        """The same values, packed (decoded with the GIL released: the read-ahead thread
        calls this), with the record; with `scripts`, the exchange filter, the inputs whose
        spent script it may hold too, from the same walk."""
        packed, record = self._decode(lambda data: (pack_block_undo(data, scripts), data),
                                      file_no, tx_count, prev_hash_rev, height)
        return PackedUndo(packed, record, scripts)

    def record_bytes(self, file_no: int, tx_count: int, prev_hash_rev: bytes,
                     height: int) -> bytes:
        """The block's CBlockUndo record itself (for the scripts it spends)."""
        return self._decode(bytes, file_no, tx_count, prev_hash_rev, height)

    def _decode(self, decode: Callable[[bytes], T], file_no: int, tx_count: int,
                prev_hash_rev: bytes, height: int) -> T:
        path = self._paths.get(file_no)
        if path is None:
            path = self._paths[file_no] = self.blocks_dir / f"rev{file_no:05d}.dat"
        found = self._find(file_no, path, tx_count, prev_hash_rev)
        if found is None:
            raise UndoMissing(
                f"height {height}: the values of the outputs this block spends are needed, but "
                f"{path.name} holds no undo record for it (block files without their rev "
                f"files?)")
        offset, data = found
        try:
            return decode(data)
        except (ValueError, IndexError) as exc:
            raise SourceError(f"{path.name} offset {offset}: undo record of height {height} "
                              f"does not decode ({exc})") from None

    def _find(self, file_no: int, path: Path, tx_count: int,
              prev_hash_rev: bytes) -> tuple[int, bytes] | None:
        """(offset, bytes) of the block's record. Records follow connection order, so the
        search goes outwards from the record after the last one found."""
        records = self._records(file_no, path)
        for i in _outwards(self._next.get(file_no, 0), len(records)):
            record = records[i]
            if record.tx_count != tx_count - 1:
                continue
            data = self._read(file_no, path, record.offset, record.size)
            if sha256d(prev_hash_rev + data) == record.checksum:
                self._next[file_no] = i + 1
                return record.offset, data
        return None

    def _read(self, file_no: int, path: Path, offset: int, size: int) -> bytes:
        """Bytes of a rev file, from the copy of the last file read whole."""
        cached = self._file
        if cached is not None and cached[0] == file_no:
            return cached[1][offset:offset + size]
        with path.open("rb") as f:
            f.seek(offset)
            return xor_at(f.read(size), self.key, offset)

    def _records(self, file_no: int, path: Path) -> list[UndoRecord]:
        found = self._by_file.get(file_no)
        if found is not None:
            return found
        with self._listing:
            return self._list(file_no, path)

    def _list(self, file_no: int, path: Path) -> list[UndoRecord]:
        found = self._by_file.get(file_no)  # listed meanwhile by another thread
        if found is not None:
            return found
        found = []
        if path.exists():
            data = read_rev_file(path, self.key)
            self._file = (file_no, data)
            found = undo_records(data, self.magic)
        self._by_file[file_no] = found
        while len(self._by_file) > _FILES_KEPT:  # the chain moves on through the files
            del self._by_file[min(n for n in self._by_file if n != file_no)]
        return found
