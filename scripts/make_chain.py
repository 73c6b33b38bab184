"""Write the deterministic mainnet-shaped regtest chain used by the end-to-end benchmark.

    python scripts/make_chain.py OUT --blocks 200 [--txs-per-block 2000] [--seed 1] [--no-xor]
                                 [--service-share Q]

`--service-share Q` makes that share of ordinary outputs pay service scripts that joined a miner
cohort early, so more transactions touch miner coins (the benchmark's `--flagged-share`).

OUT then holds regtest/blocks (blk/rev files), pools.json and exchanges.csv, ready for
`minerflow reindex --datadir OUT --network regtest --pools OUT/pools.json
--labels OUT/exchanges.csv --index IDX`. The generator lives in `scripts/benchkit/chainmaker.py`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchkit.chainmaker import make_chain


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--blocks", type=int, default=200)
    parser.add_argument("--txs-per-block", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-xor", action="store_true", help="store the files in the clear")
    parser.add_argument("--service-share", type=float, default=0.0)
    parser.add_argument("--exchange-share", type=float, default=0.0,
                        help="share of ordinary outputs that pay a labeled exchange script")
    args = parser.parse_args()
    if (args.out / "regtest").exists():
        print(f"{args.out}: already holds a chain; choose an empty directory", file=sys.stderr)
        return 1
    started = time.perf_counter()
    stats = make_chain(args.out, args.blocks, args.txs_per_block, args.seed, not args.no_xor,
                       args.service_share, args.exchange_share)
    print(f"{stats.blocks} blocks, {stats.txs} transactions, {stats.block_bytes / 1e6:.1f} MB "
          f"in {stats.files} blk file(s), {time.perf_counter() - started:.1f} s; "
          f"outputs by type: {dict(sorted(stats.kinds.items()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
