"""A new pools list on an existing index, in place: `minerflow pools update` and `pools diff`.

Every block's stored coinbase (`C`) is matched against the new list (SPEC 4); a block whose
attribution changes gets its new record (with the new list's version), moves between the pools'
`P` keys, and moves its totals between the pools' `A` and `W` rows. The undo records still kept
are rewritten to match, so a later reorg rolls the new attribution back exactly. Everything,
with the new list and state, goes in one atomic batch: a crash at any instant leaves the old
attribution or the new, never a mix. No block file is read.

Miner cohorts depend on attribution (SPEC 5), so their series cannot be patched in place: the
state records the list they were built with, and the index reports them stale until a re-index.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from indexer.attribution.matcher import Attribution, attribute
from indexer.attribution.pools import PoolsList, compile_pools
from indexer.config import get_network
from indexer.errors import StoreError
from indexer.mining import SECONDS_PER_DAY, block_totals
from indexer.store import keys
from indexer.store.db import Store
from indexer.store.keys import BlockRecord, Totals


@dataclass(slots=True)
class UpdatePlan:
    """What a pools list would change: each moved block's record and its new attribution."""

    pools: PoolsList
    blocks: int = 0
    moves: list[tuple[BlockRecord, Attribution]] = field(default_factory=list)

    def moved_between(self) -> dict[tuple[int, int], int]:
        """Blocks per (old pool id, new pool id) among the moves that change the pool."""
        out: dict[tuple[int, int], int] = {}
        for record, who in self.moves:
            if record.pool_id != who.pool_id:
                key = (record.pool_id, who.pool_id)
                out[key] = out.get(key, 0) + 1
        return out


def _coinbases(store: Store) -> Iterator[tuple[BlockRecord, bytes]]:
    blocks = store.scan(keys.BLOCK)
    coinbases = store.scan(keys.COINBASE)
    for (block_key, block_value), (coinbase_key, coinbase_value) in zip(blocks, coinbases,
                                                                         strict=False):
        height = keys.height_from_block_key(block_key)
        if keys.height_from_block_key(coinbase_key) != height:
            raise StoreError(f"index {store.path}: block {height} has no stored coinbase: "
                             f"re-index required")
        yield keys.unpack_block(height, block_value), coinbase_value


def plan_update(store: Store, pools: PoolsList) -> UpdatePlan:
    """Match every stored coinbase against `pools`; nothing is written."""
    state = store.require_state()
    compiled = compile_pools(pools, get_network(state.network))
    plan = UpdatePlan(pools)
    for record, coinbase in _coinbases(store):
        script_sig, outputs = keys.unpack_coinbase(coinbase)
        who = attribute(script_sig, outputs, compiled)
        plan.blocks += 1
        if (who.pool_id, who.method, who.tag_pool_id, who.conflict) != (
                record.pool_id, record.method, record.tag_pool_id, record.conflict):
            plan.moves.append((record, who))
    if plan.blocks != state.tip_height + 1:
        raise StoreError(f"index {store.path} holds {plan.blocks} block records for tip "
                         f"{state.tip_height}: re-index required")
    return plan


