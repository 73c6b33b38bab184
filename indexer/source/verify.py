"""Checks that a block's bytes are the block its header names: hash, merkle root and, where the
block has witness data, its BIP 141 witness commitment.

Every path checks every block here (block files in `reindex`, the node's files, REST and
`getblock` in `sync` and following): a damaged disk, a file changed under us or a node that
sends other transactions shows up as a `DamagedBlockError` naming where, instead of as silently
wrong numbers. The walk is the compiled core's (GIL released) or its reference.
"""

from __future__ import annotations

from indexer import fastpath
from indexer.errors import DamagedBlockError
from indexer.parse.deserializer import hum, sha256d


def check_block(data: bytes, hash_rev: bytes | None, where: str) -> tuple[int, bytes]:
    """The block's weight and scan table; DamagedBlockError unless `data` is a whole block
    whose transactions give the merkle root in its header, whose witness data (if any) matches
    its coinbase's commitment, and whose header hashes to `hash_rev` (when given). One walk
    gives all of it (`fastpath.block_check`)."""
    if len(data) < 80:
        raise DamagedBlockError(f"{where}: {len(data)} bytes, too short for a block")
    if hash_rev is not None and sha256d(data[:80]) != hash_rev:
        raise DamagedBlockError(f"{where}: the header read now hashes to "
                                f"{hum(sha256d(data[:80]))} (file changed or damaged)")
    try:
        root, weight, scan = fastpath.block_check(data)
    except ValueError as exc:
        raise DamagedBlockError(f"{where}: damaged, {exc}") from None
    if root != data[36:68]:
        raise DamagedBlockError(f"{where}: damaged, its transactions do not match the merkle "
                                f"root of its header")
    return weight, scan


def is_valid_block(data: bytes) -> bool:
    """Whether `data` passes `check_block` (its header's hash aside)."""
    try:
        check_block(data, None, "")
    except DamagedBlockError:
        return False
    return True
