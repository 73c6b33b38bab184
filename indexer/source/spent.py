"""What a block's inputs spend, as the exchange step takes it (`flows.exchanges.SpentScripts`):
per transaction, the inputs whose spent script the exchange filter may hold, with that script.

Made from the block's undo record (`fastpath.undo_held` over the hits packed with its values,
or `fastpath.undo_hits`; compiled, over Core's compressed scripts) or from the spent scripts a
source knows outright (a node's verbosity-3 answer, the funding outputs of the fallback without
rev files)."""

from __future__ import annotations

from collections.abc import Iterable

from indexer import fastpath
from indexer.fastpath import FingerprintFilter, PackedUndo
from indexer.fastpath.undo import decompress_script

Held = dict[int, tuple[int, list[tuple[int, bytes, int]]]]
SpentHeld = Held | tuple[bytes, bytes]
"""Held, or (packed, record): the hits `fastpath.pack_block_undo` packed with the values."""


def held_from_undo(undo: PackedUndo | bytes, scripts: FingerprintFilter) -> SpentHeld:
    """From a block's CBlockUndo record, or the record packed with its values. When the hits
    were packed with this filter (one walk of the record, on the read-ahead thread), they are
    handed on packed, as (packed, record), unless one spends an uncompressed key; else a walk
    here. An uncompressed key (kinds 4 and 5) is rebuilt on the curve here, and kept only when
    the filter holds its script (ValueError: a record no node writes, a key off the curve)."""
    if isinstance(undo, bytes):
        held, curve = fastpath.undo_hits(undo, scripts)
    elif undo.hits_of is not scripts:
        held, curve = fastpath.undo_hits(undo.record, scripts)
    elif not undo.has_curve_hits():
        return undo.packed, undo.record
    else:
        held, curve = fastpath.undo_held(undo.packed, undo.record)
    for tx, at, kind, x, value, total in curve:
        script = decompress_script(kind, x)
        if fastpath.script_fingerprint(script) in scripts:
            inputs = held.setdefault(tx, (total, []))[1]
            inputs.append((at, script, value))
            inputs.sort()  # in input order, as the others
    return held


def held_from_scripts(spent: Iterable[tuple[list[bytes], list[int]]],
                      scripts: FingerprintFilter) -> Held:
    """From the spent scripts and values of each transaction after the coinbase, in block
    order."""
    held: Held = {}
    fingerprint = fastpath.script_fingerprint
    for tx, (spent_scripts, values) in enumerate(spent, start=1):
        hits = [(at, script, values[at]) for at, script in enumerate(spent_scripts)
                if fingerprint(script) in scripts]
        if hits:
            held[tx] = (sum(values), hits)
    return held