class _Overlay:
    """Values after the update: the batch being built over the stored index."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.puts: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.puts[key] if key in self.puts else self.store.get(key)

    def totals(self, key: bytes) -> Totals:
        raw = self.get(key)
        return keys.unpack_totals(raw) if raw else Totals()


def _packed(totals: Totals) -> bytes | None:
    return keys.pack_totals(totals) if totals.blocks else None


def _totals_keys(record: BlockRecord) -> list[bytes]:
    """The `A` and `W` keys a block adds to: the network's and its pool's."""
    day = record.chain_time // SECONDS_PER_DAY
    return [keys.day_totals_key(e, day) for e in (keys.ALL_ENTITY, record.pool_id)] + [
        keys.chain_totals_key(e) for e in (keys.ALL_ENTITY, record.pool_id)]


def apply_update(store: Store, plan: UpdatePlan) -> int:
    """Write the plan in one atomic batch; returns the number of blocks that moved."""
    state = store.require_state()
    network = get_network(state.network)
    overlay = _Overlay(store)
    puts = overlay.puts
    raw_versions = store.get(keys.POOLS_VERSIONS)
    assert raw_versions is not None, "an index always has its pools versions"
    versions = keys.unpack_versions(raw_versions)
    versions.append((plan.pools.sha256, 0))
    version = len(versions) - 1
    counts = [blocks for _sha, blocks in versions]
    deltas: dict[bytes, Totals] = {}
    new_records: dict[int, BlockRecord] = {}
    for record, who in plan.moves:
        moved = replace(record, pool_id=who.pool_id, method=who.method,
                        tag_pool_id=who.tag_pool_id, conflict=who.conflict,
                        pools_version=version)
        new_records[record.height] = moved
        puts[keys.block_key(record.height)] = keys.pack_block(moved)
        puts[keys.pool_block_key(record.pool_id, record.height)] = None
        puts[keys.pool_block_key(moved.pool_id, record.height)] = b""
        counts[record.pools_version] -= 1
        counts[version] += 1
        if record.height >= 1 and record.pool_id != moved.pool_id:
            t = block_totals(record, network)
            for key in _totals_keys(record)[1::2]:  # the old pool's day and chain rows
                deltas[key] = deltas.get(key, Totals()) - t
            for key in _totals_keys(moved)[1::2]:
                deltas[key] = deltas.get(key, Totals()) + t
    for key, delta in deltas.items():
        puts[key] = _packed(overlay.totals(key) + delta)
    puts[keys.POOLS_VERSIONS] = keys.pack_versions(
        [(sha, n) for (sha, _old), n in zip(versions, counts, strict=True)])
    puts[keys.POOLS_LIST] = plan.pools.to_json()
    _rewrite_undo(overlay, new_records, network.name)
    series = state.series_pools_sha256 or state.pools_sha256
    store.write(puts, replace(state, pools_sha256=plan.pools.sha256,
                              series_pools_sha256=None if series == plan.pools.sha256
                              else series))
    store.record_lists()
    return len(plan.moves)


def _rewrite_undo(overlay: _Overlay, new_records: dict[int, BlockRecord], network: str) -> None:
    """Make the kept undo records restore the new attribution: walking down from the tip, the
    entries of the keys attribution decides (`H`, `P`, `A`, `W`, the versions) are computed
    anew as the values before each block; every other entry stays as it was."""
    store = overlay.store
    net = get_network(network)
    tip = store.require_state().tip_height
    current: dict[bytes, bytes | None] = {}

    def now(key: bytes) -> bytes | None:
        return current[key] if key in current else overlay.get(key)

    for height in range(tip, -1, -1):
        raw = store.get(keys.undo_key(height))
        if raw is None:
            break
        stored = store.get(keys.block_key(height))
        assert stored is not None
        record = new_records.get(height) or keys.unpack_block(height, stored)
        kept = [(k, v) for k, v in keys.unpack_undo(raw)
                if k[:1] not in (keys.BLOCK, keys.POOL_BLOCK, keys.DAY_TOTALS,
                                 keys.CHAIN_TOTALS) and k != keys.POOLS_VERSIONS]
        entries: list[tuple[bytes, bytes | None]] = [
            (keys.block_key(height), None), (keys.pool_block_key(record.pool_id, height), None)]
        raw_versions = now(keys.POOLS_VERSIONS)
        assert raw_versions is not None
        versions = keys.unpack_versions(raw_versions)
        sha, blocks = versions[record.pools_version]
        versions[record.pools_version] = (sha, blocks - 1)
        entries.append((keys.POOLS_VERSIONS, keys.pack_versions(versions)))
        if height >= 1:
            t = block_totals(record, net)
            for key in _totals_keys(record):
                after = now(key)
                entries.append((key, _packed((keys.unpack_totals(after) if after else
                                              Totals()) - t)))
        for key, before in entries:
            current[key] = before
        overlay.puts[keys.undo_key(height)] = keys.pack_undo(kept + entries)


def update_pools(store: Store, pools: PoolsList) -> tuple[UpdatePlan, int]:
    """Plan and apply; (the plan, blocks moved). The same list again changes nothing."""
    plan = plan_update(store, pools)
    if pools.sha256 == store.require_state().pools_sha256:
        return plan, 0
    return plan, apply_update(store, plan)
