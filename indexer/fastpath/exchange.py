"""SPEC 5.1 over a block's transactions, in plain Python: the twin of `exchange.c`
(`undo_hits`, `undo_held`, `exchange_txs`).

Exchange coins are not tracked: what an input spends is read from the block's undo record (the
spent output's script, as the node keeps it), so a transaction spends exchange X's coins when
the scripts its inputs spend are X's. `undo_hits` finds those inputs (a fingerprint filter of
the exchange scripts in front), `exchange_txs` applies the rules."""

from __future__ import annotations

import struct
from typing import Any

from indexer.fastpath.filters import Filter, script_fingerprint
from indexer.fastpath.filters import check_ssize as _ssize
from indexer.fastpath.scantable import MISMATCH, read_table
from indexer.fastpath.undo import MALFORMED as _MALFORMED
from indexer.fastpath.undo import MAX_MONEY, decompress_amount, decompress_script, read_spent
from indexer.fastpath.walk import scan_block
from indexer.parse.deserializer import Tx, read_compact_size, read_tx

ALL = 0xFFFF  # the flows of every exchange as one entity
ExchangeSums = list[int]  # [inflow, outflow, fees, balance]
# tx index -> (what all its inputs spend, [(input index, spent script, spent value)] of its hits)
Held = dict[int, tuple[int, list[tuple[int, bytes, int]]]]
Curve = list[tuple[int, int, int, bytes, int, int]]  # tx, input, kind, x, value, tx's total


def undo_hits(undo: Any, scripts: Filter) -> tuple[Held, Curve]:
    """The inputs of a CBlockUndo record whose spent script's fingerprint `scripts` holds:
    per transaction index in the block (from 1: 0 is the coinbase, which spends nothing), what
    all its inputs spend and the (input index, script, value) of each hit, the script as Core
    reads it back (ScriptCompression's kinds 0-3 rebuilt, a body over 10,000 bytes
    OP_RETURN); and apart, (tx index, input index, kind, x, value, the transaction's total) of
    every input that spends an uncompressed key (kinds 4 and 5: its fingerprint needs the
    curve, so the caller decides). ValueError when the record does not decode whole."""
    u = bytes(memoryview(undo))
    if not isinstance(scripts, Filter):
        raise TypeError("scripts is a Filter")
    held: Held = {}
    curve: Curve = []
    try:
        n_tx, q = read_compact_size(u, 0)
        for tx in range(1, n_tx + 1):
            n_in, q = read_compact_size(u, q)
            total = 0
            hits: list[tuple[int, bytes, int]] = []
            keys: list[tuple[int, int, bytes, int]] = []
            for i in range(n_in):
                amount, kind, body, q = read_spent(u, q)
                value = decompress_amount(amount)
                total += value
                if kind in (4, 5):
                    keys.append((i, kind, body, value))
                    continue
                script = decompress_script(kind, body, curve=False)
                if script_fingerprint(script) in scripts:
                    hits.append((i, script, value))
            if hits:
                held[tx] = (total, hits)
            curve += [(tx, i, kind, x, value, total) for i, kind, x, value in keys]
    except _MALFORMED:
        raise ValueError("undo record runs past its end") from None
    if q != len(u):
        raise ValueError(f"undo record uses {q} of its {len(u)} bytes")
    return held, curve


PACKED_BAD = "packed undo hits do not fit the undo record"


def undo_held(packed: Any, undo: Any) -> tuple[Held, Curve]:
    """`undo_hits(undo, scripts)`'s answer from `pack_block_undo(undo, scripts)` made before
    (on the read-ahead thread: the record is then walked once). The packed words are trusted
    in nothing: counts, starts, hit order (ascending by transaction, then input), input
    indexes and script bodies that do not fit each other or the record raise ValueError."""
    w, u = bytes(memoryview(packed)), bytes(memoryview(undo))
    if len(w) < 16 or len(w) % 8:
        raise ValueError(PACKED_BAD)
    words = struct.unpack(f"<{len(w) // 8}Q", w)
    n_tx = words[0]
    if n_tx > len(words) - 2:
        raise ValueError(PACKED_BAD)
    starts = words[1:n_tx + 2]
    if starts[0] != 0 or any(b < a for a, b in zip(starts, starts[1:], strict=False)):
        raise ValueError(PACKED_BAD)
    base = n_tx + 2
    n_values = starts[-1]
    if n_values >= len(words) - base:  # the values, then the hits' count
        raise ValueError(PACKED_BAD)
    values = words[base:base + n_values]
    hit_words = words[base + n_values + 1:]
    if words[base + n_values] * 4 != len(hit_words):
        raise ValueError(PACKED_BAD)
    held: Held = {}
    curve: Curve = []
    last = (0, 0)
    for j in range(0, len(hit_words), 4):
        tx, at, kind, body = hit_words[j:j + 4]
        length = (20 if kind < 2 else 32) if kind < 6 else kind - 6
        if not 1 <= tx <= n_tx or (tx, at) <= last or at >= starts[tx] - starts[tx - 1] or (
                body + length > len(u)):
            raise ValueError(PACKED_BAD)
        last = (tx, at)
        total = sum(values[starts[tx - 1]:starts[tx]])
        value = values[starts[tx - 1] + at]
        x = u[body:body + length]
        if kind in (4, 5):
            curve.append((tx, at, kind, x, value, total))
        else:
            held.setdefault(tx, (total, []))[1].append(
                (at, decompress_script(kind, x, curve=False), value))
    return held, curve


