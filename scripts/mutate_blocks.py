#!/usr/bin/env python3
"""The block-file mutation campaign at length: thousands of damaged datadirs, both cores.

    python scripts/mutate_blocks.py --runs 2000 [--reference]

Each run damages a copy of the sample datadir (flip, zero, truncate, duplicate, reorder; blk
and rev files), reindexes it and judges the index against clean digests at every height
(`tests/fuzz/damage.py`). With `--reference` the same seeds are run again by the pure-Python
reference core (a child process with MINERFLOW_PURE=1), and each run's exit, tip and index digest
must be the same as the compiled core's. Prints one JSON line: verdict counts per kind and every
failure; exits non-zero when any run was silently wrong, ended in a traceback or disagreed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from multiprocessing import Pool
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexer import fastpath  # noqa: E402
from tests.fuzz.damage import GOOD, judge, prepare  # noqa: E402

SAME = ("kind", "exit", "verdict", "tip", "digest")  # what both cores must agree on


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
    parser.add_argument("--reference", action="store_true",
                        help="run every seed with the pure-Python core too and compare")
    parser.add_argument("--emit-verdicts", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.runs < 1 or args.jobs < 1:
        parser.error("--runs and --jobs take a positive number")
    seeds = list(range(args.first_seed, args.first_seed + args.runs))
    shares = [seeds[i::args.jobs] for i in range(args.jobs)]
    started = time.monotonic()
    with Pool(args.jobs) as pool:
        verdicts = [v for share in pool.map(run_share, shares) for v in share]
    if args.emit_verdicts:
        print(json.dumps({"core": fastpath.IMPLEMENTATION, "verdicts": verdicts}))
        return 0
    disagree = reference_disagreements(args, verdicts) if args.reference else None
    counts = Counter(f"{v['kind']}:{v['verdict']}" for v in verdicts)
    failures = [v for v in verdicts if v["verdict"] not in GOOD]
    cut = [v for v in verdicts if v["verdict"] == "cut" and v.get("below_damage") is not None]
    print(json.dumps({
        "core": fastpath.IMPLEMENTATION, "runs": len(verdicts),
        "seconds": round(time.monotonic() - started, 1),
        "counts": dict(sorted(counts.items())), "failures": failures,
        "silently_wrong": sum(v["verdict"] == "silently-wrong" for v in verdicts),
        "tracebacks": sum(v["verdict"] == "traceback" for v in verdicts),
        "cut_exactly_below_damage": sum(v["below_damage"] == 0 for v in cut),
        "cut_further_below": sum(int(str(v["below_damage"])) > 0 for v in cut),
        "reference_disagreements": disagree,
    }))
    return 1 if failures or disagree else 0


def reference_disagreements(args: argparse.Namespace,
                            verdicts: list[dict[str, object]]) -> list[dict[str, object]]:
    """The same seeds run by the pure-Python core in a child process; the runs that differ."""
    if fastpath.IMPLEMENTATION == "python":
        raise SystemExit("--reference compares the compiled core with the reference, but this "
                         "process runs the reference already (MINERFLOW_PURE=1?)")
    child = subprocess.run(
        [sys.executable, __file__, "--runs", str(args.runs), "--first-seed", str(args.first_seed),
         "--jobs", str(args.jobs), "--emit-verdicts"],
        env={**os.environ, "MINERFLOW_PURE": "1"}, capture_output=True, text=True, check=True)
    found = json.loads(child.stdout.strip().splitlines()[-1])
    assert found["core"] == "python", found["core"]
    theirs = {v["seed"]: v for v in found["verdicts"]}
    return [{"seed": v["seed"], "compiled": {k: v.get(k) for k in SAME},
             "reference": {k: theirs[v["seed"]].get(k) for k in SAME}}
            for v in verdicts if any(v.get(k) != theirs[v["seed"]].get(k) for k in SAME)]


if __name__ == "__main__":
    sys.exit(main())
