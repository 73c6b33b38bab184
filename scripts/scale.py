"""Scale test: memory and per-block cost of a pass over an index already holding millions of
tracked coins and cohort scripts.

    python scripts/scale.py [--coins 10000000] [--scripts 10000000] [--blocks 100] [--json]

It writes the generated mainnet-shaped chain (`make_chain`), then indexes it into an empty
index (the baseline) and into an index pre-filled with `--coins` coin records and `--scripts`
cohort-membership records of the real key layout (random txids and P2WPKH scripts, so they never
collide with the chain's). The pre-filled index is indexed in two runs, as an operator's
restarts do: the first (to half the chain) finds no saved filters and builds them by scanning
all those keys, then saves them at its end; the second (the rest) loads the saved filters.
With `--labels N` it measures instead the exchange lookup of an index holding N labeled
scripts (its memory per script and build time), and with `--sample-labels N` the memory peaks
of `minerflow reindex` on the bundled sample with N labels more than its own; with
`--import-labels N`, `minerflow labels import` of N mainnet address rows (cold, then from the
cache).

Reported: resident memory (anonymous, and the peak including LevelDB's mapped table files,
which the kernel may drop under pressure), the start-up time of both runs (scan, then load), the
per-block cost with the full filters against the baseline's (first block to last: the final
batch write and the saving of the filters are `close_s`), and how many tracked entries 8 GB
holds at the measured growth per entry.
"""

from __future__ import annotations

