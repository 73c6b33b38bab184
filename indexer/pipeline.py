"""Advance the index along the active chain, rolling back first where the chain changed.

The loop: find where the index and the chain agree (the fork point), roll back above it with the
per-height undo records, then parse and apply each new block, flushing the buffer atomically with
the tip every few hundred blocks. A record that turns out unusable (torn, or not a whole block)
ends the usable chain at its parent and is reported.
"""

from __future__ import annotations

import logging
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from indexer import fastpath
from indexer.apply import BlockApplier, BlockMeta, TxSink
from indexer.attribution.pools import PoolsList, compile_pools
from indexer.config import Network, get_network
from indexer.errors import (
    ConfigError,
    DamagedBlockError,
    IndexMismatchError,
    ParseError,
    SourceError,
    StoreError,
)
from indexer.fastpath import FingerprintFilter, PackedUndo
from indexer.fingerprints import Fingerprints
from indexer.flows.cohorts import SpentValues
from indexer.flows.exchanges import SpentScripts
from indexer.labels.indexed import write_labels
from indexer.labels.labelset import LabelSet
from indexer.parse.deserializer import RawBlock, open_block, read_compact_size
from indexer.source.blkfiles import BlockFiles, RecordLocation
from indexer.source.chain import ActiveChain, ChainBlock, find_active_chain
from indexer.source.funding import FundingLookup
from indexer.source.node import NodeSource
from indexer.source.readahead import read_ahead
from indexer.source.revfiles import UndoFiles, UndoMissing
from indexer.source.rpc import RPC_INVALID_PARAMETER, RpcError
from indexer.source.spent import SpentHeld, held_from_undo
from indexer.source.verify import check_block
from indexer.store import generations, keys, writer
from indexer.store.batch import WriteBuffer, rollback, undo_depth
from indexer.store.db import IndexState, Store

log = logging.getLogger(__name__)

FLUSH_BLOCKS = 500
FLUSH_KEYS = 250_000
ProgressFn = Callable[[int, int], None]  # (height, bytes of the block just applied)
TotalFn = Callable[[int], None]  # how many blocks this run is about to apply


@dataclass(slots=True)
class RunReport:
    first_height: int  # first height applied by this run
    tip_height: int
    tip_hash: str | None
    applied: int
    rolled_back: int
    stale: int
    notes: list[str] = field(default_factory=list)
    damage: list[str] = field(default_factory=list)  # what ended the chain short of its tip
    waiting: str | None = None  # why nothing was done: the node is behind the index
    node_tip: int | None = None  # the node's tip when the pass began (sync only)
    stopped: bool = False  # the stop event ended the pass early
    moved: bool = False  # a rebuild made another generation active: nothing was done here


