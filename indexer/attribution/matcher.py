"""SPEC section 4 as a pure function: a coinbase in, the pool that found the block out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from indexer.attribution.pools import UNKNOWN_ID, CompiledPools


@dataclass(frozen=True, slots=True)
class Attribution:
    pool_id: int
    method: str  # "address", "tag" or "none"
    tag_pool_id: int | None
    conflict: bool


def match_tag(script_sig: bytes, pools: CompiledPools) -> int | None:
    """The id of the pool whose tag (longest in UTF-8 bytes, then lowest id) is in the scriptSig."""
    haystack = script_sig.lower()  # bytes.lower() folds ASCII letters only
    for tag, pool_id in pools.tags:
        if tag in haystack:
            return pool_id
    return None


def match_address(outputs: Sequence[tuple[int, bytes]], pools: CompiledPools) -> int | None:
    """The pool paid the most by coinbase outputs at its listed scripts (tie: lowest id)."""
    totals: dict[int, int] = {}
    for value, script in outputs:
        for pool_id in pools.scripts.get(script, ()):
            totals[pool_id] = totals.get(pool_id, 0) + value
    if not totals:
        return None
    return min(totals, key=lambda pool_id: (-totals[pool_id], pool_id))


def attribute(script_sig: bytes, outputs: Sequence[tuple[int, bytes]],
              pools: CompiledPools) -> Attribution:
    """Attribute a block from its coinbase input-0 scriptSig and its (value, script) outputs."""
    by_address = match_address(outputs, pools)
    by_tag = match_tag(script_sig, pools)
    conflict = by_address is not None and by_tag is not None and by_address != by_tag
    if by_address is not None:
        return Attribution(by_address, "address", by_tag, conflict)
    if by_tag is not None:
        return Attribution(by_tag, "tag", by_tag, False)
    return Attribution(UNKNOWN_ID, "none", None, False)