def _money(value: object, what: str, index: int) -> int:
    if not isinstance(value, int):
        raise TypeError(f"transaction {index}: {what} is an int")
    if not 0 <= value <= MAX_MONEY:
        raise ValueError(f"transaction {index}: {what} outside 0..21,000,000 BTC")
    return value


def _exchange(found: object) -> int | None:
    """An exchange id as the lookup gave it: an int in 0..0xFFFE, or None."""
    if found is None:
        return None
    if not isinstance(found, int):
        raise TypeError("an exchange id is an int or None")
    if not 0 <= found < ALL:
        raise ValueError("an exchange id is in 0..65534")
    return found


def _check_held(held: object) -> list[int]:
    """`held`'s shape checked whole; its transaction indexes, ascending."""
    if type(held) is not dict:
        raise TypeError("held is a dict or (packed, undo)")
    for key, items in held.items():
        if not isinstance(key, int):
            raise TypeError("held is keyed by transaction index")
        _ssize(key)
        if not isinstance(items, tuple) or len(items) != 2 or not isinstance(
                items[0], int) or type(items[1]) is not list:
            raise TypeError("held maps to (total, list)")
        for item in items[1]:
            if not isinstance(item, tuple) or len(item) != 3 or not isinstance(
                    item[0], int) or not isinstance(item[1], bytes) or not isinstance(
                    item[2], int):
                raise TypeError("a held input is (input index, script, value)")
            _ssize(item[0])
    return sorted(held)


def _held(held: object) -> object:
    """`held` as a dict: given as (packed, undo), the hits `pack_block_undo` packed with the
    values (`undo_held`'s, none of them an uncompressed key's)."""
    if not isinstance(held, tuple):
        return held  # its shape is _check_held's
    if len(held) != 2:
        raise TypeError("held is a dict or (packed, undo)")
    listed, curve = undo_held(*held)
    if curve:
        raise ValueError("an uncompressed key's hit needs held as a dict")
    return listed


def exchange_txs(data: bytes, pos: int, index: int, n_tx: int, scripts: Filter,
                 exchange_of: Any, held: Held | tuple[Any, Any], sums: dict[int, ExchangeSums],
                 table: Any = None) -> int:
    """Apply SPEC 5.1 to the transactions of a block from `index` (at `pos`) on; the end of
    the last one. A transaction is decoded when `held` lists inputs of it (those whose spent
    script's fingerprint the exchange filter holds: `undo_hits`) or when `scripts`, that filter,
    holds an output's; `exchange_of(script)` gives a script's exchange id or None and is asked
    only for those scripts, once per script in a call; what a transaction's inputs spend, in
    all and at each held input, comes with `held`. `sums` per exchange id (and ALL, every
    exchange as one entity): [inflow, outflow, fees, balance change], updated in place.
    Malformed bytes, a held input index outside the transaction's inputs, values outside
    0..21M BTC and held values above the total raise ValueError; `table` (the block's
    `scan_table`) replaces the walk to each transaction whose outputs the filter may hold.
    `held` may come as (packed, undo) instead: `pack_block_undo(undo, scripts)` and the
    record, read as `undo_held` reads them (the compiled core makes no Python object of
    them), when no hit is an uncompressed key's (ValueError)."""
    _ssize(pos, index, n_tx)
    if not isinstance(scripts, Filter):
        raise TypeError("scripts is a Filter")
    listed = _held(held)
    order = _check_held(listed)
    assert isinstance(listed, dict)
    held = listed
    if type(sums) is not dict:
        raise TypeError("sums is a dict")
    data = bytes(data)
    nothing = Filter()
    acc: dict[int, ExchangeSums] = {}  # this call's sums, added into `sums` at its end
    exchange_of = _asked_once(exchange_of)
    if pos < 0 or pos > len(data) or index < 0 or index > n_tx:
        raise ValueError(f"exchange_txs: pos {pos} or index {index} outside the data")
    waiting = [i for i in order if i >= index]
    if table is not None:
        checked = read_table(table, len(data), pos, index, n_tx)
        pending = -1  # the next output hit at or after it, found before (k: none)
        while True:
            if pending < index:
                found = checked.next_hit(index, nothing, scripts)
                pending = checked.k if found is None else found
            hit = pending if pending < checked.k else None
            held_next = next((i for i in waiting if i >= index and i < checked.k), None)
            if hit is None and held_next is None:
                break
            index = min(i for i in (hit, held_next) if i is not None)
            try:
                tx, end = read_tx(data, checked.starts[index])
            except _MALFORMED:
                raise ValueError(f"transaction {index} runs past the end of the data") from None
            _exchange_tx(index, tx, scripts, exchange_of, held.get(index), acc)
            if end != checked.starts[index + 1]:
                raise ValueError(MISMATCH)
            index += 1
        if checked.bad:
            raise ValueError(f"transaction {checked.k} runs past the end of the data")
        _merge(acc, sums)
        return checked.starts[checked.k]
    while True:
        held_next = next((i for i in waiting if i >= index and i < n_tx), n_tx)
        index, pos = scan_block(data, pos, index, held_next, nothing, scripts)
        if index >= n_tx:
            _merge(acc, sums)
            return pos
        try:
            tx, pos = read_tx(data, pos)
        except _MALFORMED:
            raise ValueError(f"transaction {index} runs past the end of the data") from None
        _exchange_tx(index, tx, scripts, exchange_of, held.get(index), acc)
        index += 1