import argparse
import gzip
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
    coin_values = [keys.pack_coin(rng.randrange(1, 21), 1, rng.randrange(1, 10**9), 1_700_000_000)
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


def lookup_at(labels: int, tmp: Path, seed: int = 3) -> dict[str, object]:
    """The exchange lookup of an index holding `labels` labeled exchange scripts (`x` keys of
    the real layout, random P2WPKH scripts): its memory and the seconds to build it."""
    from indexer.labels import indexed
    from indexer.labels.indexed import ExchangeLookup
    from indexer.store.db import Store

    chain = tmp / "chain-labels"
    make_chain(chain, 4, txs_per_block=20)
    index = tmp / "labels-index"
    pools = load_pools(chain / "pools.json")
    store = open_for_writing(index, NETWORK, pools, prepare(chain / "exchanges.csv", NETWORK,
                                                            index))
    rng = random.Random(seed)
    names = [f"Exchange {k}".encode() for k in range(50)]
    try:
        done = 0
        while done < labels:
            n = min(BATCH, labels - done)
            blob = rng.randbytes(20 * n)
            with store.db.write_batch() as wb:
                for i in range(n):
                    wb.put(keys.exchange_script_key(b"\x00\x14" + blob[20 * i:20 * i + 20]),
                           names[i % 50])
            done += n
        store.db.compact_range()
    finally:
        store.close()
    before = memory()["anon"]
    with Store(index) as opened:
        started = time.perf_counter()
        lookup = ExchangeLookup.of(opened)  # a scan of the x keys, then saved beside
        build_s = time.perf_counter() - started
        grown = memory()["anon"] - before
        filter_bytes = lookup.filter.nbytes
        del lookup
        indexed._MADE.clear()  # as a new process: the saved filter is loaded
        started = time.perf_counter()
        loaded = len(ExchangeLookup.of(opened))
        load_s = time.perf_counter() - started
    assert loaded >= labels
    return {"labels": labels, "lookup_anon_mb": round(grown / MIB, 1),
            "lookup_anon_bytes_per_label": round(grown / labels, 1),
            "filter_bytes_per_label": round(filter_bytes / labels, 1),
            "lookup_build_s": round(build_s, 1), "lookup_load_s": round(load_s, 1)}


def child_peaks(command: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Run `command` (with `env` added to the environment); the peaks of its anonymous and
    total resident memory (sampled every 20 ms from /proc) and its seconds."""
    import os
    import subprocess

    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True, env=os.environ | (env or {}))
    anon = rss = 0
    status = Path(f"/proc/{child.pid}/status")
    while child.poll() is None:
        try:
            for line in status.read_text().splitlines():
                name, _, value = line.partition(":")
                if name == "RssAnon":
                    anon = max(anon, int(value.split()[0]) * 1024)
                elif name == "VmRSS":
                    rss = max(rss, int(value.split()[0]) * 1024)
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    if child.returncode != 0:
        raise SystemExit(f"{command[3]} failed: {child.stderr.read() if child.stderr else ''}")
    return {"anon_peak_mb": round(anon / MIB, 1), "rss_peak_mb": round(rss / MIB, 1),
            "seconds": round(time.perf_counter() - started, 1)}


def sample_with_labels(labels: int, tmp: Path, seed: int = 4) -> dict[str, object]:
    """`minerflow reindex` of the bundled sample with its own labels, then with `labels` more
    (random P2WPKH exchange scripts): each run's memory peaks, and the difference."""
    from indexer.cli import sample_dir

    sample = sample_dir()
    big = tmp / "labels.csv"
    rng = random.Random(seed)
    with big.open("w") as out:
        out.write((sample / "exchanges.csv").read_text())
        for k in range(labels):
            out.write(f"script:0014{rng.randbytes(20).hex()},Exchange {k % 50},exchange\n")
    runs = {}
    for name, path in (("own", sample / "exchanges.csv"), ("more", big)):
        command = [sys.executable, "-c", "import sys; from indexer.cli import main; "
                   "main(sys.argv[1:])", "reindex", "--datadir",
                   str(sample), "--network", "regtest", "--index", str(tmp / f"index-{name}"),
                   "--pools", str(sample / "pools.json"), "--labels", str(path)]
        runs[name] = child_peaks(command)
    return {"labels": labels, "own": runs["own"], "more": runs["more"],
            "anon_peak_above_mb": round(runs["more"]["anon_peak_mb"]
                                        - runs["own"]["anon_peak_mb"], 1),
            "rss_peak_above_mb": round(runs["more"]["rss_peak_mb"]
                                       - runs["own"]["rss_peak_mb"], 1)}


def import_labels(labels: int, tmp: Path, seed: int = 5) -> dict[str, object]:
    """`minerflow labels import` of `labels` mainnet address rows (P2WPKH, P2PKH, P2SH and P2TR
    as mainnet holds them, five columns, gzip), into a fresh index: made canonical (cold), then
    again from the cache (the canonical form kept per machine); each run's seconds and memory
    peaks."""
    from indexer.config import get_network
    from indexer.parse.script import address_of

    main_net = get_network("main")
    rng = random.Random(seed)
    path = tmp / "labels.csv.gz"
    shapes = ((0.5, b"\x00\x14", 20, b""), (0.8, b"\x76\xa9\x14", 20, b"\x88\xac"),
              (0.95, b"\xa9\x14", 20, b"\x87"), (1.0, b"\x51\x20", 32, b""))
    with gzip.open(path, "wt", compresslevel=1) as out:
        out.write("address,entity,category,source,pack\n")
        for k in range(labels):
            draw = rng.random()
            _, head, size, tail = next(shape for shape in shapes if draw < shape[0])
            out.write(f"{address_of(head + rng.randbytes(size) + tail, main_net)},Exchange "
                      f"{k % 40},exchange,https://example.org/tags,pack{k % 3}\n")
    runs = {}
    for name in ("cold", "cached"):
        command = [sys.executable, "-c", "import sys; from indexer.cli import main; "
                   "main(sys.argv[1:])", "labels", "import", str(path), "--index",
                   str(tmp / f"index-{name}"), "--network", "main"]
        runs[name] = child_peaks(command, env={"MINERFLOW_CACHE": str(tmp / "cache")})
    return {"labels": labels, "file_mb": round(path.stat().st_size / MIB, 1), **runs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coins", type=int, default=10_000_000)
    parser.add_argument("--scripts", type=int, default=10_000_000)
    parser.add_argument("--blocks", type=at_least_four, default=100)
    parser.add_argument("--labels", type=int, help="Instead: the exchange lookup's memory and "
                        "build time at this many labeled scripts (e.g. 100000000).")
    parser.add_argument("--sample-labels", type=int, help="Instead: reindex the bundled sample "
                        "with this many labels more than its own; both runs' memory peaks.")
    parser.add_argument("--import-labels", type=int, help="Instead: `labels import` of this "
                        "many mainnet address rows, cold and from the cache; seconds, memory.")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.labels or args.sample_labels or args.import_labels:
        with tempfile.TemporaryDirectory(prefix="minerflow-scale-", dir=args.workdir) as work:
            result: dict[str, object] = (
                lookup_at(args.labels, Path(work)) if args.labels
                else sample_with_labels(args.sample_labels, Path(work)) if args.sample_labels
                else import_labels(args.import_labels, Path(work)))
        print(json.dumps(result, separators=(",", ":")) if args.json else
              "\n".join(f"{key}: {value}" for key, value in result.items()))
        return 0
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
