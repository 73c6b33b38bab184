"""The fuzz targets: one function per part, the fuzzer's bytes in, an assertion out.

Two kinds of check:
- differential: the compiled core (`indexer/fastpath/_core.c`) and its reference
  (`indexer/fastpath/reference.py`) give the same result, or both raise the same error type
  (ValueError for malformed bytes, TypeError, OverflowError for absurd arguments);
- robust: a reader or loader of outside input (deserializer, blk and rev files, pools list,
  labels, bitcoin.conf, cookie) returns a result or raises its typed `MinerflowError`, and
  nothing else: no other exception, no signal, no hang.

`TARGETS` maps a name to its function. Every function takes raw bytes, so the same targets run
under hypothesis in the suite (`tests/fuzz/test_fuzz.py`), replay the kept corpus of inputs that
once failed (`tests/data/fuzz-corpus/<target>/`), and run for millions of inputs under
`scripts/fuzz.py` against an AddressSanitizer+UBSan build of the core.
"""

from __future__ import annotations

import shutil
import struct
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from indexer.attribution.pools import compile_pools, load_pools
from indexer.config import get_network
from indexer.errors import MinerflowError, ParseError
from indexer.fastpath import PackedUndo, coin_fingerprint, reference, script_fingerprint
from indexer.fastpath.scantable import read_table
from indexer.labels.labelset import prepare
from indexer.parse.deserializer import (
    open_block,
    parse_block,
    parse_tx,
    read_compact_size,
    read_tx,
    sha256d,
)
from indexer.parse.script import script_for
from indexer.source.blkfiles import BlockFiles, Gap, Record, TornRecord
from indexer.source.chain import find_active_chain
from indexer.source.revfiles import UndoFiles
from indexer.source.rpc import NodeAuth, read_conf
from tests.fuzz.coin_targets import get_coin, put_coins
from tests.fuzz.harness import Reader, agree, compiled, odd_int, outcome

REGTEST = get_network("regtest")
# -- compiled core against reference ---------------------------------------------------------


def _fingerprints(r: Reader, data: bytes) -> tuple[list[int], list[int]]:
    """Coin and script fingerprints that hit transactions of `data` when it parses, else
    fingerprints of byte windows; chosen by the fuzzer's bytes."""
    pick = r.u8()
    coins: list[int] = [r.u64() for _ in range(r.u8() % 3)]
    members: list[int] = [r.u64() for _ in range(r.u8() % 3)]
    try:
        txs = parse_block(data, require_coinbase=False).txs
    except ParseError:
        for off in range(pick % 61, max(0, len(data) - 36), 53 + pick):
            coins.append(int.from_bytes(data[off:off + 8], "little")
                         ^ int.from_bytes(data[off + 32:off + 36], "little"))
            members.append(script_fingerprint(data[off:off + 1 + pick % 40]))
        return coins, members
    for i, tx in enumerate(txs):
        if (i + pick) % 3 == 0:
            txin = tx.inputs[(i + pick) % len(tx.inputs)] if tx.inputs else None
            if txin is not None:
                coins.append(coin_fingerprint(txin.prev_txid_rev, txin.prev_vout))
        if (i + pick) % 4 == 1 and tx.outputs:
            members.append(script_fingerprint(tx.outputs[(i * 7 + pick) % len(tx.outputs)].script))
    return coins, members


def scan_block(raw: bytes) -> None:
    """Walk a block hit by hit, as the cohort step does, with both implementations."""
    r = Reader(raw)
    params = Reader(r.take(16))
    data = r.rest()
    try:
        n_tx, natural = read_compact_size(data, 80)
    except (IndexError, struct.error):
        n_tx, natural = 1, 81
    coins, members = _fingerprints(params, data)
    pos = odd_int(params, natural)
    index = odd_int(params, 0)
    n_tx = odd_int(params, n_tx)
    filters = {}
    for impl in (compiled(), reference):
        a, b = impl.Filter(), impl.Filter()
        for fp in coins:
            a.add(fp)
        for fp in members:
            b.add(fp)
        filters[impl.__name__] = (a, b, impl.Filter())

    def walk(impl: ModuleType) -> list[tuple[str, Any]]:
        coin_f, member_f, empty = filters[impl.__name__]
        steps: list[tuple[str, Any]] = []
        at, i = pos, index
        for _ in range(2000):
            step = outcome(impl.scan_block, data, at, i, n_tx, coin_f, member_f)
            steps.append(step)
            if step[0] == "raise" or step[1][0] >= n_tx:
                return steps
            i, at = step[1]
            over = outcome(impl.scan_block, data, at, i, i + 1, empty, empty)
            steps.append(over)
            if over[0] == "raise":
                return steps
            i, at = over[1]
        return steps

    got, want = walk(compiled()), walk(reference)
    assert got == want, f"scan_block: compiled {got[-3:]!r} != reference {want[-3:]!r}"


