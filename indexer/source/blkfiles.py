"""Bitcoin Core block files: record framing, XOR de-obfuscation, zero padding, torn tails.

A blk file is a sequence of records `magic(4) | size(u32 LE) | block(size)`, possibly followed by
zero padding (files are preallocated) or ended by a record cut short when the node stopped
mid-write. Since Core 28 every byte at file offset p is stored as `plain[p] ^ key[p % 8]` with the
key in `blocks/xor.dat`. This module reads records; it does not decide which blocks count.
"""

from __future__ import annotations

import logging
import os
import re
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from indexer import fastpath
from indexer.errors import SourceError

log = logging.getLogger(__name__)

_BLK_NAME = re.compile(r"^blk(\d{5,})\.dat$")
_PREFIX = struct.Struct("<4sI")
_SCAN_CHUNK = 1 << 20
MIN_BLOCK_SIZE = 80 + 1 + 60  # header, tx count, smallest coinbase


@dataclass(frozen=True, slots=True)
class RecordLocation:
    """Where a block's bytes are: file, offset of the block (after the 8-byte prefix), size."""

    file_no: int
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class Record:
    """A whole record found by a scan, with its 80 header bytes."""

    location: RecordLocation
    header: bytes


@dataclass(frozen=True, slots=True)
class Gap:
    """Bytes between two records that belong to neither (a stray write)."""

    path: Path
    offset: int
    length: int

    def describe(self) -> str:
        return (f"{self.path.name} offset {self.offset}: {self.length} stray byte(s) before "
                f"the next record, skipped")


@dataclass(frozen=True, slots=True)
class TornRecord:
    """A record whose declared size runs past the end of its file."""

    path: Path
    offset: int  # of the record's magic
    declared: int
    present: int
    header: bytes | None  # the 80 header bytes when they are present

    @property
    def gap(self) -> int:
        return self.declared - self.present

    def describe(self) -> str:
        return (f"{self.path.name} offset {self.offset}: torn record, {self.declared} bytes "
                f"declared, {self.present} present ({self.gap} missing)")


def read_xor_key(blocks_dir: Path) -> bytes | None:
    """The obfuscation key from `xor.dat`, or None when files are stored in the clear."""
    path = blocks_dir / "xor.dat"
    if not path.exists():
        return None
    key = path.read_bytes()
    if len(key) != 8:
        raise SourceError(f"{path}: xor key must be 8 bytes, found {len(key)}")
    return None if key == bytes(8) else key


def xor_at(data: bytes, key: bytes | None, offset: int) -> bytes:
    """De-obfuscate `data` read from file offset `offset` (identity when key is None)."""
    if key is None or not data:
        return data
    return fastpath.xor_at(data, key, offset)


class OpenFile:
    """The file read last, kept open: a chain is read file by file, so one read in a thousand
    opens a file (and the read-ahead thread hands the GIL back once per block, not four times).
    Safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._file_no = -1
        self._fd = -1

    def pread(self, file_no: int, path: Path, size: int, offset: int) -> bytes:
        """Up to `size` bytes of file `file_no` (at `path`) from `offset`; OSError as os's."""
        with self._lock:
            if file_no != self._file_no:
                self._close()
                self._fd = os.open(path, os.O_RDONLY)
                self._file_no = file_no
            return os.pread(self._fd, size, offset)

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._fd, self._file_no = -1, -1

    def __del__(self) -> None:
        self._close()


class BlockFiles:
    """The blk*.dat files of one blocks directory, read-only."""

    def __init__(self, blocks_dir: Path, magic: bytes) -> None:
        self.blocks_dir = blocks_dir
        self.magic = magic
        self.key = read_xor_key(blocks_dir)
        self.paths: dict[int, Path] = {}
        for path in blocks_dir.iterdir():
            match = _BLK_NAME.match(path.name)
            if match:
                self.paths[int(match.group(1))] = path
        if not self.paths:
            raise SourceError(f"no blk*.dat files in {blocks_dir}")
        self._open = OpenFile()

    def path(self, file_no: int) -> Path:
        return self.paths[file_no]

    def read(self, loc: RecordLocation) -> bytes:
        """The plain bytes of the block at `loc`."""
        path = self.paths[loc.file_no]
        try:
            data = self._open.pread(loc.file_no, path, loc.size, loc.offset)
        except OSError as exc:
            raise SourceError(f"cannot read {path} ({exc.strerror or exc})") from None
        if len(data) != loc.size:
            raise SourceError(f"{path.name} offset {loc.offset}: {loc.size} bytes expected, "
                              f"{len(data)} read (file changed?)")
        return xor_at(data, self.key, loc.offset)

    def scan(self, first_file: int = 0) -> Iterator[Record | TornRecord | Gap]:
        """Every record of the files numbered from `first_file` on, in file order."""
        for file_no in sorted(self.paths):
            if file_no >= first_file:
                yield from self._scan_file(file_no)

    def _scan_file(self, file_no: int) -> Iterator[Record | TornRecord | Gap]:
        path = self.paths[file_no]
        size = path.stat().st_size
        with path.open("rb") as f:
            pos = 0
            while pos + 8 <= size:
                f.seek(pos)
                raw = f.read(88)
                plain = xor_at(raw, self.key, pos)
                magic, length = _PREFIX.unpack_from(plain)
                if magic != self.magic:
                    found = self._find_magic(f, pos, size)
                    if found is None:
                        return
                    yield Gap(path, pos, found - pos)
                    pos = found
                    continue
                start = pos + 8
                if start + length > size:
                    present = size - start
                    header = plain[8:88] if present >= 80 else None
                    yield TornRecord(path, pos, length, present, header)
                    return
                if length < 80:
                    log.warning("%s offset %d: record of %d bytes is too small for a block, "
                                "skipped", path.name, pos, length)
                else:
                    yield Record(RecordLocation(file_no, start, length), plain[8:88])
                pos = start + length

    def _find_magic(self, f: BinaryIO, pos: int, size: int) -> int | None:
        """The offset of the next record magic at or after `pos`, skipping padding or junk."""
        start = pos
        junk = False
        while pos < size:
            f.seek(pos)
            chunk = xor_at(f.read(_SCAN_CHUNK + 3), self.key, pos)
            idx = chunk.find(self.magic)
            if idx >= 0:
                return pos + idx
            junk = junk or chunk[:_SCAN_CHUNK].strip(b"\0") != b""
            pos += _SCAN_CHUNK
        if junk:
            log.warning("%s: %d bytes after offset %d are neither records nor zero padding",
                        Path(f.name).name, size - start, start)
        return None
