"""SPEC section 5 as a pure per-block step: a block in, cohort joins, coin changes and flows out.

The step reads earlier state only through a `CohortView` (script membership, tracked coins) and
touches no storage; the pipeline writes what it returns. Transactions are decoded only where the
view's scan says they may spend a tracked coin or pay a cohort script; the view hears of every
script and coin the block adds, so that the scan of later transactions finds them.
Levels: a coin of level 0 counts at L=0 and L=1, a coin of level 1 at L=1 only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from indexer.parse.deserializer import RawBlock, Tx, parse_tx_at
from indexer.parse.script import is_unspendable

LEVELS = (0, 1)
Coin = tuple[int, int, int]  # entity, level, value
Outpoint = tuple[bytes, int]  # txid_rev, vout
TxFlow = tuple[int, bytes, int, int, "Flow"]  # tx index, txid_rev, entity, level, flow


class CohortView(Protocol):
    """Read access to the state before the block."""

    def member(self, script: bytes) -> tuple[int, int] | None:
        """(entity, cohort) of a script, or None when it is in no cohort."""

    def coin(self, txid_rev: bytes, vout: int) -> Coin | None:
        """The unspent miner coin at an outpoint, or None."""

    def next_candidate(self, block: RawBlock, pos: int, index: int) -> tuple[int, int]:
        """From transaction `index` at `pos`, the (index, pos) of the next transaction that may
        spend a tracked coin or pay a cohort script; (tx_count, end of the last transaction)
        when none may. Raises ParseError when the block's bytes run out."""

    def note_member(self, script: bytes) -> None:
        """`script` joins a cohort in the block being stepped."""

    def note_coin(self, txid_rev: bytes, vout: int) -> None:
        """A tracked coin is created in the block being stepped."""


SpentValues = Callable[[int], list[int]]
"""Values of the outputs spent by the inputs of the block's tx at an index, in input order."""


@dataclass(slots=True)
class Flow:
    """Changes of one (entity, level) over a transaction or block."""

    mined: int = 0
    inflow: int = 0
    outflow: int = 0
    fees: int = 0
    to_exchange: int = 0
    to_exchange_by: dict[str, int] = field(default_factory=dict)
    balance: int = 0  # change of the balance

    def add(self, other: Flow) -> None:
        self.mined += other.mined
        self.inflow += other.inflow
        self.outflow += other.outflow
        self.fees += other.fees
        self.to_exchange += other.to_exchange
        for name, value in other.to_exchange_by.items():
            self.to_exchange_by[name] = self.to_exchange_by.get(name, 0) + value
        self.balance += other.balance

    def is_zero(self) -> bool:
        return not (self.mined or self.inflow or self.outflow or self.fees or self.to_exchange
                    or self.balance or any(self.to_exchange_by.values()))


@dataclass(slots=True)
class BlockChanges:
    members: dict[bytes, tuple[int, int]] = field(default_factory=dict)
    created: dict[Outpoint, Coin] = field(default_factory=dict)  # still unspent after the block
    spent: dict[Outpoint, Coin] = field(default_factory=dict)  # coins from before the block
    flows: dict[tuple[int, int], Flow] = field(default_factory=dict)
    # with `CohortStep(record_txs=True)`: (tx index, txid_rev, entity, level, flow) of every
    # transaction and (entity, level) whose numbers it changed, in block order
    tx_flows: list[TxFlow] = field(default_factory=list)

    def flow(self, entity: int, level: int) -> Flow:
        key = (entity, level)
        found = self.flows.get(key)
        if found is None:
            found = self.flows[key] = Flow()
        return found