def _asked_once(exchange_of: Any) -> Any:
    """`exchange_of` asked once per script in a call (a valid answer is kept; an invalid one
    raises at once), the compiled core's own answers kept the same way."""
    answers: dict[bytes, int | None] = {}

    def ask(script: bytes) -> int | None:
        key = bytes(script)
        if key in answers:
            return answers[key]
        found = answers[key] = _exchange(exchange_of(script))
        return found

    return ask


def _merge(acc: dict[int, ExchangeSums], sums: dict[int, ExchangeSums]) -> None:
    """Add a call's sums into `sums`, in entity order."""
    for entity in sorted(acc):
        flow = acc[entity]
        total = sums.get(entity)
        if total is None:
            sums[entity] = flow
            continue
        if type(total) is not list or len(total) != 4:
            raise TypeError("exchange sums are a list of four")
        for k in range(4):
            total[k] += flow[k]


def _exchange_tx(index: int, tx: Tx, scripts: Filter, exchange_of: Any,
                 listed: tuple[int, list[tuple[int, bytes, int]]] | None,
                 acc: dict[int, ExchangeSums]) -> None:
    values = [_money(o.value, "an output value", index) for o in tx.outputs]
    _money(sum(values), "the output total", index)
    held: dict[int, int] = {}  # exchange -> I_X
    total_in = 0
    if listed is not None:
        total_in = _money(listed[0], "the spent total", index)
        for at, script, value in listed[1]:
            if not 0 <= at < len(tx.inputs):
                raise ValueError(f"transaction {index}: held input {at} is not one of its "
                                 f"{len(tx.inputs)}")
            exchange = exchange_of(script)
            if exchange is not None:
                held[exchange] = held.get(exchange, 0) + _money(value, "a spent value", index)
    paid: list[int | None] = []
    for txout in tx.outputs:
        exchange = None
        if script_fingerprint(txout.script) in scripts:
            exchange = exchange_of(txout.script)
        paid.append(exchange)
    if not held and all(x is None for x in paid):
        return
    if held:
        held[ALL] = sum(held.values())
        if held[ALL] > total_in:
            raise ValueError(f"transaction {index}: its exchange inputs spend more than all "
                             f"its inputs")
    else:
        total_in = 0
    fee = total_in - sum(values)
    for entity in sorted(set(held) | {x for x in paid if x is not None} | {ALL}):
        mine = held.get(entity, 0)
        inflow = outflow = 0
        balance = -mine
        for value, exchange in zip(values, paid, strict=True):
            share = value * mine // total_in if mine else 0
            if exchange is not None and (exchange == entity or entity == ALL):
                inflow += value - share
                balance += value
            else:
                outflow += share
        fees = fee * mine // total_in if mine else 0
        if inflow or outflow or fees or balance:
            total = acc.setdefault(entity, [0, 0, 0, 0])
            total[0] += inflow
            total[1] += outflow
            total[2] += fees
            total[3] += balance
