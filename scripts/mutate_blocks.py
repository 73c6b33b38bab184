#!/usr/bin/env python3
"""The block-file mutation campaign at length: thousands of damaged datadirs, both cores.

    python scripts/mutate_blocks.py --runs 2000

Each run damages a copy of the sample datadir (flip, zero, truncate, duplicate, reorder; blk
and rev files), reindexes it and judges the index against clean digests at every height
(`tests/fuzz/damage.py`). Prints one JSON line: verdict counts per kind and every failure; exits
non-zero when any run was silently wrong or ended in a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from multiprocessing import Pool
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fuzz.damage import GOOD, judge, prepare  # noqa: E402


def run_share(seeds: list[int]) -> list[dict[str, object]]:
    with tempfile.TemporaryDirectory(prefix="minerflow-damage-") as tmp:
        work = Path(tmp)
        clean = prepare(work)
        return [judge(clean, work, seed) for seed in seeds]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    if args.runs < 1 or args.jobs < 1:
        parser.error("--runs and --jobs take a positive number")
    seeds = list(range(args.first_seed, args.first_seed + args.runs))
    shares = [seeds[i::args.jobs] for i in range(args.jobs)]
    started = time.monotonic()
    with Pool(args.jobs) as pool:
        verdicts = [v for share in pool.map(run_share, shares) for v in share]
    counts = Counter(f"{v['kind']}:{v['verdict']}" for v in verdicts)
    failures = [v for v in verdicts if v["verdict"] not in (*GOOD, "stale-tail")]
    cut = [v for v in verdicts if v["verdict"] == "cut" and v.get("below_damage") is not None]
    print(json.dumps({
        "runs": len(verdicts), "seconds": round(time.monotonic() - started, 1),
        "counts": dict(sorted(counts.items())), "failures": failures,
        "silently_wrong": sum(v["verdict"] == "silently-wrong" for v in verdicts),
        "tracebacks": sum(v["verdict"] == "traceback" for v in verdicts),
        "stale_tail": sum(v["verdict"] == "stale-tail" for v in verdicts),
        "cut_exactly_below_damage": sum(v["below_damage"] == 0 for v in cut),
        "cut_further_below": sum(int(str(v["below_damage"])) > 0 for v in cut),
    }))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
