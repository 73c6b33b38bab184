"""The transaction and block walks, in plain Python: the twin of `walk.c` (the scan table's is
`scantable.py`): scan_block, merkle_root, block_weight, block_check and its witness check."""

from __future__ import annotations

from typing import Any

from indexer.errors import ParseError
from indexer.fastpath.filters import Filter
from indexer.fastpath.filters import check_ssize as _ssize
from indexer.fastpath.scantable import scan_table as scan_table
from indexer.fastpath.scantable import walk_tx
from indexer.fastpath.undo import MALFORMED as _MALFORMED
from indexer.parse.deserializer import Tx, parse_block, read_compact_size, sha256d
from indexer.parse.deserializer import merkle_root as merkle_of_txids


def scan_block(data: bytes, pos: int, index: int, n_tx: int, coins: Filter,
               members: Filter) -> tuple[int, int]:
    """From transaction `index` at `pos`, the (index, pos) of the next one that spends a coin in
    `coins` or pays a script in `members`; (n_tx, end of the last transaction) when none does."""
    if not isinstance(coins, Filter) or not isinstance(members, Filter):
        raise TypeError("coins and members are Filters")
    _ssize(pos, index, n_tx)
    d = bytes(data)
    end = len(d)
    if pos < 0 or pos > end or index < 0 or index > n_tx:
        raise ValueError(f"scan_block: pos {pos} or index {index} outside the data ({end} bytes, "
                         f"{n_tx} txs)")
    try:
        while index < n_tx:
            coin_fps: list[int] = []
            member_fps: list[int] = []
            after = walk_tx(d, pos, coin_fps, member_fps)
            if any(fp in coins for fp in coin_fps) or any(fp in members for fp in member_fps):
                return index, pos
            index += 1
            pos = after
    except _MALFORMED:
        raise ValueError(f"transaction {index} runs past the end of the data") from None
    return n_tx, pos


def _whole_block(data: bytes) -> list[Tx]:
    """The transactions of a whole block; ValueError when the bytes are not exactly one."""
    try:
        return parse_block(data, require_coinbase=False).txs
    except ParseError as exc:
        raise ValueError(str(exc)) from None


def merkle_root(block: Any) -> bytes:
    """The merkle root (serialized order) of the txids of a whole serialized block."""
    return merkle_of_txids([tx.txid_rev for tx in _whole_block(bytes(block))])


def block_weight(block: Any) -> int:
    """BIP 141 weight of a whole serialized block: 3 x stripped size + total size."""
    data = bytes(block)
    txs = _whole_block(data)
    _n, stripped = read_compact_size(data, 80)
    return 3 * (stripped + sum(tx.stripped_size for tx in txs)) + len(data)


def block_check(block: Any) -> tuple[bytes, int, bytes]:
    """(merkle_root, block_weight, scan_table) of a whole serialized block: the check of every
    block on every path, and the walk the cohort step then need not do. A block with witness
    data must also carry its BIP 141 commitment (`witness_fault`), else ValueError."""
    data = bytes(block)
    found = merkle_root(data), block_weight(data), scan_table(data)
    why = witness_fault(data)
    if why is not None:
        raise ValueError(why)
    return found


WITNESS_COMMITMENT = bytes.fromhex("6a24aa21a9ed")


def witness_fault(data: bytes) -> str | None:
    """BIP 141 for a whole block: None when no transaction is serialized with witness data, or
    when the coinbase's commitment (its last output whose script is at least 38 bytes and starts
    6a24aa21a9ed) equals sha256d(merkle root of the wtxids, the coinbase's as 32 zero bytes ||
    the witness reserved value, the one 32-byte witness item of the coinbase's first input);
    else why not."""
    txs = _whole_block(data)
    segwit = [tx._body_start > tx._start + 4 for tx in txs]
    if not any(segwit):
        return None
    coinbase = txs[0]
    commits = [out.script for out in coinbase.outputs
               if len(out.script) >= 38 and out.script[:6] == WITNESS_COMMITMENT]
    if not commits:
        return "it has witness data but no witness commitment in its coinbase"
    reserved = None
    if segwit[0] and coinbase.inputs:
        items, p = read_compact_size(data, coinbase._body_end)
        if items == 1:
            size, p = read_compact_size(data, p)
            if size == 32:
                reserved = data[p:p + 32]
    if reserved is None:
        return "its coinbase lacks the witness reserved value (one 32-byte witness item)"
    wtxids = [bytes(32)] + [sha256d(data[tx._start:tx._lock_start + 4]) if wit else tx.txid_rev
                            for tx, wit in zip(txs[1:], segwit[1:], strict=True)]
    if sha256d(merkle_of_txids(wtxids) + reserved) != commits[-1][6:38]:
        return "its witness data does not match the witness commitment in its coinbase"
    return None


# -- the cohort step over a block's transactions after the coinbase (SPEC 5) ---------------------
