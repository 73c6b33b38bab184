"""SPEC 5 over a block's transactions after the coinbase, in plain Python: the twin of
`step.c`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from indexer.fastpath.filters import Filter, coin_fingerprint, script_fingerprint
from indexer.fastpath.filters import check_ssize as _ssize
from indexer.fastpath.scantable import MISMATCH, ScanTable, read_table
from indexer.fastpath.undo import MALFORMED as _MALFORMED
from indexer.fastpath.undo import MAX_MONEY
from indexer.fastpath.walk import scan_block
from indexer.parse.deserializer import Tx, read_tx
from indexer.parse.script import is_unspendable

# [mined, inflow, outflow, fees, to_exchange, {exchange: value}, balance, ages]; ages: one
# (to_exchange_tx, age numerator, I_e) per transaction whose to_exchange share is above 0, the
# numerator being the sum over the miner coins spent of value x (time - the coin's time)
FlowSums = list[Any]
StepCoin = tuple[int, int, int, int]  # entity, level, value, chain time of the block that made it
StepState = tuple[
    dict[bytes, tuple[int, int]],  # scripts joined: script -> (entity, cohort)
    dict[tuple[bytes, int], StepCoin],  # coins created, still unspent
    dict[tuple[bytes, int], StepCoin],  # coins from before the block, spent
    dict[tuple[int, int], FlowSums],  # flow sums per (entity, level)
    list[Any] | None,  # (tx index, txid_rev, entity, level, sums) per changed pair, or None
]


def _money(value: object, what: str) -> int:
    if not isinstance(value, int):
        raise TypeError(f"{what} is an int")
    if not 0 <= value <= MAX_MONEY:
        raise ValueError(f"{what} {value} outside 0..21,000,000 BTC")
    return value


def _coin(found: object) -> StepCoin | None:
    """A tracked coin as the view gave it, checked: (entity, level, value, time) or None."""
    if found is None:
        return None
    if not isinstance(found, tuple) or len(found) != 4:
        raise TypeError("a coin is an (entity, level, value, time) tuple")
    entity, level, value, time = found
    _entity(entity, level)
    return entity, level, _money(value, "a tracked coin's value"), _time(time)


def _time(time: object) -> int:
    if not isinstance(time, int):
        raise TypeError("a chain time is an int")
    if not 0 <= time <= 0xFFFFFFFF:
        raise ValueError(f"chain time {time} outside 0..2**32 - 1")
    return time


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
             state: StepState, table: Any = None, time: int = 0) -> int:
    """Apply SPEC 5 to the transactions of a block from `index` (at `pos`) on; the end of the
    last one. A transaction is decoded only where the filters say it may spend a tracked coin
    or pay a cohort script; `view` = (coin(txid_rev, vout), member(script)) reads the state
    before the block and is asked only for fingerprints the filters hold.

    `state` = (members, created, spent, sums, tx_flows) is the block's changes so far (the
    coinbase's), updated in place: scripts joined (script -> (entity, cohort)), coins created
    and still unspent and coins from before the block spent ((txid_rev, vout) ->
    (entity, level, value, time)), flow sums per (entity, level), and when `tx_flows` is a
    list, one (tx index, txid_rev, entity, level, sums) per transaction and (entity, level) it
    changed. `time` is the block's chain time: the coins it creates carry it, and what a
    transaction sends to exchanges is aged from the times of the coins it spends (SPEC 5.3).
    Every fingerprint the block adds goes into `coins` and `members`. Malformed bytes, values
    outside 0..21M BTC and spent values that disagree with the miner coins raise ValueError.

    `table`, the block's `scan_table` made ahead, replaces the walk to each flagged transaction
    by probes of its fingerprints: the same answers, or ValueError for a table that does not
    fit the block."""
    _ssize(pos, index, n_tx, time)
    if not isinstance(coins, Filter) or not isinstance(members, Filter):
        raise TypeError("coins and members are Filters")
    if not isinstance(view, tuple) or len(view) != 2:
        raise TypeError("view is (coin, member)")
    _time(time)
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
                           members, view, exchange_of, spent_values, state, time)
    while True:
        index, pos = scan_block(data, pos, index, n_tx, coins, members)
        if index >= n_tx:
            return pos
        try:
            tx, pos = read_tx(data, pos)
        except _MALFORMED:
            raise ValueError(f"transaction {index} runs past the end of the data") from None
        _step_tx(index, tx, coins, members, view, exchange_of, spent_values, state, time)
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
                spent_values: Any, state: Any, time: int) -> int:
    """step_txs' loop over a checked scan table."""
    while (hit := table.next_hit(index, coins, members)) is not None:
        index = hit
        try:
            tx, end = read_tx(data, table.starts[index])
        except _MALFORMED:
            raise ValueError(f"transaction {index} runs past the end of the data") from None
        _step_tx(index, tx, coins, members, view, exchange_of, spent_values, state, time)
        if end != table.starts[index + 1]:
            raise ValueError(MISMATCH)
        index += 1
    if table.bad:
        raise ValueError(f"transaction {table.k} runs past the end of the data")
    return table.starts[table.k]


