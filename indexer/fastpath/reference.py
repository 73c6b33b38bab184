"""The reference implementation of the hot loops, in plain Python: the executable specification.

`indexer/fastpath/_core.c` implements the same functions and the Filter (the scan table's
reference is `scantable.py`); the differential harness (`tests/fuzz/targets.py`, driven by
hypothesis in the suite and by `scripts/fuzz.py` against a sanitizer build) checks that both
give the same result or both raise the same error type on every input, and the index tests
that both build byte-identical indexes. Fingerprints:
- a coin's: the first 8 bytes of its txid (serialized order) as a little-endian int, xor vout;
- a script's: its last 8 bytes (all of it when shorter) as a little-endian int, xor its length.
A `Filter` holds fingerprints modulo 2**64. Malformed bytes raise ValueError; arguments of the
wrong type raise TypeError; integers that do not fit a signed 64-bit word raise OverflowError.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from indexer.errors import ParseError
from indexer.fastpath.scantable import MISMATCH, ScanTable, read_table, walk_tx
from indexer.fastpath.scantable import scan_table as scan_table
from indexer.parse.deserializer import Tx, parse_block, read_compact_size, read_tx, sha256d
from indexer.parse.deserializer import merkle_root as merkle_of_txids
from indexer.parse.script import is_unspendable

_MASK64 = (1 << 64) - 1
_SSIZE = 1 << 63
_MAX_RESERVE = 1 << 40
MAX_MONEY = 21_000_000 * 100_000_000
_MALFORMED = (IndexError, struct.error, OverflowError)  # what short or absurd bytes raise here


def coin_fingerprint(txid_rev: bytes, vout: int) -> int:
    return int.from_bytes(txid_rev[:8], "little") ^ vout


def script_fingerprint(script: bytes) -> int:
    return int.from_bytes(script[-8:], "little") ^ len(script)


def _fingerprint(value: object) -> int:
    if not isinstance(value, int):
        raise TypeError("a fingerprint is an int")
    return value & _MASK64


class Filter:
    """A set of 64-bit fingerprints (the compiled one holds 8-byte slots, not int objects).
    Like the compiled one, an instance made by `Filter.__new__` alone is a valid empty filter."""

    __slots__ = ("_keys",)
    _keys: set[int]

    def __new__(cls) -> Filter:
        made = super().__new__(cls)
        made._keys = set()
        return made

    def __init__(self) -> None:
        self._keys = set()

    def add(self, fingerprint: int) -> None:
        self._keys.add(_fingerprint(fingerprint))

    def __contains__(self, fingerprint: object) -> bool:
        return _fingerprint(fingerprint) in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def nbytes(self) -> int:
        return 0

    def reserve(self, n: int) -> None:
        """Make room for `n` more fingerprints (a set needs none; the argument is checked)."""
        _ssize(n)
        if not 0 <= n <= _MAX_RESERVE:
            raise ValueError(f"reserve: {n} fingerprints")

    def add_many(self, data: Any) -> None:
        """Add every nonzero little-endian u64 of a bytes-like object."""
        data = bytes(data)
        if len(data) % 8:
            raise ValueError(f"add_many: {len(data)} bytes is not a whole number of fingerprints")
        for (value,) in struct.iter_unpack("<Q", data):
            if value:
                self._keys.add(value)

    @property
    def capacity(self) -> int:
        """This filter's "slots": its nonzero fingerprints in ascending order."""
        return len(self._keys - {0})

    def slots(self, start: int, count: int) -> bytes:
        """Slots start.. (clipped) as little-endian u64s; over all slots, the nonzero ones are
        the nonzero fingerprints (the compiled table has empty slots between them)."""
        _ssize(start, count)
        if start < 0 or count < 0:
            raise ValueError(f"slots: start {start}, count {count}")
        keys = sorted(self._keys - {0})[start:start + count]
        return struct.pack(f"<{len(keys)}Q", *keys)


def _ssize(*values: int) -> None:
    for value in values:
        if not isinstance(value, int):
            raise TypeError("an integer argument is required")
        if not -_SSIZE <= value < _SSIZE:
            raise OverflowError("Python int too large to convert to C ssize_t")


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


