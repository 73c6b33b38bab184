"""The active chain offline: the most-work chain of complete blocks found in the block files.

Order never comes from file position: headers are linked by their parent hash, work is summed from
genesis, and the tip with the most work wins (equal work: the tip stored first). A block is usable
only when its record is whole and every ancestor is present; a torn record therefore ends the
chain at its parent. Chain time is max(header time, parent's chain time).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from indexer.config import Network, bits_to_target
from indexer.errors import SourceError
from indexer.parse.deserializer import hum, sha256d
from indexer.source.blkfiles import BlockFiles, Gap, Record, RecordLocation, TornRecord

_HEADER_LINKS = struct.Struct("<4x32s32sII")  # prev hash, merkle root, time, bits


def block_work(bits: int) -> int:
    """Expected hashes to find a block at this target: 2**256 // (target + 1)."""
    return (1 << 256) // (bits_to_target(bits) + 1)


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
    for seq, item in enumerate(files.scan()):
        if isinstance(item, TornRecord):
            torn.append(item)
            continue
        if isinstance(item, Gap):
            notes.append(item.describe())
            continue
        assert isinstance(item, Record)
        block_hash = sha256d(item.header)
        if block_hash in known:
            first = known[block_hash][3]
            same = files.read(first) == files.read(item.location)
            name = files.path(item.location.file_no).name
            notes.append(
                f"{name} offset {item.location.offset - 8}: another copy of block "
                f"{hum(block_hash)}{'' if same else ', different from the first'}, ignored"
            )
            continue
        prev, _merkle, time, bits = _HEADER_LINKS.unpack_from(item.header)
        known[block_hash] = (prev, time, bits, item.location, seq)

    genesis = bytes.fromhex(network.genesis_hash_hum)[::-1]
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

    tip = min(work, key=lambda h: (-work[h], known[h][4]))
    path: list[bytes] = []
    cursor = tip
    while True:
        path.append(cursor)
        if cursor == genesis:
            break
        cursor = known[cursor][0]
    path.reverse()

    blocks: list[ChainBlock] = []
    chain_time = 0
    for h, block_hash in enumerate(path):
        prev, time, bits, location, _seq = known[block_hash]
        chain_time = max(time, chain_time)
        blocks.append(ChainBlock(h, block_hash, prev, time, chain_time, bits, location))
    on_chain = set(path)
    stale = [h for h in known if h not in on_chain and h in work]
    return ActiveChain(blocks, stale, torn, notes)
