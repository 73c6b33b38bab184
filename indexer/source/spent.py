"""What a block's inputs spend, as the exchange step takes it (`flows.exchanges.SpentScripts`):
per transaction, the inputs whose spent script the exchange filter may hold, with that script.

Made from the block's undo record (`fastpath.undo_hits`, compiled, over Core's compressed
scripts) or from the spent scripts a source knows outright (a node's verbosity-3 answer, the
funding outputs of the fallback without rev files)."""

from __future__ import annotations

from collections.abc import Iterable

from indexer import fastpath
from indexer.fastpath import FingerprintFilter
from indexer.fastpath.undo import decompress_script

Held = dict[int, tuple[int, list[tuple[int, bytes, int]]]]


def held_from_undo(record: bytes, scripts: FingerprintFilter) -> Held:
    """From a CBlockUndo record; an uncompressed key (kinds 4 and 5) is rebuilt on the curve
    here, and kept only when the filter holds its script (ValueError: a record no node
    writes, a key off the curve)."""
    held, curve = fastpath.undo_hits(record, scripts)
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