def _core_varint(d: bytes, p: int) -> tuple[int, int]:
    """Bitcoin Core's VARINT (MSB base-128, as used in undo and chainstate records), read as a
    uint64 the way Core's ReadVarInt does: a value that would not fit is an error."""
    n = 0
    while True:
        ch = d[p]
        p += 1
        if n > _MASK64 >> 7:
            raise OverflowError("VARINT too large")
        n = (n << 7) | (ch & 0x7F)
        if not ch & 0x80:
            return n, p
        if n == _MASK64:
            raise OverflowError("VARINT too large")
        n += 1


def decompress_amount(x: int) -> int:
    """Core's CompressAmount inverse; an amount above MAX_MONEY is an error."""
    if x == 0:
        return 0
    x -= 1
    e = x % 10
    x //= 10
    if e < 9:
        d = x % 9 + 1
        x //= 9
        n = x * 10 + d
    else:
        n = x + 1
    n *= 10**e
    if n > MAX_MONEY:
        raise OverflowError("amount above MAX_MONEY")
    return int(n)


def parse_block_undo(data: bytes) -> list[list[int]]:
    """The spent values of every non-coinbase transaction of a CBlockUndo record."""
    data = bytes(data)
    try:
        n_tx, p = read_compact_size(data, 0)
        txs: list[list[int]] = []
        for _ in range(n_tx):
            n_in, p = read_compact_size(data, p)
            values: list[int] = []
            for _ in range(n_in):
                code, p = _core_varint(data, p)
                if code >> 1 > 0:
                    _version, p = _core_varint(data, p)
                amount, p = _core_varint(data, p)
                values.append(decompress_amount(amount))
                size, p = _core_varint(data, p)
                p += (20 if size < 2 else 32) if size < 6 else size - 6
                if p > len(data):
                    raise IndexError
            txs.append(values)
    except _MALFORMED:
        raise ValueError("undo record runs past its end") from None
    if p != len(data):
        raise ValueError(f"undo record uses {p} of its {len(data)} bytes")
    return txs


_SECP_P = 2**256 - 2**32 - 977


