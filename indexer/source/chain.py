"""The active chain offline: the most-work chain of complete blocks found in the block files.

Order never comes from file position: headers are linked by their parent hash, work is summed from
genesis, and the tip with the most work wins (equal work: the tip stored first). A block is usable
only when its record is whole and every ancestor is present; a torn record therefore ends the
chain at its parent. Chain time is max(header time, parent's chain time).

Damaged files are told apart from a short chain: a header that fails its own proof of work is no
block; a torn record whose header survived counts its work for its parent's chain; records whose
parent is in no file (a damaged header changes a block's hash, a zeroed or cut file loses
records) are placed by the BIP34 height in their coinbase. When such a branch could outweigh the
chain found, the chain ends below both its BIP34 cap and the lowest fork of the blocks present
(where every height holds one block, the chain's own), and the damage is reported with file and
offset; a damaged branch too light to matter is reported and left out.

Blocks lost without a trace in the blk files (a file cut on a record boundary, a zeroed run of
records) still have their undo records in the rev files (`undo_evidence`): a lost block that
hung from a block present ends the chain below the fork where it hung, unless its branch
cannot reach the chain's work even at the most the rev files allow (then it was a stale block).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

from indexer.config import Network, bits_to_target
from indexer.errors import ParseError, SourceError
from indexer.mining import block_work
from indexer.parse.deserializer import hum, open_block, sha256d
from indexer.source.blkfiles import BlockFiles, Gap, Record, RecordLocation, TornRecord
from indexer.source.undo_evidence import LostChildren, StoredBlock, find_lost_children
from indexer.source.verify import is_valid_block

_HEADER_LINKS = struct.Struct("<4x32s32sII")  # prev hash, merkle root, time, bits


@dataclass(frozen=True, slots=True)
class ChainBlock:
    """One block of the active chain, as the header scan knows it."""

    height: int
    hash_rev: bytes
    prev_rev: bytes
    time: int  # header time
    chain_time: int
    bits: int
    location: RecordLocation

    @property
    def hash_hum(self) -> str:
        return hum(self.hash_rev)


@dataclass(slots=True)
class ActiveChain:
    """The active chain (genesis first), what was left out, and why."""

    blocks: list[ChainBlock]
    stale: list[bytes] = field(default_factory=list)
    torn: list[TornRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    damage: list[str] = field(default_factory=list)  # damage that cut the chain short
    stale_at: list[RecordLocation] = field(default_factory=list)  # where the stale blocks are
    unconnected: list[bytes] = field(default_factory=list)  # blocks with an ancestor missing

    def holds(self, hash_rev: bytes) -> bool:
        """Whether the files hold a whole record of the block (active, stale or unconnected)."""
        return (hash_rev in self.stale or hash_rev in self.unconnected
                or any(cb.hash_rev == hash_rev for cb in self.blocks))

    @property
    def tip_height(self) -> int:
        return len(self.blocks) - 1

    def truncate(self, height: int) -> None:
        """Drop every block above `height` (the record at height+1 turned out unusable)."""
        del self.blocks[height + 1:]


def find_active_chain(files: BlockFiles, network: Network) -> ActiveChain:
    """Scan every record header and return the most-work chain of complete blocks."""
    # hash -> (prev, time, bits, location, file-order sequence); the first copy of a hash wins.
    known: dict[bytes, tuple[bytes, int, int, RecordLocation, int]] = {}
    torn: list[TornRecord] = []
    notes: list[str] = []
    file_no_of = {path: file_no for file_no, path in files.paths.items()}
    suspect = {max(files.paths)}  # blk files that may have lost blocks: the newest, the damaged
    for seq, item in enumerate(files.scan()):
        if isinstance(item, TornRecord):
            torn.append(item)
            suspect.add(file_no_of[item.path])
            continue
        if isinstance(item, Gap):
            notes.append(item.describe())
            suspect.add(file_no_of[item.path])
            continue
        assert isinstance(item, Record)
        block_hash = sha256d(item.header)
        if block_hash in known:
            notes.append(_second_copy(files, known, block_hash, item.location))
            continue
        prev, _merkle, time, bits = _HEADER_LINKS.unpack_from(item.header)
        if int.from_bytes(block_hash, "little") > bits_to_target(bits):
            name = files.path(item.location.file_no).name
            notes.append(f"{name} offset {item.location.offset - 8}: record whose header fails "
                         f"its proof of work (a damaged header), skipped")
            suspect.add(item.location.file_no)
            continue
        known[block_hash] = (prev, time, bits, item.location, seq)

    genesis = bytes.fromhex(network.genesis_hash_hum)[::-1]
    if genesis not in known and 0 not in files.paths:
        first_name = files.path(min(files.paths)).name
        raise SourceError(
            f"{files.blocks_dir} is pruned: blk00000.dat is gone and the first file left is "
            f"{first_name}; reindex needs every block from genesis (run the node without -prune, "
            f"or sync an existing index from a node that still holds its next blocks)")
    if genesis not in known:
        raise SourceError(
            f"the {network.name} genesis block {network.genesis_hash_hum} is not in the block "
            f"files of {files.blocks_dir} (wrong --network, or files of another chain?)"
        )
    children: dict[bytes, list[bytes]] = {}
    for block_hash, (prev, *_rest) in known.items():
        children.setdefault(prev, []).append(block_hash)

    # Walk down from genesis: cumulative work and height of every block whose ancestors are all
    # present. Iterative, so a chain of any length is fine.
    work: dict[bytes, int] = {genesis: block_work(known[genesis][2])}
    height: dict[bytes, int] = {genesis: 0}
    stack = [genesis]
    while stack:
        parent = stack.pop()
        for child in children.get(parent, ()):
            work[child] = work[parent] + block_work(known[child][2])
            height[child] = height[parent] + 1
            stack.append(child)

    # A torn record whose header survived was a block on its parent: the chain through that
    # parent carries its work too (so a lighter stale branch cannot win by the loss).
    torn_work: dict[bytes, int] = {}
    for item in torn:
        if item.header is not None:
            prev, _merkle, _time, bits = _HEADER_LINKS.unpack_from(item.header)
            if prev in work:
                torn_work[prev] = max(torn_work.get(prev, 0), work[prev] + block_work(bits))
    tip = min(work, key=lambda h: (-max(work[h], torn_work.get(h, 0)), known[h][4]))
    path = _path_to(known, genesis, tip)
    torn_parent = {sha256d(t.header): t.header[4:36] for t in torn if t.header is not None}
    # Records whose parent is in no file and no torn record: damage, not a short chain.
    orphans = [h for h, (prev, *_rest) in known.items()
               if h not in work and prev not in known and prev not in torn_parent]
    if orphans:
        suspect.update(files.paths)  # any file may have lost blocks
    lost = find_lost_children(files.blocks_dir, files.magic, files.key,
                              _stored_by_file(known, torn_parent, torn, file_no_of), suspect)
    best = work[tip]
    damage = _cut_at_damage(files, known, children, work, height, path, orphans, notes)
    damage += _cut_at_lost(known, work, height, path, best, lost, torn_parent, notes)

    blocks: list[ChainBlock] = []
    chain_time = 0
    for h, block_hash in enumerate(path):
        prev, time, bits, location, _seq = known[block_hash]
        chain_time = max(time, chain_time)
        blocks.append(ChainBlock(h, block_hash, prev, time, chain_time, bits, location))
    on_chain = set(path)
    stale = [h for h in known if h not in on_chain and h in work]
    return ActiveChain(blocks, stale, torn, notes, damage, [known[h][3] for h in stale],
                       [h for h in known if h not in work])


Known = dict[bytes, tuple[bytes, int, int, RecordLocation, int]]


def _second_copy(files: BlockFiles, known: Known, block_hash: bytes,
                 location: RecordLocation) -> str:
    """Keep the valid one of two records of one block (the first when both are, or neither:
    the check when it is read then says so); the note on the one left out. Copies that differ
    can only differ where the header's hash does not reach: witness data, or damage."""
    prev, time, bits, first, seq = known[block_hash]
    first_data, data = files.read(first), files.read(location)
    name = files.path(location.file_no).name
    where = f"{name} offset {location.offset - 8}"
    if first_data == data:
        return f"{where}: another copy of block {hum(block_hash)}, ignored"
    if not is_valid_block(first_data) and is_valid_block(data):
        known[block_hash] = (prev, time, bits, location, seq)
        first_name = files.path(first.file_no).name
        return (f"{first_name} offset {first.offset - 8}: a copy of block {hum(block_hash)} "
                f"that fails its check (merkle root or witness commitment), ignored for the "
                f"valid copy at {where}")
    return f"{where}: another copy of block {hum(block_hash)}, different from the first, ignored"


