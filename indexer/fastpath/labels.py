"""The transactions of a block a `labels derive` pass must look at, in plain Python: the twin
of `labels.c`, and `undo_tx_scripts`, which reads one candidate's spent scripts whole."""

from __future__ import annotations

from typing import Any

from indexer.fastpath.filters import Filter, script_fingerprint
from indexer.fastpath.scantable import block_start, walk_tx
from indexer.fastpath.undo import MALFORMED, decompress_amount, decompress_script, read_spent
from indexer.parse.deserializer import read_compact_size


def derive_candidates(block: Any, undo: Any, core: Filter) -> list[tuple[int, int, int]]:
    """(index, start in the block, start in the undo record) of every non-coinbase transaction
    that spends a script whose fingerprint `core` holds (R1), that has one or two outputs all
    of whose fingerprints `core` holds (R2), or that spends an uncompressed P2PK script
    (kinds 4 and 5 of Core's ScriptCompression: its fingerprint needs the curve, so the caller
    decides). ValueError when the block is not whole or the undo record does not match it."""
    d = bytes(memoryview(block))
    u = bytes(memoryview(undo))
    if not isinstance(core, Filter):
        raise TypeError("core is a Filter")
    n_tx, p = block_start(d)
    txs: list[tuple[int, int, list[int]]] = []  # (start, inputs, output fingerprints)
    try:
        for _ in range(n_tx):
            coin_fps: list[int] = []
            member_fps: list[int] = []
            start, p = p, walk_tx(d, p, coin_fps, member_fps)
            txs.append((start, len(coin_fps), member_fps))
    except MALFORMED:
        raise ValueError("a transaction runs past the end of the block") from None
    if p != len(d):
        raise ValueError("bytes after the block's last transaction")
    try:
        return _candidates(u, txs, core)
    except MALFORMED:
        raise ValueError("undo record runs past its end") from None


def _candidates(u: bytes, txs: list[tuple[int, int, list[int]]],
                core: Filter) -> list[tuple[int, int, int]]:
    n_undo, q = read_compact_size(u, 0)
    if n_undo != len(txs) - 1:
        raise ValueError("the undo record does not hold one entry per non-coinbase transaction")
    found = []
    for index in range(1, len(txs)):
        start, n_inputs, outputs = txs[index]
        undo_start = q
        n_in, q = read_compact_size(u, q)
        if n_in != n_inputs:
            raise ValueError("the undo record does not match the block's inputs")
        hit = False
        for _ in range(n_in):
            amount, kind, body, q = read_spent(u, q)
            decompress_amount(amount)
            if not hit:
                hit = kind in (4, 5) or script_fingerprint(
                    decompress_script(kind, body, curve=False)) in core
        if not hit and 1 <= len(outputs) <= 2:
            hit = all(fp in core for fp in outputs)
        if hit:
            found.append((index, start, undo_start))
    if q != len(u):
        raise ValueError("undo record holds bytes after its last entry")
    return found


def undo_tx_scripts(undo: bytes, pos: int) -> list[tuple[int, bytes]]:
    """The (value, script) of every output one transaction's undo entry (at `pos`) spends."""
    try:
        n_in, q = read_compact_size(undo, pos)
        spent = []
        for _ in range(n_in):
            amount, kind, body, q = read_spent(undo, q)
            spent.append((decompress_amount(amount), decompress_script(kind, body)))
    except MALFORMED:
        raise ValueError("undo record runs past its end") from None
    return spent