class BlockFileSource:
    """Blocks of the active chain read from a node's blocks directory.

    Every block read is checked against its header's merkle root unless `trust_files`; the check
    runs on the read-ahead thread, in C with the GIL released."""

    def __init__(self, blocks_dir: Path, network: Network, trust_files: bool = False) -> None:
        self.files = BlockFiles(blocks_dir, network.magic)
        self.undo = UndoFiles(blocks_dir, network.magic, self.files.key)
        self.network = network
        self.trust_files = trust_files
        self.funding: FundingLookup | None = None
        # the exchange filter: the read-ahead thread packs the inputs it may hold with the
        # spent values, so the applying thread does not walk the undo record again
        self.exchange_scripts: FingerprintFilter | None = None

    def chain(self) -> ActiveChain:
        active = find_active_chain(self.files, self.network)
        self.funding = FundingLookup(active.blocks, self.read)
        return active

    def read(self, cb: ChainBlock) -> bytes:
        """The plain bytes of a block (its record's content)."""
        return self.files.read(cb.location)

    def where(self, location: RecordLocation) -> str:
        """`blkNNNNN.dat offset N` of a record, as messages name it."""
        return f"{self.files.path(location.file_no).name} offset {location.offset - 8}"

    def read_checked(self, cb: ChainBlock) -> BlockRead | DamagedBlockError:
        """The block's bytes and the values it spends, or the damage found in its bytes
        (returned, not raised, so that the read-ahead thread hands it over in chain order).
        Runs on the read-ahead thread: the merkle check, the weight, the scan table and the
        undo decoding release the GIL."""
        data = self.read(cb)
        weight: int | None
        scan: bytes | None
        if self.trust_files:
            try:
                weight, scan = fastpath.block_weight(data), fastpath.scan_table(data)
            except ValueError:
                weight = scan = None  # not a whole block: the applier says so
        else:
            try:
                weight, scan = check_block(data, cb.hash_rev, f"{self.where(cb.location)}: "
                                                 f"block {cb.hash_hum} (height {cb.height})")
            except DamagedBlockError as exc:
                return exc
        return BlockRead(data, self._undo(cb, data), weight, scan)

    def _undo(self, cb: ChainBlock, data: bytes) -> PackedUndo | SourceError | None:
        """The block's spent values from its rev file; the error when there are none (only
        raised if a transaction needs them); None for a block of a coinbase alone."""
        try:
            tx_count = read_compact_size(data, 80)[0]
        except (IndexError, struct.error):
            return None  # not a block: the parse says so
        if tx_count <= 1:
            return None
        try:
            return self.undo.packed_values(cb.location.file_no, tx_count, data[4:36], cb.height,
                                           self.exchange_scripts)
        except SourceError as exc:
            return exc

    def damaged_stale(self, chain: ActiveChain) -> list[str]:
        """Warnings for stale blocks whose bytes do not match their header (they are few)."""
        if self.trust_files:
            return []
        found = []
        for location in chain.stale_at:
            try:
                check_block(self.files.read(location), None,
                                  f"{self.where(location)}: stale block")
            except DamagedBlockError as exc:
                found.append(f"{exc} (not on the active chain, skipped)")
        return found

    def spent_values(self, cb: ChainBlock, block: RawBlock, read: BlockRead) -> SpentValues:
        def values(tx_index: int) -> list[int]:
            undo = read.undo
            if isinstance(undo, UndoMissing):
                assert self.funding is not None
                return self.funding.spent_values(cb.height, block, tx_index)
            if isinstance(undo, SourceError):
                raise undo
            if undo is None or tx_index >= block.tx_count:
                raise SourceError(f"height {cb.height}: no undo values for transaction "
                                  f"{tx_index}")
            try:
                return undo.values(tx_index - 1)
            except IndexError:
                raise SourceError(f"{self.where(cb.location)}: the undo record of height "
                                  f"{cb.height} holds {undo.tx_count} transactions, the block "
                                  f"{block.tx_count - 1} after its coinbase") from None

        return values

    def spent_scripts(self, cb: ChainBlock, block: RawBlock, read: BlockRead) -> SpentScripts:
        def held(scripts: FingerprintFilter) -> SpentHeld:
            undo = read.undo
            if isinstance(undo, UndoMissing):
                assert self.funding is not None
                return self.funding.held(cb.height, block, scripts)
            if isinstance(undo, SourceError):
                raise undo
            if undo is None:
                raise SourceError(f"height {cb.height}: no undo record for the block's "
                                  f"{block.tx_count - 1} transactions after its coinbase")
            try:
                return held_from_undo(undo, scripts)
            except ValueError as exc:
                raise SourceError(f"{self.where(cb.location)}: the undo record of height "
                                  f"{cb.height} does not decode ({exc})") from None

        return held


@dataclass(frozen=True, slots=True)
class BlockRead:
    """What the read-ahead thread hands over for one block."""

    data: bytes
    undo: PackedUndo | SourceError | None
    weight: int | None  # fastpath.block_weight's, None when it raised
    scan: bytes | None  # fastpath.scan_table's, None when it raised


def index_state(network: Network, pools: PoolsList, labels: LabelSet) -> IndexState:
    return IndexState(keys.FORMAT_VERSION, network.name, network.genesis_hash_hum, pools.sha256,
                      labels.sha256)


def open_for_writing(path: Path, network: Network, pools: PoolsList, labels: LabelSet) -> Store:
    """Open (or create) the index for these settings; refuse one built with others."""
    store = Store(path, create=True)
    try:
        store.check_or_init(index_state(network, pools, labels), pools.to_json(),
                            partial(write_labels, store, labels, network), labels.file)
    except IndexMismatchError:
        kept = store.state.labels_sha256 if store.state is not None else None
        store.close()
        if labels.file is not None and labels.file.parent == path and kept != labels.sha256:
            labels.file.unlink(missing_ok=True)  # made for this run: the index keeps its own
        raise
    except Exception:
        store.close()
        raise
    generations.write_tip(store.db_path, store.require_state().tip_height)
    return store