def _path_to(known: Known, genesis: bytes, tip: bytes) -> list[bytes]:
    path: list[bytes] = []
    cursor = tip
    while True:
        path.append(cursor)
        if cursor == genesis:
            break
        cursor = known[cursor][0]
    path.reverse()
    return path


def coinbase_height(data: bytes) -> int | None:
    """The BIP34 height pushed first in a block's coinbase scriptSig, when there is one."""
    try:
        script = open_block(data).coinbase.inputs[0].script_sig
    except ParseError:
        return None
    if not script:
        return None
    op = script[0]
    if 0x51 <= op <= 0x60:  # OP_1 .. OP_16
        return op - 0x50
    if 1 <= op <= 4 and len(script) > op:
        return int.from_bytes(script[1:1 + op], "little")
    return None


def _cut_at_damage(files: BlockFiles, known: Known, children: dict[bytes, list[bytes]],
                   work: dict[bytes, int], height: dict[bytes, int], path: list[bytes],
                   orphans: list[bytes], notes: list[str]) -> list[str]:
    """Shorten `path` (in place) below damage that may hide a heavier chain; the reasons.
    `orphans`: the records whose parent is in no file (a torn record, reported as such, is no
    damage of this kind)."""
    if not orphans:
        return []
    best = work[path[-1]]
    keep = len(path) - 1  # the highest height of `path` kept
    damage: list[str] = []
    for root in sorted(orphans, key=lambda h: known[h][4]):
        prev, _time, bits, location, _seq = known[root]
        where = f"{files.path(location.file_no).name} offset {location.offset - 8}"
        branch_work = _branch_work(known, children, root)
        try:
            claimed = coinbase_height(files.read(location))
        except SourceError:
            claimed = None
        attach = [] if claimed is None else [h for h, at in height.items() if at == claimed - 2]
        if attach:
            heaviest = max(work[h] for h in attach) + block_work(bits) + branch_work
            if heaviest < best:
                notes.append(f"{where}: block {hum(root)} names parent {hum(prev)}, which is "
                             f"in no block file; its branch is lighter than the chain found, "
                             f"so it is left out (a damaged stale block)")
                continue
        # Which present block the lost part hung from is unknown: a stale block may be present
        # where the chain's own block was lost. Keep only heights below the BIP34 cap and below
        # the lowest fork of the blocks present, where each height has one block, the chain's.
        cap = claimed - 2 if claimed is not None and claimed >= 2 else len(path) - 1
        shared = min(cap, _below_first_fork(height))
        keep = min(keep, shared)
        damage.append(f"{where}: block {hum(root)} names parent {hum(prev)}, which is in no "
                      f"block file (a damaged or missing record); the usable chain ends at "
                      f"height {keep}")
    del path[keep + 1:]
    return damage