class CohortStep:
    """Apply SPEC 5 to one block on top of `view`."""

    def __init__(self, view: CohortView, exchanges: dict[bytes, str],
                 record_txs: bool = False) -> None:
        self.view = view
        self.exchanges = exchanges
        self.record_txs = record_txs

    def run(self, block: RawBlock, entity: int, spent_values: SpentValues) -> BlockChanges:
        out = BlockChanges()
        self._coinbase(block.coinbase, entity, out)
        index, pos = 1, block.next_pos
        while True:
            index, pos = self.view.next_candidate(block, pos, index)
            if index >= block.tx_count:
                break
            tx, pos = parse_tx_at(block, pos)
            self._spend(index, tx, spent_values, out)
            index += 1
        block.check_end(pos)
        return out

    # -- lookups through this block's own changes first --------------------------------------

    def _member(self, script: bytes, out: BlockChanges) -> tuple[int, int] | None:
        found = out.members.get(script)
        return found if found is not None else self.view.member(script)

    def _take_coin(self, txid_rev: bytes, vout: int, out: BlockChanges) -> Coin | None:
        outpoint = (txid_rev, vout)
        coin = out.created.pop(outpoint, None)
        if coin is not None:
            return coin
        if outpoint in out.spent:
            return None
        coin = self.view.coin(txid_rev, vout)
        if coin is not None:
            out.spent[outpoint] = coin
        return coin

    def _joinable(self, script: bytes) -> bool:
        return not is_unspendable(script) and script not in self.exchanges

    def _join(self, script: bytes, entity: int, cohort: int, out: BlockChanges) -> None:
        out.members[script] = (entity, cohort)
        self.view.note_member(script)

    def _create(self, tx: Tx, vout: int, coin: Coin, out: BlockChanges,
                coinbase: bool = False) -> None:
        outpoint = (tx.txid_rev, vout)
        if coinbase:
            # A duplicate coinbase (BIP30, mainnet 91842/91880) overwrites the identical earlier
            # coin, which is lost: it leaves the balance with no flow.
            lost = self._take_coin(outpoint[0], outpoint[1], out)
            if lost is not None:
                for level in LEVELS:
                    if lost[1] <= level:
                        out.flow(lost[0], level).balance -= lost[2]
        out.created[outpoint] = coin
        self.view.note_coin(*outpoint)

    # -- the rules ------------------------------------------------------------------------------

    def _coinbase(self, tx: Tx, entity: int, out: BlockChanges) -> None:
        for txout in tx.outputs:
            script = txout.script
            if not self._joinable(script):
                continue
            current = self._member(script, out)
            if current is None or current[1] == 1:
                self._join(script, entity, 0, out)
        for vout, txout in enumerate(tx.outputs):
            if not self._joinable(txout.script):
                continue
            member = self._member(txout.script, out)
            if member is None:
                continue
            owner, level = member
            self._create(tx, vout, (owner, level, txout.value), out, coinbase=True)
            for at in LEVELS:
                if level <= at:
                    mined = Flow(mined=txout.value, balance=txout.value)
                    out.flow(owner, at).add(mined)
                    if self.record_txs:
                        out.tx_flows.append((0, tx.txid_rev, owner, at, mined))

    def _spend(self, index: int, tx: Tx, spent_values: SpentValues, out: BlockChanges) -> None:
        spent: list[Coin | None] = [
            self._take_coin(txin.prev_txid_rev, txin.prev_vout, out) for txin in tx.inputs
        ]
        tracked = [coin for coin in spent if coin is not None]

        if tracked:
            level0: dict[int, int] = {}
            for owner, level, value in tracked:
                if level == 0:
                    level0[owner] = level0.get(owner, 0) + value
            if level0:
                joiner = min(level0, key=lambda e: (-level0[e], e))
                for txout in tx.outputs:
                    script = txout.script
                    if self._joinable(script) and self._member(script, out) is None:
                        self._join(script, joiner, 1, out)

        created: list[Coin | None] = []
        for txout in tx.outputs:
            member = self._member(txout.script, out) if self._joinable(txout.script) else None
            created.append(None if member is None else (member[0], member[1], txout.value))
        if not tracked and not any(created):
            return
        for vout, coin in enumerate(created):
            if coin is not None:
                self._create(tx, vout, coin, out)

        if tracked and len(tracked) == len(spent):
            total_in = sum(coin[2] for coin in tracked)
        elif tracked:
            total_in = sum(spent_values(index))
        else:
            total_in = 0
        fee = total_in - sum(txout.value for txout in tx.outputs)

        owners = {coin[0] for coin in tracked} | {coin[0] for coin in created if coin}
        for owner in owners:
            for at in LEVELS:
                mine_in = sum(c[2] for c in tracked if c[0] == owner and c[1] <= at)
                flow = self._tx_flow(tx, created, owner, at, mine_in, total_in, fee)
                flow.balance -= mine_in
                if not flow.is_zero():
                    out.flow(owner, at).add(flow)
                    if self.record_txs:
                        out.tx_flows.append((index, tx.txid_rev, owner, at, flow))

    def _tx_flow(self, tx: Tx, created: list[Coin | None], owner: int, at: int, mine_in: int,
                 total_in: int, fee: int) -> Flow:
        flow = Flow()
        for txout, coin in zip(tx.outputs, created, strict=True):
            value = txout.value
            share = value * mine_in // total_in if mine_in else 0
            if coin is not None and coin[0] == owner and coin[1] <= at:
                flow.inflow += value - share
                flow.balance += value
                continue
            flow.outflow += share
            exchange = self.exchanges.get(txout.script)
            if exchange is not None and share:
                flow.to_exchange += share
                flow.to_exchange_by[exchange] = flow.to_exchange_by.get(exchange, 0) + share
        if mine_in:
            flow.fees += fee * mine_in // total_in
        return flow
