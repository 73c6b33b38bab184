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