def _stored_by_file(known: Known, torn_parent: dict[bytes, bytes], torn: list[TornRecord],
                    file_no_of: dict[Path, int]) -> dict[int, list[StoredBlock]]:
    """Per blk file, in file order, the blocks stored there (torn records with a header too)."""
    stored: dict[int, list[tuple[int, bytes, bytes]]] = {}
    for block_hash, (prev, _time, _bits, location, seq) in known.items():
        stored.setdefault(location.file_no, []).append((seq, block_hash, prev))
    for item in torn:
        if item.header is not None:
            block_hash = sha256d(item.header)
            stored.setdefault(file_no_of[item.path], []).append(  # a torn record ends its file
                (1 << 62, block_hash, torn_parent[block_hash]))
    return {file_no: [(h, p) for _seq, h, p in sorted(blocks)]
            for file_no, blocks in stored.items()}


def _cut_at_lost(known: Known, work: dict[bytes, int], height: dict[bytes, int],
                 path: list[bytes], best: int, lost: LostChildren,
                 torn_parent: dict[bytes, bytes], notes: list[str]) -> list[str]:
    """Shorten `path` (in place) below a lost block the rev files show that may have belonged to
    the node's chain (`best`: the work of the chain found); the reasons.

    A lost branch holds at most the lost child, the torn record it hangs from (if so), one block
    per unverified record and every block whose ancestors are not all present, each at most as
    heavy as the heaviest block known: when even that cannot reach `best`, the lost block was a
    stale one."""
    if not lost.by_parent:
        return []
    heaviest_block = max(block_work(bits) for _prev, _time, bits, _loc, _seq in known.values())
    cut_off = sum(block_hash not in work for block_hash in known)
    on_path = {block_hash: at for at, block_hash in enumerate(path)}
    keep = len(path) - 1
    damage: list[str] = []
    for parent in lost.by_parent:  # in file order
        base, above = parent, 1
        if parent not in work and parent in torn_parent:
            base, above = torn_parent[parent], 2
        if base not in work:
            continue  # hangs from a record that is itself cut off: its damage is reported
        where = lost.where[parent]
        lost_height = height[base] + above
        if base == path[-1]:
            notes.append(f"{where}: the undo record of a block at height {lost_height}, which no "
                         f"blk file holds; the chain ends at height {height[base]}")
            continue
        reach = work[base] + (above + lost.unverified + cut_off) * heaviest_block
        if reach < best:
            notes.append(f"{where}: the undo record of a block at height {lost_height}, which no "
                         f"blk file holds; its branch is lighter than the chain found, so it is "
                         f"left out (a lost stale block)")
            continue
        fork = base
        while fork not in on_path:
            fork = known[fork][0]
        keep = min(keep, on_path[fork])
        damage.append(f"{where}: the undo record of a block at height {lost_height}, which no blk "
                      f"file holds (a damaged or missing record); the usable chain ends at "
                      f"height {keep}")
    del path[keep + 1:]
    return damage


def _branch_work(known: Known, children: dict[bytes, list[bytes]], root: bytes) -> int:
    """The work of the heaviest branch from `root` up (root included)."""
    total: dict[bytes, int] = {root: block_work(known[root][2])}
    stack, heaviest = [root], 0
    while stack:
        node = stack.pop()
        heaviest = max(heaviest, total[node])
        for child in children.get(node, ()):
            total[child] = total[node] + block_work(known[child][2])
            stack.append(child)
    return heaviest


def _below_first_fork(height: dict[bytes, int]) -> int:
    """The highest height below which every height holds exactly one block."""
    count: dict[int, int] = {}
    for at in height.values():
        count[at] = count.get(at, 0) + 1
    forked = [at for at, n in count.items() if n > 1]
    return (min(forked) if forked else max(count) + 1) - 1