def parse_block_undo(raw: bytes) -> None:
    agree("parse_block_undo", "parse_block_undo", raw)


def pack_block_undo(raw: bytes) -> None:
    """A (mutated) undo record packed by both, without and with a filter of some of the
    scripts it spends: the same bytes or error type; the values are parse_block_undo's, and
    the hits read back (`undo_held`) are `undo_hits`'s answer, from both."""
    got = agree("pack_block_undo", "pack_block_undo", raw)
    if got[0] == "ok":  # the packed values are parse_block_undo's
        packed = PackedUndo(got[1])
        lists = [packed.values(i) for i in range(packed.tx_count)]
        assert lists == reference.parse_block_undo(raw), "packed and listed values differ"
    chosen = _chosen_spent(raw, raw[-1] if raw else 0)
    with_hits = []
    for impl in (compiled(), reference):
        scripts = impl.Filter()
        for fp in chosen:
            scripts.add(fp)
        made = outcome(impl.pack_block_undo, raw, scripts)
        with_hits.append(made)
        if made[0] == "ok":
            read_back = outcome(impl.undo_held, made[1], raw)
            hits = outcome(impl.undo_hits, raw, scripts)
            assert read_back == hits, f"undo_held {read_back!r} != undo_hits {hits!r}"
            assert bytes(made[1]).startswith(got[1]), "the hits change the values packed"
    assert with_hits[0] == with_hits[1], (
        f"pack_block_undo with a filter: compiled {with_hits[0]!r} != reference "
        f"{with_hits[1]!r}")


def _chosen_spent(undo: bytes, pick: int) -> list[int]:
    """Fingerprints of about a third of the scripts a record spends (none when it does not
    decode), and one of nothing."""
    try:
        spent = [s for tx in reference.block_undo_scripts(undo) for _v, s in tx]
    except ValueError:
        spent = []
    return [script_fingerprint(s) for k, s in enumerate(spent) if (k + pick) % 3 == 0] + [
        pick << 40 | 7]


def undo_held(raw: bytes) -> None:
    """Packed hits (a real record's, mutated) read back with their record by both: the same
    answer or the same error type."""
    r = Reader(raw)
    size = int.from_bytes(r.take(4), "little")
    rest = r.rest()
    agree("undo_held", "undo_held", rest[:size], rest[size:])