def replace_labels(store: Store, labels: LabelSet) -> None:
    """Set new exchange labels (batches that an interrupted run leaves marked, see
    `labels.indexed`). Flows already indexed were built with the old ones: the state keeps
    their hash, and the index reports its series stale until a re-index."""
    state = store.require_state()
    built = (state.series_labels_sha256 or state.labels_sha256) if state.tip_height >= 0 else None
    network = get_network(state.network)
    write_labels(store, labels, network,
                 replace(state, labels_sha256=labels.sha256,
                         series_labels_sha256=None if built in (None, labels.sha256) else built))
    store.record_lists(labels.file)


def fork_point(store: Store, hashes: list[bytes]) -> int:
    """The highest height at which the index and `hashes` (by height) hold the same block."""
    tip = store.require_state().tip_height
    for height in range(min(tip, len(hashes) - 1), -1, -1):
        raw = store.get(keys.block_key(height))
        if raw is not None and keys.unpack_block(height, raw).hash_rev == hashes[height]:
            return height
    return -1


def roll_back_to(store: Store, height: int, reorg_limit: int) -> int:
    """Undo every block above `height`; a reorg deeper than the undo kept stops with a message."""
    tip = store.require_state().tip_height
    depth = tip - height
    if depth <= 0:
        return 0
    kept = undo_depth(store)
    if depth > kept:
        raise StoreError(
            f"the chain changed {depth} blocks below the index tip {tip}, deeper than the "
            f"{kept} blocks of undo kept (--reorg-limit {reorg_limit}): re-index required"
        )
    log.info("rolling back %d block(s) to height %d", depth, height)
    rollback(store, height)
    return depth


def node_fork_point(store: Store, node: NodeSource, node_tip: int, step: int = 64) -> int:
    """The highest height where the index and the node's active chain hold the same block."""
    height = min(store.require_state().tip_height, node_tip)
    while height >= 0:
        start = max(0, height - step + 1)
        theirs = node.hashes(start, height + 1)
        for h in range(height, start - 1, -1):
            raw = store.get(keys.block_key(h))
            if raw is not None and keys.unpack_block(h, raw).hash_rev == theirs[h - start]:
                return h
        height = start - 1
    return -1


def sync(store: Store, node: NodeSource, pools: PoolsList, labels: LabelSet,
         reorg_limit: int = 288, progress: ProgressFn | None = None,
         flush_blocks: int = FLUSH_BLOCKS, fetch: int = 32,
         on_total: TotalFn | None = None,
         fingerprints: Fingerprints | None = None,
         stop: threading.Event | None = None) -> RunReport:
    """`_sync` as one pass of a block writer (`writer.applying`): when a rebuild has made
    another generation active since `store` was opened, nothing is done and `report.moved`
    says so (the caller opens the new one)."""
    with writer.applying(store.path):
        if store.moved():
            return _left_alone(store)
        return _sync(store, node, pools, labels, reorg_limit, progress, flush_blocks, fetch,
                     on_total, fingerprints, stop)


def _same_chain(store: Store, chain: ActiveChain, fork: int, source: BlockFileSource) -> None:
    """Refuse block files that do not hold the index's tip block at all (as the active chain
    or a stale block): they are another chain's, most likely a mistyped --datadir (every
    regtest chain starts from the same genesis), and rolling back to where they agree would
    replace the index's chain."""
    state = store.require_state()
    if fork >= state.tip_height or state.tip_height <= 0 or state.tip_hash is None:
        return
    if chain.holds(bytes.fromhex(state.tip_hash)[::-1]):
        return
    raise ConfigError(f"the block files of {source.files.blocks_dir} do not hold the index's "
                      f"tip, block {state.tip_hash} (height {state.tip_height}): they are "
                      f"another chain's; give the datadir this index was built from, or a new "
                      f"--index")


