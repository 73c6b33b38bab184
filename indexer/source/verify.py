"""Checks that a block's bytes are the block its header names: hash and merkle root.

A damaged disk or a file changed under us shows up here as a `DamagedBlockError` naming where,
instead of as silently wrong numbers. The merkle walk is the compiled core's (GIL released) or
its reference.
"""

from __future__ import annotations

from indexer import fastpath
from indexer.errors import DamagedBlockError
from indexer.parse.deserializer import hum, sha256d


def check_merkle_root(data: bytes, hash_rev: bytes | None, where: str) -> tuple[int, bytes]:
    """The block's weight and scan table; DamagedBlockError unless `data` is a whole block
    whose transactions give the merkle root in its header (and whose header hashes to
    `hash_rev`, when given). One walk gives all three (`fastpath.block_check`)."""
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