def _step_tx(index: int, tx: Tx, coins: Filter, members: Filter, view: tuple[Any, Any],
             exchange_of: Callable[[bytes], object], spent_values: Any, state: Any,
             time: int) -> None:
    joined, created, spent, sums, tx_flows = state
    stored_coin, stored_member = view
    values = [txout.value for txout in tx.outputs]
    for value in values:
        _money(value, f"transaction {index}: an output value")
    _money(sum(values), f"transaction {index}: the output total")

    def take(txid_rev: bytes, vout: int) -> StepCoin | None:
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
        for owner, level, value, _time_made in tracked:
            if level == 0:
                level0[owner] = level0.get(owner, 0) + value
        if level0:
            joiner = min(level0, key=lambda e: (-level0[e], e))
            for txout in tx.outputs:
                script = txout.script
                if member(script) is None and joinable(script):
                    joined[script] = (joiner, 1)
                    members.add(script_fingerprint(script))

    made: list[StepCoin | None] = []
    for txout in tx.outputs:
        found = member(txout.script)
        made.append(None if found is None or not joinable(txout.script)
                    else (found[0], found[1], txout.value, time))
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
            mine = [c for c in tracked if c[0] == owner and c[1] <= at]
            mine_in = sum(c[2] for c in mine)
            flow: FlowSums = [0, 0, 0, 0, 0, {}, -mine_in, []]
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
            if flow[4]:  # SPEC 5.3: how long the coins it spent were held, weighed by value
                flow[7].append((flow[4], sum(c[2] * (time - c[3]) for c in mine), mine_in))
            if any(flow[i] for i in (1, 2, 3, 4, 6)) or flow[5]:
                add_sums(sums, owner, at, flow)
                if tx_flows is not None:
                    tx_flows.append((index, txid_rev, owner, at, flow))


def add_sums(sums: dict[tuple[int, int], FlowSums], entity: int, level: int,
             flow: FlowSums) -> None:
    """Add one transaction's flow into the block's sums for (entity, level)."""
    total = sums.get((entity, level))
    if total is None:
        sums[(entity, level)] = [*flow[:5], dict(flow[5]), flow[6], list(flow[7])]
        return
    if type(total) is not list or len(total) != 8 or type(total[5]) is not dict \
            or type(total[7]) is not list:
        raise TypeError("flow sums are a list of eight with a dict at 5 and a list at 7")
    for i in (0, 1, 2, 3, 4, 6):
        if len(total) != 8 or len(flow) != 8:  # an addition ran code that changed them
            raise TypeError("flow sums changed size while being added")
        total[i] += flow[i]
    if len(total) != 8 or type(total[5]) is not dict or type(total[7]) is not list \
            or len(flow) != 8 or type(flow[5]) is not dict or type(flow[7]) is not list:
        raise TypeError("flow sums are a list of eight with a dict at 5 and a list at 7")
    by = total[5]
    for name, value in flow[5].items():
        by[name] = by.get(name, 0) + value
    total[7].extend(flow[7])
