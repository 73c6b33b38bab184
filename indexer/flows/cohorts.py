"""SPEC section 5 as a pure per-block step: a block in, cohort joins, coin changes and flows out.

The step reads earlier state only through a `CohortView` (script membership, tracked coins, and
fingerprint filters of both) and touches no storage; the pipeline writes what it returns. The
coinbase rule is here; the rules for the other transactions are `fastpath.step_txs` (compiled,
with `indexer/fastpath/reference.py` as its executable specification), which decodes only the
transactions the filters flag and adds every script and coin the block adds to the filters.
Levels: a coin of level 0 counts at L=0 and L=1, a coin of level 1 at L=1 only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from indexer import fastpath
from indexer.errors import ParseError
from indexer.fastpath import FingerprintFilter
from indexer.fastpath.reference import MAX_MONEY
from indexer.labels.indexed import ExchangeLookup
from indexer.parse.deserializer import RawBlock, Tx, hum
from indexer.parse.script import is_unspendable

LEVELS = (0, 1)
Coin = tuple[int, int, int, int]  # entity, level, value, chain time of the block that made it
Age = tuple[int, int, int]  # to_exchange of one transaction, age numerator (sat-seconds), I_e
Outpoint = tuple[bytes, int]  # txid_rev, vout
TxFlow = tuple[int, bytes, int, int, "Flow"]  # tx index, txid_rev, entity, level, flow


class CohortView(Protocol):
    """Read access to the state before the block, with fingerprint filters in front."""

    coins: FingerprintFilter  # fingerprints of the tracked coins (a superset is fine)
    members: FingerprintFilter  # fingerprints of the cohort scripts (a superset is fine)

    def stored_member(self, script: bytes) -> tuple[int, int] | None:
        """(entity, cohort) of a script, or None when it is in no cohort."""

    def stored_coin(self, txid_rev: bytes, vout: int) -> Coin | None:
        """The unspent miner coin at an outpoint, or None."""


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
    # SPEC 5.3: per transaction that sent to exchanges, (to_exchange, Σ value × (t − t_c) over
    # the miner coins it spent, I_e), in block order
    ages: list[Age] = field(default_factory=list)

    def add(self, other: Flow) -> None:
        self.mined += other.mined
        self.inflow += other.inflow
        self.outflow += other.outflow
        self.fees += other.fees
        self.to_exchange += other.to_exchange
        for name, value in other.to_exchange_by.items():
            self.to_exchange_by[name] = self.to_exchange_by.get(name, 0) + value
        self.balance += other.balance
        self.ages.extend(other.ages)

    def is_zero(self) -> bool:
        return not (self.mined or self.inflow or self.outflow or self.fees or self.to_exchange
                    or self.balance or any(self.to_exchange_by.values()))


@dataclass(slots=True)
class BlockChanges:
    members: dict[bytes, tuple[int, int]] = field(default_factory=dict)
    replaced: dict[bytes, tuple[int, int]] = field(default_factory=dict)  # earlier memberships
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

    def __init__(self, view: CohortView, exchanges: ExchangeLookup,
                 record_txs: bool = False) -> None:
        self.view = view
        self.exchanges = exchanges
        self.record_txs = record_txs

    def run(self, block: RawBlock, entity: int, spent_values: SpentValues, time: int,
            scan: bytes | None = None) -> BlockChanges:
        """The block's changes; ParseError when its bytes or values cannot be a block's.
        `time` is its chain time (the coins it makes carry it); `scan`, the block's
        `fastpath.scan_table` made ahead, leaves the step only the probes of the filters."""
        out = BlockChanges()
        values = [txout.value for txout in block.coinbase.outputs]
        if any(not 0 <= value <= MAX_MONEY for value in values) or sum(values) > MAX_MONEY:
            raise ParseError(f"block {hum(block.header.hash_rev)}: the coinbase pays a "
                             f"value outside 0..21,000,000 BTC")
        self._coinbase(block.coinbase, entity, time, out)
        sums: dict[tuple[int, int], list[Any]] = {}
        tx_flows: list[Any] | None = [] if self.record_txs else None
        view = self.view
        try:
            end = fastpath.step_txs(block.data, block.next_pos, 1, block.tx_count, view.coins,
                                    view.members, (view.stored_coin, view.stored_member),
                                    self.exchanges.step_arg, spent_values,
                                    (out.members, out.created, out.spent, sums, tx_flows), scan,
                                    time)
        except ValueError as exc:
            raise ParseError(f"block {hum(block.header.hash_rev)}: {exc}") from None
        block.check_end(end)
        for (owner, level), flow in sums.items():
            out.flow(owner, level).add(_flow(flow))
        for index, txid_rev, owner, level, flow in tx_flows or ():
            out.tx_flows.append((index, txid_rev, owner, level, _flow(flow)))
        return out

    # -- lookups through this block's own changes first --------------------------------------

    def _member(self, script: bytes, out: BlockChanges) -> tuple[int, int] | None:
        found = out.members.get(script)
        if found is not None:
            return found
        if fastpath.script_fingerprint(script) not in self.view.members:
            return None
        return self.view.stored_member(script)

    def _take_coin(self, txid_rev: bytes, vout: int, out: BlockChanges) -> Coin | None:
        outpoint = (txid_rev, vout)
        coin = out.created.pop(outpoint, None)
        if coin is not None:
            return coin
        if outpoint in out.spent:
            return None
        if fastpath.coin_fingerprint(txid_rev, vout) not in self.view.coins:
            return None
        coin = self.view.stored_coin(txid_rev, vout)
        if coin is not None:
            out.spent[outpoint] = coin
        return coin

    def _joinable(self, script: bytes) -> bool:
        return not is_unspendable(script) and self.exchanges.get(script) is None

    def _join(self, script: bytes, entity: int, cohort: int, out: BlockChanges) -> None:
        out.members[script] = (entity, cohort)
        self.view.members.add(fastpath.script_fingerprint(script))

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
        self.view.coins.add(fastpath.coin_fingerprint(*outpoint))

    # -- the rules ------------------------------------------------------------------------------

    def _coinbase(self, tx: Tx, entity: int, time: int, out: BlockChanges) -> None:
        for txout in tx.outputs:
            script = txout.script
            if not self._joinable(script):
                continue
            current = self._member(script, out)
            if current is None or current[1] == 1:
                if current is not None and script not in out.members:
                    out.replaced[script] = current
                self._join(script, entity, 0, out)
        for vout, txout in enumerate(tx.outputs):
            if not self._joinable(txout.script):
                continue
            member = self._member(txout.script, out)
            if member is None:
                continue
            owner, level = member
            self._create(tx, vout, (owner, level, txout.value, time), out, coinbase=True)
            for at in LEVELS:
                if level <= at:
                    mined = Flow(mined=txout.value, balance=txout.value)
                    out.flow(owner, at).add(mined)
                    if self.record_txs:
                        out.tx_flows.append((0, tx.txid_rev, owner, at, mined))


def _flow(sums: list[Any]) -> Flow:
    """A Flow from the compiled step's [mined, inflow, outflow, fees, to_exchange, by, balance,
    ages]."""
    mined, inflow, outflow, fees, to_exchange, by, balance, ages = sums
    return Flow(mined, inflow, outflow, fees, to_exchange, dict(by), balance,
                [tuple(age) for age in ages])
