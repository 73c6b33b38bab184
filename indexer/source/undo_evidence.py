"""What the rev files tell about blocks that no blk file holds any more.

Core writes a block's undo record when it connects the block, into the rev file numbered like the
block's blk file, and checksums it as sha256d(parent hash || record). A record that verifies
against a known parent, beyond the known children of that parent stored in the same blk file, is
a block that was once part of the node's chain and is lost now (zeroed, cut off): a *lost child*.
Records that verify against no block in reach are counted apart: each may be one more lost block
of a connected chain, which bounds how far a lost branch can reach. Damage to a rev file only
adds to that count; it never makes a lost child up.

Only the files where blocks may be missing are read: the newest, and those whose blk file showed
damage (or all of them when records lost their parents).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from indexer.parse.deserializer import sha256d
from indexer.source.revfiles import read_rev_file, undo_records

# Stored blocks of the file before whose hashes are tried as parents (a block lost at the start of
# a file hangs from the end of the previous one).
_PREVIOUS_FILE_REACH = 64
# Past this many bytes hashed against the whole candidate list in one file, records left are
# counted as unverified without trying.
_SEARCH_BUDGET = 1 << 30


@dataclass(slots=True)
class LostChildren:
    """Lost children per parent hash, where the first record of each is, and the count of records
    that verify against no block in reach."""

    by_parent: Counter[bytes] = field(default_factory=Counter)
    where: dict[bytes, str] = field(default_factory=dict)
    unverified: int = 0


StoredBlock = tuple[bytes, bytes]  # (hash, parent hash), little-endian as in headers


def find_lost_children(blocks_dir: Path, magic: bytes, key: bytes | None,
                       stored: Mapping[int, Sequence[StoredBlock]],
                       file_nos: Iterable[int]) -> LostChildren:
    """Read the rev files numbered `file_nos`; `stored` lists, per blk file and in file order,
    the blocks found there (hash and parent)."""
    lost = LostChildren()
    for file_no in sorted(set(file_nos)):
        path = blocks_dir / f"rev{file_no:05d}.dat"
        if path.exists():
            _match_file(path, magic, key, stored.get(file_no, ()),
                        stored.get(file_no - 1, ())[-_PREVIOUS_FILE_REACH:], lost)
    return lost


def _match_file(path: Path, magic: bytes, key: bytes | None, blocks: Sequence[StoredBlock],
                before: Sequence[StoredBlock], lost: LostChildren) -> None:
    data = read_rev_file(path, key)
    parents = [prev for _hash, prev in blocks]
    # Every hash a record of this file can name: the parents of its blocks, its blocks (a lost
    # child of a block present), the last blocks of the file before.
    candidates = list(dict.fromkeys([*parents, *(h for h, _p in blocks),
                                     *(h for h, _p in before)]))
    children = Counter(parents)
    cursor = 0  # records follow connection order, which is mostly file order
    budget = _SEARCH_BUDGET
    for record in undo_records(data, magic):
        body = data[record.offset:record.offset + record.size]
        parent = None
        for i in range(cursor, min(cursor + 4, len(parents))):
            if sha256d(parents[i] + body) == record.checksum:
                parent, cursor = parents[i], i + 1
                break
        if parent is None and budget > 0:
            budget -= len(candidates) * (record.size + 32)
            parent = next((p for p in candidates if sha256d(p + body) == record.checksum), None)
        if parent is None:
            lost.unverified += 1
        elif children[parent] > 0:
            children[parent] -= 1
        else:
            lost.by_parent[parent] += 1
            lost.where.setdefault(parent, f"{path.name} offset {record.offset - 8}")
