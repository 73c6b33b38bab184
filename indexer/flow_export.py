"""Flows per transaction: the SPEC 5 numbers of every transaction that moved miner coins.

The index keeps flows per block only (per transaction they would grow it by rows for a large
share of mainnet's transactions), so this export replays the block files into a scratch index
with the lists, network and tip of an existing index, and hears each transaction's flows from
the cohort step as it goes. Each block is checked against the index's own record of it, so the
rows describe exactly the indexed chain; they sum, per entity, level and day, to its series.
"""

from __future__ import annotations

import queue
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from indexer.apply import BlockMeta
from indexer.errors import ConfigError
from indexer.flows.cohorts import Flow, TxFlow
from indexer.labels.indexed import stored_labels
from indexer.parse.deserializer import hum
from indexer.pipeline import BlockFileSource, open_for_writing, reindex
from indexer.reader import IndexReader

QUEUE_BLOCKS = 64
_DONE = object()


class _Abandoned(Exception):
    """The reader of the rows went away: the replay stops at the next block."""


def tx_flow_rows(reader: IndexReader, meta: BlockMeta,
                 flows: list[TxFlow]) -> list[dict[str, Any]]:
    """One row per (transaction, entity, level), coinbase outputs to one owner merged."""
    merged: dict[tuple[int, int, int], tuple[bytes, Flow]] = {}
    for index, txid_rev, entity, level, flow in flows:
        key = (index, entity, level)
        if key in merged:
            merged[key][1].add(flow)
        else:
            total = Flow()
            total.add(flow)
            merged[key] = (txid_rev, total)
    slug = reader.pools.by_id
    return [
        {"height": meta.height, "time": meta.chain_time, "tx_index": index,
         "txid": hum(txid_rev), "entity": slug[entity].slug, "level": level,
         "mined": f.mined, "inflow": f.inflow, "outflow": f.outflow, "fees": f.fees,
         "to_exchange": f.to_exchange,
         "to_exchange_by": {k: v for k, v in sorted(f.to_exchange_by.items()) if v},
         "balance_change": f.balance}
        for (index, entity, level), (txid_rev, f) in merged.items()
    ]


def replay_flows(reader: IndexReader, blocks_dir: Path,
                 trust_files: bool = False) -> Iterator[dict[str, Any]]:
    """The flow rows of the indexed chain, height by height, from the block files."""
    state = reader.state
    pools = reader.pools
    labels = stored_labels(reader.store)
    source = BlockFileSource(blocks_dir, reader.network, trust_files)
    handoff: queue.Queue[object] = queue.Queue(maxsize=QUEUE_BLOCKS)

    abandoned = threading.Event()

    def sink(meta: BlockMeta, flows: list[TxFlow]) -> None:
        if abandoned.is_set():
            raise _Abandoned
        record = reader.block(meta.height) if meta.height <= state.tip_height else None
        if record is None or record.hash_rev != meta.hash_rev:
            raise ConfigError(f"the block files hold block {meta.hash_hum} at height "
                              f"{meta.height}, the index another: replay from the node the "
                              f"index was built from")
        handoff.put(tx_flow_rows(reader, meta, flows))

    def work(scratch: Path) -> None:
        try:
            store = open_for_writing(scratch / "index", reader.network, pools, labels)
            try:
                report = reindex(store, source, pools, labels, reorg_limit=1,
                                 stop_height=state.tip_height, tx_sink=sink)
            finally:
                store.close()
            if report.tip_height != state.tip_height:
                raise ConfigError(f"the block files end at height {report.tip_height}, the "
                                  f"index at {state.tip_height}"
                                  + (f" ({report.damage[0]})" if report.damage else ""))
            handoff.put(_DONE)
        except BaseException as exc:  # handed to the reading side, raised there
            handoff.put(exc)

    with tempfile.TemporaryDirectory(prefix="minerflow-flows-") as scratch:
        thread = threading.Thread(target=work, args=(Path(scratch),), daemon=True,
                                  name="minerflow-flow-replay")
        thread.start()
        try:
            while (item := handoff.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, list)
                yield from item
        finally:  # also when the reader stops early: end the replay before the scratch goes
            abandoned.set()
            while thread.is_alive():
                try:
                    handoff.get(timeout=0.1)
                except queue.Empty:
                    pass
            thread.join()
