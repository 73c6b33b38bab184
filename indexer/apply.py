"""Turn one parsed block into index writes: block record, attribution, cohorts, coins, series.

`IndexView` answers the cohort step's lookups from the write buffer and LevelDB, with compact
in-memory fingerprint filters in front so that the common miss (an input that spends no miner
coin, an output to a script in no cohort) never reaches LevelDB, and most transactions are only
scanned, never decoded. `BlockApplier.apply` is the only writer of a
block's keys; everything it writes goes through the buffer and so into the block's undo record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from indexer import fastpath
from indexer.attribution.matcher import attribute
from indexer.attribution.pools import CompiledPools
from indexer.config import get_network
from indexer.errors import ParseError
from indexer.fingerprints import Fingerprints
from indexer.flows.cohorts import (
    LEVELS,
    BlockChanges,
    CohortStep,
    Coin,
    Flow,
    SpentValues,
    TxFlow,
)
from indexer.flows.exchanges import ALL as ALL_EXCHANGES
from indexer.flows.exchanges import ExchangeChanges, ExchangeFlow, ExchangeStep, SpentScripts
from indexer.labels.exchanges import exchange_ids
from indexer.labels.indexed import ExchangeLookup, stored_summary
from indexer.mining import SECONDS_PER_DAY, block_totals
from indexer.parse.deserializer import RawBlock, parse_block
from indexer.store import keys
from indexer.store.batch import WriteBuffer
from indexer.store.db import Store, damaged

MEMBERSHIPS_KEPT = 1_000_000  # scripts remembered between blocks; all forgotten past this many


class Memberships(dict[bytes, "tuple[int, int] | None"]):
    """script -> (entity, cohort), or None when in no cohort, as of the last block applied.

    A script is read from the write buffer (and so the index) the first time it is asked for;
    the applier writes its joins here too. The step looks scripts up through `__getitem__`, so a
    script seen again (a service address paid a thousand times) costs a dict lookup in C."""

    def __init__(self, buffer: WriteBuffer) -> None:
        super().__init__()
        self.buffer = buffer

    def __missing__(self, script: bytes) -> tuple[int, int] | None:
        if len(self) >= MEMBERSHIPS_KEPT:
            self.clear()
        key = keys.member_key(script)
        raw = sized(self.buffer.store, key, self.buffer.get(key), keys.MEMBER_VALUE_SIZE)
        found = self[script] = None if raw is None else keys.unpack_member(raw)
        return found


class ExchangeIds(dict[bytes, "int | None"]):
    """script -> its exchange's id, or None: read through the lookup the first time a script
    is asked for (the exchange step asks only for scripts the filter holds), then a dict lookup
    in C (`__getitem__`); all forgotten past `MEMBERSHIPS_KEPT` scripts."""

    def __init__(self, lookup: ExchangeLookup, ids: dict[str, int]) -> None:
        super().__init__()
        self.lookup = lookup
        self.ids = ids

    def __missing__(self, script: bytes) -> int | None:
        if len(self) >= MEMBERSHIPS_KEPT:
            self.clear()
        name = self.lookup(script)
        found = self[script] = None if name is None else self.ids[name]
        return found


def sized(store: Store, key: bytes, raw: bytes | None, size: int) -> bytes | None:
    """`raw`, read for `key`, when it has the size of the values stored under such keys: a
    value of another size is a damaged index (StoreError), which the cohort step must not take
    for a damaged block."""
    if raw is not None and len(raw) != size:
        raise damaged(store.path, f"the value of key {key.hex()} holds {len(raw)} bytes, not "
                                  f"{size}")
    return raw


class IndexView:
    """The cohort step's view of the state before a block: the filters, then the memberships
    read so far, the write buffer and LevelDB."""

    def __init__(self, buffer: WriteBuffer, fingerprints: Fingerprints) -> None:
        self.buffer = buffer
        self.members = fingerprints.members
        self.coins = fingerprints.coins
        self.memberships = Memberships(buffer)
        self.stored_member = self.memberships.__getitem__
        # the buffer's layers, then the index: `get_coin` is compiled, so a lookup runs no
        # Python frame until it reaches LevelDB
        self.stored_coin: Callable[[bytes, int], Coin | None] = partial(
            fastpath.get_coin, buffer.layers, self._index_coin)

    def _index_coin(self, key: bytes) -> bytes | None:
        store = self.buffer.store
        return sized(store, key, store.get(key), keys.COIN_VALUE_SIZE)


@dataclass(frozen=True, slots=True)
class BlockMeta:
    """What the chain source knows about a block besides its bytes."""

    height: int
    hash_rev: bytes
    chain_time: int

    @property
    def hash_hum(self) -> str:
        return self.hash_rev[::-1].hex()


TxSink = Callable[[BlockMeta, list[TxFlow]], None]
"""Hears each applied block's flows per transaction (see `BlockChanges.tx_flows`)."""


