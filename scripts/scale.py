"""Scale test: memory and per-block cost of a pass over an index already holding millions of
tracked coins and cohort scripts.

    python scripts/scale.py [--coins 10000000] [--scripts 10000000] [--blocks 100] [--json]

It writes the generated mainnet-shaped chain (`make_chain`), then indexes it into an empty
index (the baseline) and into an index pre-filled with `--coins` coin records and `--scripts`
cohort-membership records of the real key layout (random txids and P2WPKH scripts, so they never
collide with the chain's). The pre-filled index is indexed in two runs, as an operator's
restarts do: the first (to half the chain) finds no saved filters and builds them by scanning
all those keys, then saves them at its end; the second (the rest) loads the saved filters.
Reported: resident memory (anonymous, and the peak including LevelDB's mapped table files,
which the kernel may drop under pressure), the start-up time of both runs (scan, then load), the
per-block cost with the full filters against the baseline's (first block to last: the final
batch write and the saving of the filters are `close_s`), and how many tracked entries 8 GB
holds at the measured growth per entry.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchkit.chainmaker import NETWORK, make_chain

from indexer.attribution.pools import load_pools
from indexer.labels.labelset import prepare
from indexer.pipeline import BlockFileSource, open_for_writing, reindex
from indexer.store import keys

BATCH = 200_000
GB = 1 << 30
MIB = 1 << 20


def memory() -> dict[str, int]:
    """This process's resident memory in bytes: anonymous (heap, filters), file-backed (LevelDB
    maps its table files, pages the kernel may drop under pressure) and the peak of both."""
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("RssAnon", "RssFile", "VmHWM"):
            found[name] = int(value.split()[0]) * 1024
    return {"anon": found["RssAnon"], "file": found["RssFile"], "peak": found["VmHWM"]}


def prefill(index: Path, chain: Path, coins: int, scripts: int, seed: int) -> float:
    """Write `coins` coin and `scripts` member records; seconds taken."""
    pools = load_pools(chain / "pools.json")
    labels = prepare(chain / "exchanges.csv", NETWORK, index)
    store = open_for_writing(index, NETWORK, pools, labels)
    rng = random.Random(seed)
    started = time.perf_counter()

    member_values = [keys.pack_member(entity, 1) for entity in range(1, 21)]
    coin_values = [keys.pack_coin(rng.randrange(1, 21), 1, rng.randrange(1, 10**9))
                   for _ in range(1009)]

    def members(n: int) -> list[tuple[bytes, bytes]]:
        blob = rng.randbytes(20 * n)
        return [(keys.member_key(b"\x00\x14" + blob[20 * i:20 * i + 20]), member_values[i % 20])
                for i in range(n)]

    def coins_of(n: int) -> list[tuple[bytes, bytes]]:
        blob = rng.randbytes(32 * n)
        return [(keys.coin_key(blob[32 * i:32 * i + 32], i % 4), coin_values[i % 1009])
                for i in range(n)]

    makers: list[tuple[int, Callable[[int], list[tuple[bytes, bytes]]]]] = [
        (scripts, members), (coins, coins_of)]
    try:
        for total, make in makers:
            done = 0
            while done < total:
                n = min(BATCH, total - done)
                with store.db.write_batch() as wb:
                    for key, value in make(n):
                        wb.put(key, value)
                done += n
        store.db.compact_range()
    finally:
        store.close()
    return time.perf_counter() - started


def timed_pass(index: Path, chain: Path, stop_height: int | None = None) -> dict[str, float]:
    """Index the chain into `index` (up to `stop_height`): start-up seconds (the filters),
    per-block ms, blocks, and the anonymous memory held at the last block."""
    pools = load_pools(chain / "pools.json")
    labels = prepare(chain / "exchanges.csv", NETWORK, index)
    store = open_for_writing(index, NETWORK, pools, labels)
    stamps: list[float] = []
    held: list[int] = []

    def progress(_height: int, _size: int) -> None:
        stamps.append(time.perf_counter())
        held[:] = [memory()["anon"]]

    started = time.perf_counter()
    try:
        report = reindex(store, BlockFileSource(chain / NETWORK.subdir / "blocks", NETWORK),
                         pools, labels, progress=progress, stop_height=stop_height)
    finally:
        store.close()
    ended = time.perf_counter()
    return {"setup_s": stamps[0] - started,
            "block_ms": (stamps[-1] - stamps[0]) / (len(stamps) - 1) * 1000,
            "close_s": ended - stamps[-1], "blocks": report.applied, "anon": held[0]}


def at_least_four(text: str) -> int:
    value = int(text)
    if value < 4:
        raise argparse.ArgumentTypeError(f"{value}: two runs of at least 2 blocks each need 4")
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coins", type=int, default=10_000_000)
    parser.add_argument("--scripts", type=int, default=10_000_000)
    parser.add_argument("--blocks", type=at_least_four, default=100)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="minerflow-scale-", dir=args.workdir) as tmp_name:
        tmp = Path(tmp_name)
        chain = tmp / "chain"
        stats = make_chain(chain, args.blocks)
        print(f"chain: {stats.blocks} blocks, {stats.txs:,} tx, {stats.block_bytes / 1e6:.0f} MB",
              file=sys.stderr)
        baseline = timed_pass(tmp / "baseline", chain)
        baseline_peak = memory()["peak"]
        shutil.rmtree(tmp / "baseline")
        print(f"baseline pass: {baseline['block_ms']:.2f} ms/block, anonymous memory "
              f"{baseline['anon'] / MIB:.0f} MiB", file=sys.stderr)
        fill_s = prefill(tmp / "full", chain, args.coins, args.scripts, seed=9)
        index_bytes = sum(p.stat().st_size for p in (tmp / "full").rglob("*") if p.is_file())
        print(f"prefilled {args.coins:,} coins and {args.scripts:,} scripts in {fill_s:.0f} s "
              f"({index_bytes / MIB:.0f} MiB on disk)", file=sys.stderr)
        first = timed_pass(tmp / "full", chain, stop_height=args.blocks // 2)
        print(f"first run (filters by a scan): start-up {first['setup_s']:.1f} s",
              file=sys.stderr)
        full = timed_pass(tmp / "full", chain)
        after = memory()
    entries = args.coins + args.scripts
    per_entry = max(full["anon"] - baseline["anon"], 0) / entries
    budget_entries = (8 * GB - baseline["anon"]) / per_entry if per_entry else float("inf")
    result = {
        "coins": args.coins, "scripts": args.scripts, "blocks": full["blocks"],
        "baseline_anon_mb": round(baseline["anon"] / MIB, 1),
        "baseline_peak_rss_mb": round(baseline_peak / MIB, 1),
        "anon_mb": round(full["anon"] / MIB, 1),
        "peak_rss_mb": round(after["peak"] / MIB, 1),
        "file_backed_mb": round(after["file"] / MIB, 1),
        "anon_bytes_per_entry": round(per_entry, 1),
        "filter_scan_s": round(first["setup_s"], 1),
        "filter_load_s": round(full["setup_s"], 1),
        "baseline_block_ms": round(baseline["block_ms"], 2),
        "block_ms": round(full["block_ms"], 2),
        "close_s": round(full["close_s"], 1),
        "index_mib": round(index_bytes / MIB),
        "entries_within_8_gb_millions": round(budget_entries / 1e6),
    }
    print(f"with {args.coins:,} coins + {args.scripts:,} scripts: anonymous memory "
          f"{result['anon_mb']} MiB (baseline {result['baseline_anon_mb']} MiB, "
          f"{result['anon_bytes_per_entry']} bytes per entry), peak RSS {result['peak_rss_mb']} "
          f"MiB of which LevelDB's mapped table files {result['file_backed_mb']} MiB at the end; "
          f"start-up {result['filter_scan_s']} s scanning for the filters, "
          f"{result['filter_load_s']} s loading them saved; {result['block_ms']} ms per block "
          f"(then {result['close_s']} s for the last batch and saving the filters) "
          f"(baseline {result['baseline_block_ms']} ms); 8 GB of anonymous memory holds about "
          f"{result['entries_within_8_gb_millions']:,} million tracked coins + scripts")
    if args.json:
        print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
