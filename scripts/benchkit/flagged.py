"""The flagged share of a generated chain, by SPEC 5 alone: the share of its non-coinbase
transactions that spend a miner coin or pay a cohort script, counted from the cohort step's
flows per transaction while the chain is indexed into a scratch index.

    MINERFLOW_PURE=1 python -P -c "import sys; sys.path.insert(0, 'scripts'); \
        from benchkit.flagged import main; main()" CHAIN

(the benchmark runs it so, with the pure-Python reference) prints `flagged total`.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from indexer.apply import BlockMeta
from indexer.attribution.pools import load_pools
from indexer.flows.cohorts import TxFlow
from indexer.labels.labelset import prepare
from indexer.pipeline import BlockFileSource, open_for_writing, reindex
from indexer.store import keys

from .chainmaker import NETWORK


def count_flagged(chain: Path) -> tuple[int, int]:
    """(flagged transactions, non-coinbase transactions) of the chain under `chain`."""
    pools = load_pools(chain / "pools.json")
    flagged: set[tuple[int, int]] = set()

    def sink(meta: BlockMeta, flows: list[TxFlow]) -> None:
        flagged.update((meta.height, index) for index, *_rest in flows if index > 0)

    with tempfile.TemporaryDirectory(prefix="minerflow-flagged-") as tmp:
        labels = prepare(chain / "exchanges.csv", NETWORK, Path(tmp) / "index")
        store = open_for_writing(Path(tmp) / "index", NETWORK, pools, labels)
        try:
            reindex(store, BlockFileSource(chain / "regtest" / "blocks", NETWORK), pools,
                    labels, tx_sink=sink)
            total = sum(keys.unpack_block(keys.height_from_block_key(k), v).tx_count - 1
                        for k, v in store.scan(keys.BLOCK))
        finally:
            store.close()
    return len(flagged), total


def main() -> None:
    flagged, total = count_flagged(Path(sys.argv[1]))
    print(flagged, total)


def count_exchange_touching(chain: Path) -> tuple[int, int]:
    """(transactions that pay or spend a labeled exchange script, non-coinbase transactions)
    of the chain under `chain`, by a plain decode of every block (SPEC 5.1's candidates)."""
    from indexer.labels.rows import EXCHANGE, LabelReader  # noqa: PLC0415
    from indexer.parse.deserializer import parse_block  # noqa: PLC0415
    from indexer.source.blkfiles import BlockFiles  # noqa: PLC0415
    from indexer.source.chain import find_active_chain  # noqa: PLC0415

    labeled = {row.script for row in LabelReader(chain / "exchanges.csv", NETWORK)
               if row.category == EXCHANGE}
    files = BlockFiles(chain / "regtest" / "blocks", NETWORK.magic)
    at_exchange: set[tuple[bytes, int]] = set()
    touching = total = 0
    for cb in find_active_chain(files, NETWORK).blocks[1:]:
        for tx in parse_block(files.read(cb.location)).txs[1:]:
            total += 1
            hit = any((i.prev_txid_rev, i.prev_vout) in at_exchange for i in tx.inputs)
            for vout, out in enumerate(tx.outputs):
                if out.script in labeled:
                    hit = True
                    at_exchange.add((tx.txid_rev, vout))
            touching += hit
    return touching, total
