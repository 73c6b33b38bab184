"""The reference implementation of the hot loops, in plain Python: the executable specification.

The compiled core (`indexer/fastpath/*.c`) implements the same functions and the Filter, one
file per responsibility beside its twin here: `filters.py`, `walk.py` (and `scantable.py`),
`undo.py`, `step.py`, `exchange.py`, `labels.py`, `addresses.py`; this module gathers them. The
differential harness (`tests/fuzz/targets.py`, driven by hypothesis in the suite and by
`scripts/fuzz.py` against a sanitizer build) checks that both give the same result or both
raise the same error type on every input, and the index tests that both build byte-identical
indexes. Fingerprints:
- a coin's: the first 8 bytes of its txid (serialized order) as a little-endian int, xor vout;
- a script's: its last 8 bytes (all of it when shorter) as a little-endian int, xor its length.
A `Filter` holds fingerprints modulo 2**64. Malformed bytes raise ValueError; arguments of the
wrong type raise TypeError; integers that do not fit a signed 64-bit word raise OverflowError.
"""

from __future__ import annotations

from indexer.fastpath.addresses import decode_address as decode_address
from indexer.fastpath.exchange import exchange_txs as exchange_txs
from indexer.fastpath.exchange import undo_held as undo_held
from indexer.fastpath.exchange import undo_hits as undo_hits
from indexer.fastpath.filters import Filter as Filter
from indexer.fastpath.filters import coin_fingerprint as coin_fingerprint
from indexer.fastpath.filters import script_fingerprint as script_fingerprint
from indexer.fastpath.labels import derive_candidates as derive_candidates
from indexer.fastpath.labels import undo_tx_scripts as undo_tx_scripts
from indexer.fastpath.scantable import scan_table as scan_table
from indexer.fastpath.step import add_sums as add_sums
from indexer.fastpath.step import step_txs as step_txs
from indexer.fastpath.undo import MAX_MONEY as MAX_MONEY
from indexer.fastpath.undo import block_undo_scripts as block_undo_scripts
from indexer.fastpath.undo import decompress_amount as decompress_amount
from indexer.fastpath.undo import pack_block_undo as pack_block_undo
from indexer.fastpath.undo import parse_block_undo as parse_block_undo
from indexer.fastpath.undo import xor_at as xor_at
from indexer.fastpath.walk import WITNESS_COMMITMENT as WITNESS_COMMITMENT
from indexer.fastpath.walk import block_check as block_check
from indexer.fastpath.walk import block_weight as block_weight
from indexer.fastpath.walk import merkle_root as merkle_root
from indexer.fastpath.walk import scan_block as scan_block
from indexer.fastpath.walk import witness_fault as witness_fault