def _left_alone(store: Store) -> RunReport:
    """The report of a pass that found its generation no longer active."""
    state = store.require_state()
    return RunReport(state.tip_height + 1, state.tip_height, state.tip_hash, 0, 0, 0,
                     moved=True)


def _sync(store: Store, node: NodeSource, pools: PoolsList, labels: LabelSet,
          reorg_limit: int, progress: ProgressFn | None, flush_blocks: int, fetch: int,
          on_total: TotalFn | None, fingerprints: Fingerprints | None,
          stop: threading.Event | None) -> RunReport:
    """Bring the index to the node's best block, rolling back first where the node reorged.

    Blocks are discarded only where the node's chain really differs from the index: a node
    whose chain is a prefix of the index (restarted with -reindex, still syncing, a tip made
    smaller by invalidateblock) is waited for (`report.waiting`). When the node changes its
    chain while we read it (a block's parent is not the block we just applied, or its tip goes
    below the heights asked for), what was applied is flushed and the report says so; the next
    call continues. `stop`, checked between blocks, ends the pass the same way. A block that
    fails its check (`NodeSource.block`) ends the pass at its parent, in `report.damage`.
    """
    info = node.info()
    node_tip = info.tip
    index_tip = store.require_state().tip_height
    fork = node_fork_point(store, node, node_tip)
    report = RunReport(fork + 1, fork, None, 0, 0, 0, node_tip=node_tip)
    if fork == node_tip < index_tip:
        report.waiting = (f"the node is at height {node_tip}, behind the index at "
                          f"{index_tip} on the same chain; waiting for it")
        report.tip_height, report.tip_hash = index_tip, store.require_state().tip_hash
        return report
    if info.prune_height is not None and fork + 1 < info.prune_height:
        raise ConfigError(f"the node is pruned: it keeps blocks from height "
                          f"{info.prune_height} on, and the index needs them from height "
                          f"{fork + 1}; index from a node without -prune")
    report.rolled_back = roll_back_to(store, fork, reorg_limit)
    buffer = WriteBuffer(store, reorg_limit)
    owned = fingerprints is None  # loaded here, so saved here; a follower keeps its own
    if fingerprints is None:
        fingerprints = Fingerprints(store)
    applier = BlockApplier(store, buffer, compile_pools(pools, node.network), fingerprints)
    prev_hash, prev_time = bytes(32), 0
    if fork >= 0:
        raw = store.get(keys.block_key(fork))
        assert raw is not None
        record = keys.unpack_block(fork, raw)
        prev_hash, prev_time = record.hash_rev, record.chain_time
    height = fork + 1
    if on_total is not None:
        on_total(node_tip - fork)
    try:
        while height <= node_tip:
            stop_at = min(height + fetch, node_tip + 1)
            try:
                hashes = node.hashes(height, stop_at)
            except RpcError as exc:
                if exc.code != RPC_INVALID_PARAMETER:
                    raise
                report.notes.append(f"the node's tip went below height {stop_at - 1} during the "
                                    f"sync ({exc}); indexed up to {height - 1}, run again to "
                                    f"continue")
                break
            for h, hash_rev in zip(range(height, stop_at), hashes, strict=True):
                if stop is not None and stop.is_set():
                    report.notes.append(f"stopped; indexed up to {h - 1}")
                    report.stopped = True
                    node_tip = -1
                    break
                try:
                    got = node.block(hash_rev, h)
                except DamagedBlockError as exc:
                    report.damage.append(f"{exc}; the index stops at height {h - 1}")
                    node_tip = -1
                    break
                block = got.block
                if h > 0 and block.header.prev_hash_rev != prev_hash:
                    report.notes.append(f"the node changed its chain at height {h} during the "
                                        f"sync; indexed up to {h - 1}, run again to continue")
                    node_tip = -1
                    break
                chain_time = max(block.header.time, prev_time)
                values, scripts = node.spent(hash_rev, block, h)
                applier.apply(BlockMeta(h, hash_rev, chain_time), block, values, scripts,
                              got.weight, got.scan)
                prev_hash, prev_time = hash_rev, chain_time
                report.applied += 1
                if buffer.blocks >= flush_blocks or len(buffer.overlay) >= FLUSH_KEYS:
                    buffer.flush(wait=False)
                if progress is not None:
                    progress(h, block.size)
            height = stop_at
    finally:
        buffer.settle()  # no batch outlives the run
    buffer.flush()
    if owned:
        fingerprints.save(store)
    state = store.require_state()
    report.tip_height, report.tip_hash = state.tip_height, state.tip_hash
    return report