def _decompress_script(kind: int, body: bytes) -> bytes:
    """Core's ScriptCompression special scripts 0-5 as the scripts they stand for."""
    if kind == 0:
        return b"\x76\xa9\x14" + body + b"\x88\xac"
    if kind == 1:
        return b"\xa9\x14" + body + b"\x87"
    if kind in (2, 3):
        return b"\x21" + bytes([kind]) + body + b"\xac"
    x = int.from_bytes(body, "big")  # 4, 5: an uncompressed key kept as x and y's parity
    y_squared = (pow(x, 3, _SECP_P) + 7) % _SECP_P
    y = pow(y_squared, (_SECP_P + 1) // 4, _SECP_P)
    if x >= _SECP_P or y * y % _SECP_P != y_squared:
        raise ValueError("an uncompressed key in the undo record is not on the curve")
    if y & 1 != kind & 1:
        y = _SECP_P - y
    return b"\x41\x04" + body + y.to_bytes(32, "big") + b"\xac"


def block_undo_scripts(data: bytes) -> list[list[tuple[int, bytes]]]:
    """Per non-coinbase transaction of a CBlockUndo record, the (value, script) of every
    output its inputs spend, scripts decompressed as Core's ScriptCompression stores them."""
    data = bytes(data)
    try:
        n_tx, p = read_compact_size(data, 0)
        txs: list[list[tuple[int, bytes]]] = []
        for _ in range(n_tx):
            n_in, p = read_compact_size(data, p)
            spent: list[tuple[int, bytes]] = []
            for _ in range(n_in):
                code, p = _core_varint(data, p)
                if code >> 1 > 0:
                    _version, p = _core_varint(data, p)
                amount, p = _core_varint(data, p)
                size, p = _core_varint(data, p)
                length = (20 if size < 2 else 32) if size < 6 else size - 6
                if p + length > len(data):
                    raise IndexError
                body = data[p:p + length]
                p += length
                if size < 6:
                    script = _decompress_script(size, body)
                else:  # Core keeps a script over its size limit as OP_RETURN
                    script = body if length <= 10_000 else b"\x6a"
                spent.append((decompress_amount(amount), script))
            txs.append(spent)
    except _MALFORMED:
        raise ValueError("undo record runs past its end") from None
    if p != len(data):
        raise ValueError(f"undo record uses {p} of its {len(data)} bytes")
    return txs


def pack_block_undo(data: bytes) -> bytes:
    """`parse_block_undo`'s values packed as little-endian u64s: the transaction count, then
    for each transaction where its values start (and the total), then the values."""
    txs = parse_block_undo(data)
    starts = [0]
    for values in txs:
        starts.append(starts[-1] + len(values))
    words = [len(txs), *starts, *(value for values in txs for value in values)]
    return struct.pack(f"<{len(words)}Q", *words)


def xor_at(data: bytes, key: bytes, offset: int) -> bytes:
    """De-obfuscate `data` read from file offset `offset` with the 8-byte `key`."""
    if not isinstance(offset, int):
        raise TypeError("the offset is an int")
    data, key = bytes(data), bytes(key)
    if len(key) != 8:
        raise ValueError("the xor key is 8 bytes")
    n = len(data)
    shift = offset % 8
    rotated = key[shift:] + key[:shift]
    stream = (rotated * (n // 8 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")


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

FlowSums = list[Any]  # [mined, inflow, outflow, fees, to_exchange, {exchange: value}, balance]
StepState = tuple[
    dict[bytes, tuple[int, int]],  # scripts joined: script -> (entity, cohort)
    dict[tuple[bytes, int], tuple[int, int, int]],  # coins created, still unspent
    dict[tuple[bytes, int], tuple[int, int, int]],  # coins from before the block, spent
    dict[tuple[int, int], FlowSums],  # flow sums per (entity, level)
    list[Any] | None,  # (tx index, txid_rev, entity, level, sums) per changed pair, or None
]


def _money(value: object, what: str) -> int:
    if not isinstance(value, int):
        raise TypeError(f"{what} is an int")
    if not 0 <= value <= MAX_MONEY:
        raise ValueError(f"{what} {value} outside 0..21,000,000 BTC")
    return value


def _coin(found: object) -> tuple[int, int, int] | None:
    """A tracked coin as the view gave it, checked: (entity, level, value) or None."""
    if found is None:
        return None
    if not isinstance(found, tuple) or len(found) != 3:
        raise TypeError("a coin is an (entity, level, value) tuple")
    entity, level, value = found
    _entity(entity, level)
    return entity, level, _money(value, "a tracked coin's value")


def _member(found: object) -> tuple[int, int] | None:
    """A script's membership as the view gave it, checked: (entity, cohort) or None."""
    if found is None:
        return None
    if not isinstance(found, tuple) or len(found) != 2:
        raise TypeError("a membership is an (entity, cohort) tuple")
    _entity(*found)
    return found[0], found[1]


def _entity(entity: object, level: object) -> None:
    if not isinstance(entity, int) or not isinstance(level, int):
        raise TypeError("entity and level are ints")
    if not 0 <= entity <= 0xFFFF or level not in (0, 1):
        raise ValueError(f"entity {entity} level {level} out of range")


def step_txs(data: bytes, pos: int, index: int, n_tx: int, coins: Filter, members: Filter,
             view: tuple[Any, Any], exchanges: Any, spent_values: Any,
             state: StepState, table: Any = None) -> int:
    """Apply SPEC 5 to the transactions of a block from `index` (at `pos`) on; the end of the
    last one. A transaction is decoded only where the filters say it may spend a tracked coin
    or pay a cohort script; `view` = (coin(txid_rev, vout), member(script)) reads the state
    before the block and is asked only for fingerprints the filters hold.

    `state` = (members, created, spent, sums, tx_flows) is the block's changes so far (the
    coinbase's), updated in place: scripts joined (script -> (entity, cohort)), coins created
    and still unspent and coins from before the block spent ((txid_rev, vout) ->
    (entity, level, value)), flow sums per (entity, level), and when `tx_flows` is a list, one
    (tx index, txid_rev, entity, level, sums) per transaction and (entity, level) it changed.
    Every fingerprint the block adds goes into `coins` and `members`. Malformed bytes, values
    outside 0..21M BTC and spent values that disagree with the miner coins raise ValueError.

    `table`, the block's `scan_table` made ahead, replaces the walk to each flagged transaction
    by probes of its fingerprints: the same answers, or ValueError for a table that does not
    fit the block."""
    _ssize(pos, index, n_tx)
    if not isinstance(coins, Filter) or not isinstance(members, Filter):
        raise TypeError("coins and members are Filters")
    if not isinstance(view, tuple) or len(view) != 2:
        raise TypeError("view is (coin, member)")
    exchange_of = _exchange_lookup(exchanges)
    if not isinstance(state, tuple) or len(state) != 5:
        raise TypeError("state is (members, created, spent, sums, tx_flows)")
    joined, created, spent, sums, tx_flows = state
    if not all(type(d) is dict for d in (joined, created, spent, sums)) or not (
            tx_flows is None or type(tx_flows) is list):
        raise TypeError("state holds four dicts and a list or None")
    data = bytes(data)
    if table is not None:
        if pos < 0 or pos > len(data) or index < 0 or index > n_tx:
            raise ValueError(f"step_txs: pos {pos} or index {index} outside the data")
        return _step_table(data, read_table(table, len(data), pos, index, n_tx), index, coins,
                           members, view, exchange_of, spent_values, state)
    while True:
        index, pos = scan_block(data, pos, index, n_tx, coins, members)
        if index >= n_tx:
            return pos
        try:
            tx, pos = read_tx(data, pos)
        except _MALFORMED:
            raise ValueError(f"transaction {index} runs past the end of the data") from None
        _step_tx(index, tx, coins, members, view, exchange_of, spent_values, state)
        index += 1


def _exchange_lookup(exchanges: object) -> Callable[[bytes], object]:
    """`exchanges` as a function of a script: an exact dict (script -> name), or (filter,
    lookup) where `lookup(script)` gives the name or None and is asked only for scripts whose
    fingerprint the filter holds."""
    if type(exchanges) is dict:
        return exchanges.get
    if type(exchanges) is tuple and len(exchanges) == 2 and isinstance(exchanges[0], Filter) \
            and callable(exchanges[1]):
        held, lookup = exchanges

        def exchange_of(script: bytes) -> object:
            if script_fingerprint(script) not in held:
                return None
            name = lookup(script)
            if name is not None and not isinstance(name, str):
                raise TypeError("an exchange's name is a str or None")
            return name
        return exchange_of
    raise TypeError("exchanges is a dict or (Filter, lookup)")


def _step_table(data: bytes, table: ScanTable, index: int, coins: Filter, members: Filter,
                view: tuple[Any, Any], exchange_of: Callable[[bytes], object],
                spent_values: Any, state: Any) -> int:
    """step_txs' loop over a checked scan table."""
    while (hit := table.next_hit(index, coins, members)) is not None:
        index = hit
        try:
            tx, end = read_tx(data, table.starts[index])
        except _MALFORMED:
            raise ValueError(f"transaction {index} runs past the end of the data") from None
        _step_tx(index, tx, coins, members, view, exchange_of, spent_values, state)
        if end != table.starts[index + 1]:
            raise ValueError(MISMATCH)
        index += 1
    if table.bad:
        raise ValueError(f"transaction {table.k} runs past the end of the data")
    return table.starts[table.k]


def _step_tx(index: int, tx: Tx, coins: Filter, members: Filter, view: tuple[Any, Any],
             exchange_of: Callable[[bytes], object], spent_values: Any, state: Any) -> None:
    joined, created, spent, sums, tx_flows = state
    stored_coin, stored_member = view
    values = [txout.value for txout in tx.outputs]
    for value in values:
        _money(value, f"transaction {index}: an output value")
    _money(sum(values), f"transaction {index}: the output total")

    def take(txid_rev: bytes, vout: int) -> tuple[int, int, int] | None:
        if coin_fingerprint(txid_rev, vout) not in coins:
            return None
        outpoint = (txid_rev, vout)
        coin = created.pop(outpoint, None)
        if coin is not None:
            return _coin(coin)
        if outpoint in spent:
            return None
        coin = _coin(stored_coin(txid_rev, vout))
        if coin is not None:
            spent[outpoint] = coin
        return coin

    def member(script: bytes) -> tuple[int, int] | None:
        if script_fingerprint(script) not in members:
            return None
        found = joined.get(script)
        return _member(found if found is not None else stored_member(script))

    def joinable(script: bytes) -> bool:
        return not is_unspendable(script) and exchange_of(script) is None

    spent_coins = [take(txin.prev_txid_rev, txin.prev_vout) for txin in tx.inputs]
    tracked = [coin for coin in spent_coins if coin is not None]
    if tracked:
        level0: dict[int, int] = {}
        for owner, level, value in tracked:
            if level == 0:
                level0[owner] = level0.get(owner, 0) + value
        if level0:
            joiner = min(level0, key=lambda e: (-level0[e], e))
            for txout in tx.outputs:
                script = txout.script
                if member(script) is None and joinable(script):
                    joined[script] = (joiner, 1)
                    members.add(script_fingerprint(script))

    made: list[tuple[int, int, int] | None] = []
    for txout in tx.outputs:
        found = member(txout.script)
        made.append(None if found is None or not joinable(txout.script)
                    else (found[0], found[1], txout.value))
    if not tracked and not any(made):
        return
    txid_rev = tx.txid_rev
    for vout, coin in enumerate(made):
        if coin is not None:
            created[(txid_rev, vout)] = coin
            coins.add(coin_fingerprint(txid_rev, vout))

    tracked_in = _money(sum(coin[2] for coin in tracked),
                        f"transaction {index}: the miner coins' total")
    if tracked and len(tracked) == len(spent_coins):
        total_in = tracked_in
    elif tracked:
        got = spent_values(index)
        if type(got) is not list or len(got) != len(spent_coins):
            raise ValueError(f"transaction {index}: the spent values do not match its "
                             f"{len(spent_coins)} inputs")
        total_in = _money(sum(_money(v, f"transaction {index}: a spent value") for v in got),
                          f"transaction {index}: the spent total")
        if total_in < tracked_in:
            raise ValueError(f"transaction {index}: its spent values are below its miner coins")
    else:
        total_in = 0
    fee = total_in - sum(values)

    owners = sorted({coin[0] for coin in tracked} | {coin[0] for coin in made if coin})
    for owner in owners:
        for at in (0, 1):
            mine_in = sum(c[2] for c in tracked if c[0] == owner and c[1] <= at)
            flow: FlowSums = [0, 0, 0, 0, 0, {}, -mine_in]
            for txout, coin in zip(tx.outputs, made, strict=True):
                value = txout.value
                share = value * mine_in // total_in if mine_in else 0
                if coin is not None and coin[0] == owner and coin[1] <= at:
                    flow[1] += value - share
                    flow[6] += value
                    continue
                flow[2] += share
                exchange = exchange_of(txout.script)
                if exchange is not None and share:
                    flow[4] += share
                    flow[5][exchange] = flow[5].get(exchange, 0) + share
            if mine_in:
                flow[3] += fee * mine_in // total_in
            if any(flow[i] for i in (1, 2, 3, 4, 6)) or flow[5]:
                add_sums(sums, owner, at, flow)
                if tx_flows is not None:
                    tx_flows.append((index, txid_rev, owner, at, flow))


def add_sums(sums: dict[tuple[int, int], FlowSums], entity: int, level: int,
             flow: FlowSums) -> None:
    """Add one transaction's flow into the block's sums for (entity, level)."""
    total = sums.get((entity, level))
    if total is None:
        sums[(entity, level)] = [*flow[:5], dict(flow[5]), flow[6]]
        return
    if type(total) is not list or len(total) != 7 or type(total[5]) is not dict:
        raise TypeError("flow sums are a list of seven with a dict at 5")
    for i in (0, 1, 2, 3, 4, 6):
        if len(total) != 7 or len(flow) != 7:  # an addition ran code that changed them
            raise TypeError("flow sums changed size while being added")
        total[i] += flow[i]
    if len(total) != 7 or type(total[5]) is not dict or len(flow) != 7 \
            or type(flow[5]) is not dict:
        raise TypeError("flow sums are a list of seven with a dict at 5")
    by = total[5]
    for name, value in flow[5].items():
        by[name] = by.get(name, 0) + value