def series_row(flow: Flow, balance: int) -> bytes:
    return keys.pack_series_row(balance, flow.mined, flow.inflow, flow.outflow, flow.fees,
                                flow.to_exchange, flow.to_exchange_by, flow.ages)


class BlockApplier:
    """Applies blocks in height order on top of an index."""

    def __init__(self, store: Store, buffer: WriteBuffer, pools: CompiledPools,
                 fingerprints: Fingerprints | None = None,
                 tx_sink: TxSink | None = None) -> None:
        self.store = store
        self.buffer = buffer
        self.pools = pools
        self.network = get_network(store.require_state().network)
        fingerprints = fingerprints or Fingerprints(store)
        self.view = IndexView(buffer, fingerprints)
        lookup = ExchangeLookup.of(store)
        self.step = CohortStep(self.view, lookup, record_txs=tx_sink is not None)
        self.exchange_ids = exchange_ids(stored_summary(store))
        self.exchange_step = ExchangeStep(lookup.filter,
                                          ExchangeIds(lookup, self.exchange_ids).__getitem__)
        self.tx_sink = tx_sink
        self.balances: dict[tuple[int, int], int] = {}
        for key, value in self.store.scan(keys.BALANCE):
            self.balances[keys.entity_level_from_balance_key(key)] = keys.unpack_u64(value)
        self.exchange_balances: dict[int, int] = {}
        for key, value in self.store.scan(keys.EXCHANGE_BALANCE):
            self.exchange_balances[keys.exchange_from_balance_key(key)] = keys.unpack_u64(value)

    def apply(self, meta: BlockMeta, block: RawBlock, spent_values: SpentValues,
              spent_scripts: SpentScripts, weight: int | None = None,
              scan: bytes | None = None) -> None:
        """Write the block's keys; a block whose bytes do not decode raises ParseError before
        anything is written. `spent_values` and `spent_scripts` say what its inputs spend
        (SPEC 5 and 5.1). `weight` and `scan`, when the caller made them
        (`fastpath.block_weight` and `fastpath.scan_table` of the same bytes, on the
        read-ahead thread), save the walks."""
        buf = self.buffer
        height = meta.height
        coinbase = block.coinbase
        outputs = [(o.value, o.script) for o in coinbase.outputs]
        script_sig = coinbase.inputs[0].script_sig
        who = attribute(script_sig, outputs, self.pools)
        # The step runs first: it reads only, and checks the whole block as it scans it.
        changes = (self.step.run(block, who.pool_id, spent_values, meta.chain_time, scan)
                   if height > 0 else None)
        if changes is None:  # the genesis coinbase creates no coin and joins no cohort
            parse_block(block.data)  # but its bytes are checked all the same
        exchanges = (self.exchange_step.run(block, spent_scripts, scan)
                     if height > 0 else None)
        if weight is None:
            try:
                weight = fastpath.block_weight(block.data)
            except ValueError:
                raise block.truncated() from None
        if weight > keys.MAX_WEIGHT:  # consensus allows 4,000,000
            raise ParseError(f"block {meta.hash_hum} weighs {weight}: no block can")

        buf.begin_block(height)
        record = keys.BlockRecord(
            height, meta.hash_rev, meta.chain_time, block.header.time, block.header.bits,
            who.pool_id, who.method, who.tag_pool_id, who.conflict, block.tx_count, block.size,
            sum(value for value, _s in outputs), weight, self._count_version(),
        )
        buf.put(keys.block_key(height), keys.pack_block(record), None)
        buf.put(keys.block_by_hash_key(meta.hash_rev), keys.pack_u32(height), None)
        buf.put(keys.coinbase_key(height), keys.pack_coinbase(script_sig, outputs), None)
        buf.put(keys.pool_block_key(who.pool_id, height), b"", None)
        day = meta.chain_time // SECONDS_PER_DAY
        day_raw = buf.get(keys.day_key(day))
        first = keys.unpack_day(day_raw)[0] if day_raw else height
        buf.put(keys.day_key(day), keys.pack_day(first, height), day_raw)
        if height > 0:  # the genesis block is in no sum, as it is in no series
            self._add_totals(day, record)

        if changes is not None:
            self._write_changes(height, changes)
        if exchanges is not None and changes is not None:
            self._write_exchanges(height, exchanges, changes)
        buf.end_block(meta.hash_hum)
        if self.tx_sink is not None:
            self.tx_sink(meta, changes.tx_flows if changes is not None else [])

    def _count_version(self) -> int:
        """The current pools list attributes the block: count it; its index in the table."""
        raw = self.buffer.get(keys.POOLS_VERSIONS)
        assert raw is not None, "an index always has its pools versions"
        versions = keys.unpack_versions(raw)
        sha, blocks = versions[-1]
        versions[-1] = (sha, blocks + 1)
        self.buffer.put(keys.POOLS_VERSIONS, keys.pack_versions(versions), raw)
        return len(versions) - 1

    def _add_totals(self, day: int, record: keys.BlockRecord) -> None:
        """Add the block to its day's and the chain's totals, for the network and its pool."""
        buf = self.buffer
        totals = block_totals(record, self.network)
        for entity in (keys.ALL_ENTITY, record.pool_id):
            for key in (keys.day_totals_key(entity, day), keys.chain_totals_key(entity)):
                old = buf.get(key)
                new = totals if old is None else keys.unpack_totals(old) + totals
                buf.put(key, keys.pack_totals(new), old)

    def _write_changes(self, height: int, changes: BlockChanges) -> None:
        buf = self.buffer
        # Every earlier value is known: a joined script was in no cohort unless `replaced`
        # says otherwise, a created coin's outpoint held nothing (the one exception, a
        # duplicate coinbase, spends the earlier coin first, which records it).
        memberships = self.view.memberships
        for script, joined in changes.members.items():
            before = changes.replaced.get(script)
            buf.put(keys.member_key(script), keys.pack_member(*joined),
                    None if before is None else keys.pack_member(*before))
            memberships[script] = joined
        put_state = buf.put_state()
        fastpath.put_coins(*put_state, changes.spent, False)
        fastpath.put_coins(*put_state, changes.created, True)

        totals: dict[int, Flow] = {level: Flow() for level in LEVELS}
        for (entity, level), flow in sorted(changes.flows.items()):
            if flow.is_zero():
                continue
            totals[level].add(flow)
            self._write_row(entity, level, height, flow)
        for level, flow in totals.items():
            if not flow.is_zero():
                self._write_row(keys.ALL_ENTITY, level, height, flow)

    def _write_row(self, entity: int, level: int, height: int, flow: Flow) -> None:
        key = (entity, level)
        old = self.balances.get(key)
        balance = (old or 0) + flow.balance
        self.balances[key] = balance
        self.buffer.put(keys.balance_key(entity, level), keys.pack_u64(balance),
                        None if old is None else keys.pack_u64(old))
        self.buffer.put(keys.series_key(entity, level, height), series_row(flow, balance), None)

    def _write_exchanges(self, height: int, changes: ExchangeChanges,
                         miners: BlockChanges) -> None:
        """The block's exchange rows (SPEC 5.1); `from_miners` from the miner flows to each
        exchange, summed over every entity but `all`."""
        buf = self.buffer
        from_miners: dict[int, list[int]] = {}
        ids = self.exchange_ids
        for (_entity, level), miner_flow in miners.flows.items():
            for name, value in miner_flow.to_exchange_by.items():
                for exchange in (ids[name], ALL_EXCHANGES):
                    from_miners.setdefault(exchange, [0, 0])[level] += value
        for exchange in sorted(changes.flows.keys() | from_miners.keys()):
            flow = changes.flows.get(exchange) or ExchangeFlow()
            by_level = from_miners.get(exchange, [0, 0])
            if not (flow.inflow or flow.outflow or flow.fees or flow.balance
                                    or any(by_level)):
                continue
            old = self.exchange_balances.get(exchange)
            balance = (old or 0) + flow.balance
            self.exchange_balances[exchange] = balance
            buf.put(keys.exchange_balance_key(exchange), keys.pack_u64(balance),
                    None if old is None else keys.pack_u64(old))
            row = keys.ExchangeRow(balance, flow.inflow, flow.outflow, flow.fees,
                                   flow.from_coinbase, by_level[0], by_level[1])
            buf.put(keys.exchange_series_key(exchange, height), keys.pack_exchange_row(row),
                    None)