def reindex(store: Store, source: BlockFileSource, pools: PoolsList, labels: LabelSet,
            reorg_limit: int = 288, progress: ProgressFn | None = None,
            flush_blocks: int = FLUSH_BLOCKS, on_total: TotalFn | None = None,
            stop_height: int | None = None, tx_sink: TxSink | None = None,
            stop: threading.Event | None = None) -> RunReport:
    """Bring the index to the active chain of the block files (up to `stop_height` when
    given); `tx_sink` hears every block's flows per transaction; `stop`, checked between
    blocks, ends the pass at a flushed block (`report.stopped`). One pass of a block writer,
    as `sync`: a generation made inactive meanwhile is left alone (`report.moved`)."""
    with writer.applying(store.path):
        if store.moved():
            return _left_alone(store)
        return _reindex(store, source, pools, labels, reorg_limit, progress, flush_blocks,
                        on_total, stop_height, tx_sink, stop)


def _reindex(store: Store, source: BlockFileSource, pools: PoolsList, labels: LabelSet,
             reorg_limit: int, progress: ProgressFn | None, flush_blocks: int,
             on_total: TotalFn | None, stop_height: int | None,
             tx_sink: TxSink | None, stop: threading.Event | None) -> RunReport:
    chain = source.chain()
    network = source.network
    hashes = [cb.hash_rev for cb in chain.blocks]
    fork = fork_point(store, hashes)
    _same_chain(store, chain, fork, source)
    rolled = roll_back_to(store, fork, reorg_limit)
    report = RunReport(fork + 1, fork, None, 0, rolled, len(chain.stale))
    report.notes.extend(chain.notes)
    report.damage.extend(chain.damage)
    report.notes.extend(source.damaged_stale(chain))
    for torn in chain.torn:
        report.notes.append(f"{torn.describe()}; blocks from there on are not indexed")

    buffer = WriteBuffer(store, reorg_limit)
    fingerprints = Fingerprints(store)
    applier = BlockApplier(store, buffer, compile_pools(pools, network), fingerprints,
                           tx_sink=tx_sink)
    if source.funding is not None:  # without rev files: keep the outputs that may pay exchanges
        source.funding.scripts = applier.exchange_step.scripts
    if len(applier.exchange_step.scripts):  # before the read-ahead thread starts
        source.exchange_scripts = applier.exchange_step.scripts
    log.info("scan core: %s", fastpath.IMPLEMENTATION)
    todo = chain.blocks[fork + 1:] if stop_height is None else chain.blocks[
        fork + 1:stop_height + 1]
    if on_total is not None:
        on_total(len(todo))
    try:
        for cb, read in read_ahead(source.read_checked, todo):
            if stop is not None and stop.is_set():
                report.stopped = True
                break
            try:
                if isinstance(read, DamagedBlockError):
                    raise read
                block = open_block(read.data)
                applier.apply(BlockMeta(cb.height, cb.hash_rev, cb.chain_time), block,
                              source.spent_values(cb, block, read),
                              source.spent_scripts(cb, block, read), read.weight, read.scan)
            except (ParseError, DamagedBlockError) as exc:
                what = str(exc) if isinstance(exc, DamagedBlockError) else (
                    f"{source.where(cb.location)}: record of block {cb.hash_hum} "
                    f"(height {cb.height}) is not a whole block ({exc})")
                report.damage.append(f"{what}; the usable chain ends at height {cb.height - 1}")
                break
            report.applied += 1
            if buffer.blocks >= flush_blocks or len(buffer.overlay) >= FLUSH_KEYS:
                buffer.flush(wait=False)
            if progress is not None:
                progress(cb.height, block.size)
    finally:
        buffer.settle()  # no batch outlives the run
    buffer.flush()
    fingerprints.save(store)
    state = store.require_state()
    report.tip_height, report.tip_hash = state.tip_height, state.tip_hash
    return report