def _packed_held(held: dict[int, Any], values_of: Callable[[int], Any]) -> tuple[bytes, bytes]:
    """A held dict as (packed, undo record) in `pack_block_undo`'s layout with hits: the
    scripts kept whole (kind length + 6) in a record of their bodies only, every input's value
    (`values_of`, from 1 to the last transaction held)."""
    n_tx = max(held, default=0)
    values = []
    for t in range(1, n_tx + 1):
        got = values_of(t)
        fit = type(got) is list and all(type(v) is int and 0 <= v < 1 << 64 for v in got)
        values.append(got if fit else [1_000] * len(got if type(got) in (list, tuple) else [0]))
    record = b""
    hits: list[int] = []
    for t in sorted(held):
        for at, script, _value in held[t][1]:
            hits += [t, at, len(script) + 6, len(record)]
            record += script
    starts = [0]
    for listed in values:
        starts.append(starts[-1] + len(listed))
    words = [n_tx, *starts, *(v for listed in values for v in listed), len(hits) // 4, *hits]
    return struct.pack(f"<{len(words)}Q", *words), record


def xor_at(raw: bytes) -> None:
    r = Reader(raw)
    key = r.take(8 if r.u8() % 8 else r.u8() % 12)
    offset = odd_int(r, r.u64() % 4096)
    agree("xor_at", "xor_at", r.rest(), key, offset)


def filter_ops(raw: bytes) -> None:
    """The same adds and probes on both filters give the same answers and length."""
    r = Reader(raw)
    fresh = r.u8() % 4 == 0
    made = []
    for impl in (compiled(), reference):
        made.append(impl.Filter.__new__(impl.Filter) if fresh else impl.Filter())
    answers: list[list[Any]] = [[], []]
    while r.p < len(raw):
        op, value = r.u8(), r.u64()
        shaped = (value, value % 4, -value, value + (1 << 64) * (op >> 4), (1 << 64) - 1 - value)
        probe: Any = shaped[op % 5]
        if op % 16 == 15:
            probe = float(value)  # not an int: TypeError from both
        if op % 32 == 14:  # a run of slots as a saved file holds them, sometimes cut short
            chunk = r.take(8 * (value % 6) + (op >> 5) % 2)
            for side, f in enumerate(made):
                answers[side].append(outcome(f.add_many, chunk))
            continue
        if op % 32 == 30:
            for side, f in enumerate(made):
                # room for up to 65,535 more, or refused counts (negative, beyond 2**40)
                n = (value % (1 << 16), -1 - value % 9, (1 << 40) + 1 + value % 9)[(op >> 5) % 3]
                answers[side].append(outcome(f.reserve, n))
            continue
        for side, f in enumerate(made):
            fn = f.add if op & 8 else f.__contains__
            answers[side].append(outcome(fn, probe))
    for side, f in enumerate(made):
        answers[side].append(len(f))
        answers[side].append(sorted(_slot_values(f)))
    assert answers[0] == answers[1], "Filter: compiled and reference answers differ"
    for f in made:  # the slots reload into a filter of the same fingerprints
        again = type(f)()
        again.reserve(len(f))
        again.add_many(f.slots(0, f.capacity))
        if 0 in f:
            again.add(0)
        assert len(again) == len(f) and sorted(_slot_values(again)) == sorted(_slot_values(f))


def _slot_values(f: Any) -> list[int]:
    raw = f.slots(0, f.capacity)
    return [v for (v,) in struct.iter_unpack("<Q", raw) if v]


def merkle_root(raw: bytes) -> None:
    got = agree("merkle_root", "merkle_root", raw)
    if got[0] == "ok" and len(raw) >= 80 and raw[36:68] == got[1]:
        parse_block(raw, require_coinbase=False)  # a matching root implies a whole block


def block_weight(raw: bytes) -> None:
    got = agree("block_weight", "block_weight", raw)
    walked = outcome(reference.merkle_root, raw)
    assert (got[0] == "ok") == (walked[0] == "ok"), "weight and merkle walks disagree"
    if got[0] == "ok":
        assert len(raw) < got[1] <= 4 * len(raw), "weight outside (size, 4 x size]"


def block_check(raw: bytes) -> None:
    """The one-walk check gives exactly the merkle walk's, the weight walk's and the table's
    answers, unless the block has witness data its commitment does not match: then
    ValueError (`reference.witness_fault` says when)."""
    got = agree("block_check", "block_check", raw)

    def three_walks(d: bytes) -> tuple[bytes, int, bytes]:
        found = compiled().merkle_root(d), compiled().block_weight(d), compiled().scan_table(d)
        why = reference.witness_fault(d)
        if why is not None:
            raise ValueError(why)
        return found

    assert got == outcome(three_walks, raw), "block_check and the three walks disagree"


class _World:
    """The state before a block as the step's view sees it, drawn from the fuzzer's bytes:
    which flagged coins and scripts are tracked, their entities, levels and values (now and
    then absurd ones), the spent values of each transaction, and the exchanges."""

    def __init__(self, r: Reader, data: bytes) -> None:
        self.seed = r.u64()
        self.mode = r.u8()
        try:
            self.inputs = [len(tx.inputs) for tx in parse_block(data, require_coinbase=False).txs]
            scripts = [o.script for tx in parse_block(data, require_coinbase=False).txs
                       for o in tx.outputs]
        except ParseError:
            self.inputs, scripts = [], []
        picks = r.u8()
        self.exchanges = {script: f"ex{i % 3}" for i, script in enumerate(scripts)
                          if (i * 13 + picks) % 29 == 0 or i == picks % 4}
        # scripts the exchange filter holds without being an exchange's (a collision's read)
        self.decoys = [script for i, script in enumerate(scripts)
                       if (i * 7 + picks) % 31 == 0 and script not in self.exchanges]

    def exchange_arg(self, impl: ModuleType, how: int) -> Any:
        """`exchanges` as the exact dict, or as (filter, lookup) as the index gives it; now
        and then a lookup that answers what is not a name."""
        if not how & 32:
            return self.exchanges
        held = impl.Filter()
        for script in [*self.exchanges, *self.decoys]:
            held.add(script_fingerprint(script))

        def lookup(script: bytes) -> Any:
            if how & 64 and script_fingerprint(script) % 5 == 0:
                return 7
            return self.exchanges.get(script)
        return held, lookup

    def _draw(self, key: bytes) -> int:
        return int.from_bytes(sha256d(self.seed.to_bytes(8, "little") + key)[:8], "little")

    def _value(self, h: int) -> Any:
        odd = self.mode % 16
        if odd == 1 and h % 7 == 0:
            return reference.MAX_MONEY + 1 + h % 5
        if odd == 2 and h % 7 == 0:
            return -1 - h % 3
        if odd == 3 and h % 11 == 0:
            return float(h % 100)
        return (h >> 8) % (reference.MAX_MONEY // 1000 if self.mode & 32 else 5_000_000_000)

    def coin(self, txid_rev: bytes, vout: int) -> Any:
        h = self._draw(txid_rev + vout.to_bytes(8, "little"))
        if h % 3 == 0:
            return None
        if self.mode % 16 == 4 and h % 13 == 0:
            raise ValueError("the view failed")
        if self.mode % 16 == 5 and h % 13 == 0:
            return (h % 4, 2, 5, 0)
        if self.mode % 16 == 10 and h % 11 == 0:
            return (h % 4, 0, 5)  # a coin of the format before its time
        if self.mode % 16 == 11 and h % 11 == 0:
            return (h % 4, 0, 5, -1 if h & 1 else 1 << 32)
        return (h % 4 if self.mode & 64 else (h >> 3) % 0x10000, (h >> 2) % 2, self._value(h),
                (h >> 17) % (1 << 31))

    def member(self, script: bytes) -> Any:
        h = self._draw(b"m" + script)
        if h % 4 == 0:
            return None
        if self.mode % 16 == 6 and h % 9 == 0:
            return (h % 4,)
        return (h % 4 if self.mode & 64 else (h >> 3) % 0x10001, (h >> 2) % 2)

    def spent_values(self, index: int) -> Any:
        n = self.inputs[index] if 0 <= index < len(self.inputs) else 1
        h = self._draw(b"v" + index.to_bytes(8, "little", signed=True))
        if self.mode % 16 == 7 and h % 5 == 0:
            n += 1
        if self.mode % 16 == 8 and h % 5 == 0:
            return tuple(range(n))
        if self.mode % 16 == 9:
            return [self._value(self._draw(bytes([i % 256]) + h.to_bytes(8, "little")))
                    for i in range(n)]
        return [reference.MAX_MONEY // (n + 1) - (h >> i % 32) % 1000 for i in range(n)]


def step_txs(raw: bytes) -> None:
    """SPEC 5 over a (mutated) real block with both implementations, from the same state and
    view: the same end position or error type, and the same state, filters and flows after;
    walking the block, and again over its scan table (now and then a damaged one). An intact
    table called as the applier calls the step changes nothing in the outcome."""
    r = Reader(raw)
    params = Reader(r.take(24))
    data = r.rest()
    try:
        opened = open_block(data)
        natural, n_tx, as_applied = opened.next_pos, opened.tx_count, True
    except ParseError:
        natural, n_tx, as_applied = 81, 2, False
    coins, members = _fingerprints(params, data)
    world = _World(params, data)
    prefill = params.u8()
    if prefill % 8 == 7:  # now and then absurd positions and counts
        pos, index, n_tx = odd_int(params, natural), odd_int(params, 1), odd_int(params, n_tx)
        as_applied = False
    else:
        pos, index = natural, 1
    damage = params.u8()
    time = params.u64() % (1 << 32)
    if damage % 16 == 5:  # a chain time out of range now and then
        time = odd_int(params, time)

    def run(impl: ModuleType, table: bytes | None) -> tuple[Any, ...]:
        coin_f, member_f = impl.Filter(), impl.Filter()
        for fp in coins:
            coin_f.add(fp)
        for fp in members:
            member_f.add(fp)
        joined: dict[bytes, Any] = {}
        created: dict[tuple[bytes, int], Any] = {}
        spent: dict[tuple[bytes, int], Any] = {}
        sums: dict[tuple[int, int], Any] = {}
        if prefill % 4 == 1:
            sums[(1, 0)] = [5, 0, 0, 0, 0, {"ex1": 3}, 5, [(1, 2, 3)]]
            sums[(2, 1)] = [0, 1, 2, 3, 4, {}, -6, []]
        if prefill % 8 == 2:
            sums[(3, 1)] = [0, 0]  # not flow sums: TypeError from both once (3, 1) is added to
        tx_flows: list[Any] | None = [] if prefill & 16 == 0 else None
        state = (joined, created, spent, sums, tx_flows)
        got = outcome(impl.step_txs, data, pos, index, n_tx, coin_f, member_f,
                      (world.coin, world.member), world.exchange_arg(impl, prefill),
                      world.spent_values, state,
                      table, time)
        probes = coins + members + [coin_fingerprint(k[0], k[1]) for k in (*created, *spent)] + [
            script_fingerprint(script) for script in joined]
        return (got, list(joined.items()), list(created.items()), list(spent.items()),
                list(sums.items()), tx_flows, len(coin_f), len(member_f),
                [(fp in coin_f, fp in member_f) for fp in probes])

    walked = [run(impl, None) for impl in (compiled(), reference)]
    assert walked[0] == walked[1], (
        f"step_txs: compiled {walked[0][0]!r} != reference {walked[1][0]!r} or their states")
    made = agree("scan_table", "scan_table", data)
    if made[0] != "ok":
        return
    table = made[1]
    if damage % 4 == 3:  # one word changed: read, and refused or followed, the same by both
        at = 8 * (params.u8() % max(1, len(table) // 8))
        word = int.from_bytes(table[at:at + 8], "little")
        word = odd_int(params, word) % (1 << 64) if damage & 4 else word ^ (1 << damage % 64)
        table = table[:at] + word.to_bytes(8, "little") + table[at + 8:]
    tabled = [run(impl, table) for impl in (compiled(), reference)]
    assert tabled[0] == tabled[1], (
        f"step_txs over a table: compiled {tabled[0][0]!r} != reference {tabled[1][0]!r} or "
        f"their states")
    if damage % 4 != 3 and as_applied:
        assert tabled[0] == walked[0], (
            f"step_txs: over the table {tabled[0][0]!r}, walking {walked[0][0]!r}")


def exchange_txs(raw: bytes) -> None:
    """SPEC 5.1 over a (mutated) real block with both implementations, from the same held
    inputs (now and then absurd ones), exchange ids and spent values: the same end position
    or error type and the same sums after; walking the block and over its scan table (now and
    then a damaged one)."""
    r = Reader(raw)
    params = Reader(r.take(24))
    data = r.rest()
    try:
        opened = open_block(data)
        natural, n_tx = opened.next_pos, opened.tx_count
        txs = parse_block(data, require_coinbase=False).txs
    except ParseError:
        natural, n_tx, txs = 81, 2, []
    _coins, scripts = _fingerprints(params, data)
    world = _World(params, data)
    prefill = params.u8()
    if prefill % 8 == 7:  # now and then absurd positions and counts
        pos, index, n_tx = odd_int(params, natural), odd_int(params, 1), odd_int(params, n_tx)
    else:
        pos, index = natural, 1
    damage = params.u8()
    pick = params.u8()
    ids = {name: int(name[2:]) + 1 for name in set(world.exchanges.values())}
    spent_scripts = list(world.exchanges) or [b"\x51"]
    held: Any = {}
    for t, tx in enumerate(txs):
        values = world.spent_values(t)
        if type(values) is not list or len(values) != len(tx.inputs):
            values = [1_000] * len(tx.inputs)
        hits = [(i, spent_scripts[(t + i) % len(spent_scripts)], values[i])
                for i in range(len(tx.inputs)) if (t * 5 + i * 3 + pick) % 7 == 0]
        if hits:  # the total now and then below what the hits spend, or not a money value
            total: Any = sum(v for v in values if isinstance(v, int))
            held[t] = (total - (pick % 32 == 4) * 10**9, hits)
    if pick % 16 == 1 and txs:  # an input index the transaction does not have
        held[len(txs) - 1] = (0, [(len(txs[-1].inputs) + pick % 3, b"\x00", 1)])
    if pick % 16 == 2:
        held[1] = (0, [(0, "not bytes", 1)])
    if pick % 16 == 3:
        held[-5] = (0, [])
    if pick % 16 == 5:
        held[1] = [(0, b"\x00", 1)]  # the shape before values came with it
    salt = zlib.crc32(raw)  # the parameters above run out early: bits of every byte
    if (prefill & 16 or salt & 1) and pick % 16 not in (1, 2, 3, 5):
        # the hits after the coinbase as pack_block_undo packs them (one at least when a
        # transaction there has inputs), now and then a word damaged
        after = {t: listed for t, listed in held.items() if t >= 1}
        t = 1 + (salt >> 1) % max(1, len(txs) - 1)
        if not after and t < len(txs) and txs[t].inputs:
            at = (salt >> 9) % len(txs[t].inputs)
            after[t] = (0, [(at, spent_scripts[(t + at) % len(spent_scripts)], 0)])

        def values_of(t: int) -> Any:
            values = world.spent_values(t)
            n = len(txs[t].inputs) if t < len(txs) else 1
            return values if type(values) is list and len(values) == n else [1_000] * n

        packed, record = _packed_held(after, values_of)
        if damage % 4 == 2 or salt >> 20 & 15 == 3:
            at = 8 * ((salt >> 24) % (len(packed) // 8))
            word = int.from_bytes(packed[at:at + 8], "little") ^ (1 << (salt >> 14) % 64)
            packed = packed[:at] + word.to_bytes(8, "little") + packed[at + 8:]
        held = (packed, record)

    def exchange_of(script: bytes) -> Any:
        if prefill & 64 and script_fingerprint(script) % 5 == 0:
            return "not an id"
        name = world.exchanges.get(script)
        return None if name is None else ids[name]

    def run(impl: ModuleType, table: bytes | None) -> tuple[Any, ...]:
        script_f = impl.Filter()
        for fp in scripts + [script_fingerprint(s) for s in (*world.exchanges, *world.decoys)]:
            script_f.add(fp)
        sums: dict[int, Any] = {}
        if prefill % 4 == 1:
            sums[0xFFFF] = [5, 0, 0, 5]
        if prefill % 8 == 2:
            sums[1] = [0, 0]  # not sums: TypeError from both once exchange 1 is added to
        asked: list[bytes] = []

        def asking(script: bytes) -> Any:
            asked.append(bytes(script))
            return exchange_of(script)

        got = outcome(impl.exchange_txs, data, pos, index, n_tx, script_f, asking, held,
                      sums, table)
        return got, list(sums.items()), asked

    walked = [run(impl, None) for impl in (compiled(), reference)]
    assert walked[0] == walked[1], (
        f"exchange_txs: compiled {walked[0][0]!r} != reference {walked[1][0]!r} or their sums "
        f"or the scripts asked")
    made = agree("scan_table", "scan_table", data)
    if made[0] != "ok":
        return
    table = made[1]
    if damage % 4 == 3:
        at = 8 * (params.u8() % max(1, len(table) // 8))
        word = int.from_bytes(table[at:at + 8], "little") ^ (1 << damage % 64)
        table = table[:at] + word.to_bytes(8, "little") + table[at + 8:]
    tabled = [run(impl, table) for impl in (compiled(), reference)]
    assert tabled[0] == tabled[1], (
        f"exchange_txs over a table: compiled {tabled[0][0]!r} != reference {tabled[1][0]!r} "
        f"or their sums")


def undo_hits(raw: bytes) -> None:
    """The inputs of a (mutated) undo record whose spent script a filter holds: the same
    answer from both, or the same error type."""
    r = Reader(raw)
    params = Reader(r.take(8))
    data = r.rest()
    try:
        spent = [s for tx in reference.block_undo_scripts(data) for _v, s in tx]
    except ValueError:
        spent = []
    pick = params.u8()
    chosen = [script_fingerprint(s) for k, s in enumerate(spent) if (k + pick) % 3 == 0]
    chosen += [params.u64() for _ in range(params.u8() % 3)]

    def run(impl: ModuleType) -> Any:
        held = impl.Filter()
        for fp in chosen:
            held.add(fp)
        return outcome(impl.undo_hits, data, held)

    got = [run(impl) for impl in (compiled(), reference)]
    assert got[0] == got[1], f"undo_hits: compiled {got[0]!r} != reference {got[1]!r}"


def derive_candidates(raw: bytes) -> None:
    """A (mutated) real block and its undo record, a filter holding some of the scripts they
    spend and pay (and fingerprints of nothing): the same candidates, or both refuse; every
    candidate is a transaction the reference would look at, read back whole."""
    r = Reader(raw)
    size = int.from_bytes(r.take(4), "little")
    picks = r.u8()
    rest = r.rest()
    block, undo = rest[:size], rest[size:]
    fps: list[int] = []
    try:
        for tx in parse_block(block, require_coinbase=False).txs:
            fps += [script_fingerprint(out.script) for out in tx.outputs]
    except ParseError:
        pass
    try:
        fps += [script_fingerprint(script) for spent in reference.block_undo_scripts(undo)
                for _value, script in spent]
    except (ValueError, OverflowError):
        pass
    held = [fp for k, fp in enumerate(fps) if (k * 7 + picks) % 5 < 2] + [picks, picks << 56]

    def run(impl: ModuleType) -> tuple[str, Any]:
        core = impl.Filter()
        for fp in held:
            core.add(fp)
        return outcome(impl.derive_candidates, block, undo, core)

    got = [run(impl) for impl in (compiled(), reference)]
    assert got[0] == got[1], f"derive_candidates: compiled {got[0]!r} != reference {got[1]!r}"
    if got[0][0] == "ok":
        for _index, start, undo_start in got[0][1]:
            read_tx(block, start)  # a whole transaction starts there, and its undo entry
            try:
                reference.undo_tx_scripts(undo, undo_start)
            except ValueError as exc:  # only an uncompressed key off the curve is refused
                assert "curve" in str(exc), exc


def scan_table(raw: bytes) -> None:
    """The walk ahead gives the same table, or error type, in both; the table is one the step
    accepts, and its fingerprints flag exactly the transactions scan_block's walk finds."""
    got = agree("scan_table", "scan_table", raw)
    if got[0] != "ok":
        return
    n_tx, first = int.from_bytes(got[1][:8], "little"), int.from_bytes(got[1][24:32], "little")
    table = read_table(got[1], len(raw), first, 0, n_tx)
    coins, members = reference.Filter(), reference.Filter()
    for fp in table.coin_fps[::3]:
        coins.add(fp)
    for fp in table.member_fps[1::4]:
        members.add(fp)
    flagged: list[int] = []
    while (hit := table.next_hit(flagged[-1] + 1 if flagged else 0, coins, members)) is not None:
        flagged.append(hit)
    walked: list[int] = []
    index, at = 0, first
    while True:
        index, at = reference.scan_block(raw, at, index, table.k, coins, members)
        if index >= table.k:
            break
        walked.append(index)
        index, at = index + 1, table.starts[index + 1]
    assert walked == flagged, f"scan_table: flags {flagged[:5]}, the walk {walked[:5]}"


# -- readers of outside input: a result or a typed error --------------------------------------


def deserializer(raw: bytes) -> None:
    """parse_block, open_block + scan and the merkle walk accept exactly the same blocks."""
    try:
        block = parse_block(raw, require_coinbase=False)
    except ParseError:
        block = None
    root = outcome(reference.merkle_root, raw)
    assert (block is not None) == (root[0] == "ok"), "deserializer and merkle walk disagree"
    try:
        opened = open_block(raw)
    except ParseError:
        opened = None
    if opened is not None and block is not None:
        empty = reference.Filter()
        end = reference.scan_block(raw, opened.next_pos, 1, opened.tx_count, empty, empty)
        assert end == (opened.tx_count, len(raw))
    if block is not None and block.txs[0].is_coinbase:
        assert opened is not None, "a whole block that open_block refuses"
    try:
        parse_tx(raw[80:])
    except ParseError:
        pass


_SCRATCH = Path(tempfile.mkdtemp(prefix="minerflow-fuzz-"))


def _file(name: str, data: bytes) -> Path:
    path = _SCRATCH / name
    path.write_bytes(data)
    return path


def blk_reader(raw: bytes) -> None:
    """A blocks directory holding these bytes as its only blk file, and some as its rev file
    (XORed when asked)."""
    r = Reader(raw)
    blocks = _SCRATCH / "blocks"
    blocks.mkdir(exist_ok=True)
    for stale in blocks.iterdir():
        stale.unlink()
    key = r.take(8) if r.u8() % 4 == 0 else None
    rev = r.take(r.u8() * 8)
    data = r.rest()
    if key is not None:
        (blocks / "xor.dat").write_bytes(key)
        if len(key) == 8:
            data, rev = reference.xor_at(data, key, 0), reference.xor_at(rev, key, 0)
    (blocks / "blk00000.dat").write_bytes(data)
    if rev:
        (blocks / "rev00000.dat").write_bytes(rev)
    try:
        files = BlockFiles(blocks, REGTEST.magic)
        for item in files.scan():
            assert isinstance(item, Record | TornRecord | Gap)
            if isinstance(item, Record):
                assert len(files.read(item.location)) == item.location.size
        chain = find_active_chain(files, REGTEST)
        for cb in chain.blocks:
            files.read(cb.location)
    except MinerflowError:
        pass


_UNDO_BLOCK = bytes.fromhex(
    "00000020" + "11" * 32 + "22" * 32 + "00000000ffff7f2000000000"  # header
    "02"  # two transactions
    "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff"
    "0151ffffffff0100f2052a010000000151" "00000000"  # coinbase
    "01000000" "01" + "33" * 32 + "00000000" "00" "ffffffff" "01" "0000000000000000"
    "0151" "00000000"  # one spend
)


def rev_reader(raw: bytes) -> None:
    """A rev file of these bytes, asked for the undo of a two-transaction block."""
    blocks = _SCRATCH / "rev"
    blocks.mkdir(exist_ok=True)
    (blocks / "rev00000.dat").write_bytes(raw)
    block = open_block(_UNDO_BLOCK)
    try:
        values = UndoFiles(blocks, REGTEST.magic, None).spent_values(0, block, 1)
        assert all(isinstance(v, int) for tx in values for v in tx)
    except MinerflowError:
        pass


def pools_loader(raw: bytes) -> None:
    try:
        pools = load_pools(_file("pools.json", raw))
    except MinerflowError:
        return
    compile_pools(pools, REGTEST)
    pools.to_json()


def labels_loader(raw: bytes) -> None:
    path = _file("labels.csv", raw)
    made = path.parent / "canonical"
    try:
        labels = prepare(path, REGTEST, made)
        for row in labels.rows(REGTEST):  # the canonical file reads back
            assert row.script and row.entity.strip()
    except MinerflowError:
        assert not made.exists(), "a refused file left something behind"
    finally:
        shutil.rmtree(made, ignore_errors=True)


def conf_reader(raw: bytes) -> None:
    try:
        read_conf(_file("bitcoin.conf", raw), REGTEST)
    except MinerflowError:
        pass


def cookie_reader(raw: bytes) -> None:
    try:
        NodeAuth(cookie=_file(".cookie", raw)).header()
    except MinerflowError:
        pass


ADDRESS_NETWORKS = ("main", "test", "regtest")


def decode_address(raw: bytes) -> None:
    """A (mutated) address and a network's prefixes, sometimes absurd ones: the same script,
    both None, or both refuse the prefixes; a script both give is the one the address's
    reference reading gives."""
    r = Reader(raw)
    pick = r.u8()
    network = get_network(ADDRESS_NETWORKS[pick % 3])
    hrp = network.bech32_hrp.encode()
    if pick >> 2 & 7 == 7:
        hrp = hrp.upper() if pick & 32 else hrp[:1]
    p2pkh: Any = network.p2pkh_prefix
    p2sh: Any = network.p2sh_prefix
    if pick >> 6 == 3:  # out of a byte, out of an int, or the two prefixes equal
        p2pkh, p2sh = (odd_int(r, p2pkh), p2sh) if pick & 1 else (p2sh, p2sh)
    text = r.rest()
    kind, script = agree("decode_address", "decode_address", text, hrp, p2pkh, p2sh)
    if kind == "ok" and script is not None:
        assert script_for(text.decode("ascii"), hrp.decode(), p2pkh, p2sh) == script


TARGETS: dict[str, Callable[[bytes], None]] = {
    "scan_block": scan_block,
    "parse_block_undo": parse_block_undo,
    "pack_block_undo": pack_block_undo,
    "xor_at": xor_at,
    "filter": filter_ops,
    "merkle_root": merkle_root,
    "block_weight": block_weight,
    "block_check": block_check,
    "step_txs": step_txs,
    "exchange_txs": exchange_txs,
    "undo_hits": undo_hits,
    "undo_held": undo_held,
    "scan_table": scan_table,
    "derive_candidates": derive_candidates,
    "decode_address": decode_address,
    "get_coin": get_coin,
    "put_coins": put_coins,
    "deserializer": deserializer,
    "blk_reader": blk_reader,
    "rev_reader": rev_reader,
    "pools": pools_loader,
    "labels": labels_loader,
    "conf": conf_reader,
    "cookie": cookie_reader,
}
