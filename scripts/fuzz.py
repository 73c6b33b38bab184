#!/usr/bin/env python3
"""Long fuzz runs of every target against an AddressSanitizer + UBSan build of the core.

    python scripts/fuzz.py --runs 1000000            # all targets, both cores
    python scripts/fuzz.py --target scan_block --runs 200000 --seed 7

Builds the core (every `indexer/fastpath/*.c`) with
`-fsanitize=address,undefined` into a temporary directory, then runs each target
(tests/fuzz/targets.py) in a child process with the sanitizer runtime preloaded and that build
in place of the installed one. Inputs come from a seeded
mutator over the same real seeds and mutations as the suite's hypothesis runs, plus raw random
bytes. (atheris installs here, but its coverage feedback needs clang's sanitizer runtime; with
gcc's it mutates blind, so it brings nothing over this mutator.) A sanitizer report, a
compiled/reference disagreement or an untyped exception stops the target; its input is copied into
`tests/data/fuzz-corpus/<target>/`, so the suite replays it from then on. Prints one JSON line
of figures at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "fuzz-corpus"
CORE_C = tuple(sorted((ROOT / "indexer" / "fastpath").glob("*.c")))  # every file of the core
# Share of the runs per target: the compiled core's targets get most of them.
WEIGHTS = {"scan_block": 4, "parse_block_undo": 3, "xor_at": 1, "filter": 2, "merkle_root": 3,
           "block_weight": 2, "block_check": 3, "step_txs": 4, "exchange_txs": 3,
           "pack_block_undo": 2, "derive_candidates": 3, "undo_hits": 2, "undo_held": 2,
           "decode_address": 1,
           "get_coin": 1.5, "put_coins": 1.5, "scan_table": 2,
           "deserializer": 2, "blk_reader": 0.3, "rev_reader": 0.3, "pools": 0.2,
           "labels": 0.2, "conf": 0.1, "cookie": 0.1}


def build_sanitized(out_dir: Path) -> Path:
    """Compile the core with ASan+UBSan; the path of the shared object."""
    target = out_dir / "_core_sanitized.so"
    include = sysconfig.get_paths()["include"]
    cmd = ["gcc", "-shared", "-fPIC", "-g", "-O1", "-fno-omit-frame-pointer",
           "-fsanitize=address,undefined", "-fno-sanitize-recover=all", f"-I{include}",
           *map(str, CORE_C), "-o", str(target)]
    subprocess.run(cmd, check=True)
    return target


def sanitizer_env() -> dict[str, str]:
    libasan = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True,
                             text=True, check=True).stdout.strip()
    env = dict(os.environ)
    env["LD_PRELOAD"] = libasan
    # Python's own allocations are not ours to report; everything else aborts the run.
    env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1:allocator_may_return_null=1"
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    env["PYTHONPATH"] = str(ROOT)
    return env


def load_core(path: Path) -> None:
    """Import the sanitizer build as `indexer.fastpath._core` before anything imports it."""
    spec = importlib.util.spec_from_file_location("indexer.fastpath._core", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules["indexer.fastpath._core"] = module


def child(target: str, runs: int, seed: int, core: Path | None, crash_dir: Path) -> None:
    """Run inside the sanitized process: fuzz one target, report runs on the last line."""
    if core is not None:
        load_core(core)
    sys.path.insert(0, str(ROOT))
    from tests.fuzz import harness, targets
    from tests.fuzz.mutate import KINDS, mutate
    from tests.fuzz.seeds import seeds

    if core is not None:
        harness.use_compiled(sys.modules["indexer.fastpath._core"])
    check = targets.TARGETS[target]
    started = time.monotonic()
    rng = random.Random(seed)
    pool = seeds(target)
    # A sanitizer abort ends the process at once: the input under test is on disk beforehand.
    last = os.open(crash_dir / "last-input", os.O_RDWR | os.O_CREAT, 0o644)
    for n in range(runs):
        if rng.random() < 0.85:
            mutations = [(rng.randrange(KINDS), rng.randrange(1 << 20), rng.randrange(256))
                         for _ in range(rng.randrange(1, 7))]
            raw = mutate(rng.choice(pool), mutations)
        else:
            raw = rng.randbytes(rng.randrange(400))
        os.ftruncate(last, 0)
        os.pwrite(last, raw, 0)
        try:
            check(raw)
        except Exception:
            path = crash_dir / f"crash-{hashlib.sha1(raw).hexdigest()}"
            path.write_bytes(raw)
            print(json.dumps({"target": target, "runs": n + 1, "failed": str(path)}))
            raise
    os.close(last)
    (crash_dir / "last-input").unlink()
    print(json.dumps({"target": target, "runs": runs,
                      "seconds": round(time.monotonic() - started, 1)}))


def run_target(target: str, runs: int, seed: int, core: Path | None,
               work: Path) -> dict[str, object]:
    crash_dir = work / f"crashes-{target}"
    crash_dir.mkdir(exist_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--target", target,
           "--runs", str(runs), "--seed", str(seed), "--crash-dir", str(crash_dir)]
    if core is not None:
        cmd += ["--core", str(core)]
    env = sanitizer_env() if core is not None else {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    figures: dict[str, object] = {"target": target, "runs": 0}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            figures.update(json.loads(line))
    failures = sorted(crash_dir.glob("*"))
    if done.returncode != 0 or failures:
        kept = CORPUS / target
        kept.mkdir(parents=True, exist_ok=True)
        for path in failures:
            shutil.copy(path, kept / hashlib.sha1(path.read_bytes()).hexdigest())
        figures["failed"] = True
        figures["exit"] = done.returncode
        figures["report"] = (done.stderr.strip().splitlines() or [""])[-12:]
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="all", help="a target name, or all")
    parser.add_argument("--runs", type=int, default=100_000, help="inputs in all (default 100k)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--no-sanitizer", action="store_true",
                        help="fuzz the installed build instead of a sanitizer build")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--core", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--crash-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.runs < 1 or args.jobs < 1:
        parser.error("--runs and --jobs take a positive number")
    if args.child:
        child(args.target, args.runs, args.seed, args.core, args.crash_dir)
        return 0

    sys.path.insert(0, str(ROOT))
    from tests.fuzz.targets import TARGETS

    names = sorted(TARGETS) if args.target == "all" else [args.target]
    if any(name not in TARGETS for name in names):
        parser.error(f"--target is one of: all, {', '.join(sorted(TARGETS))}")
    work = Path(tempfile.mkdtemp(prefix="minerflow-fuzz-"))
    core = None if args.no_sanitizer else build_sanitized(work)
    total = sum(WEIGHTS[name] for name in names)
    shares = {name: max(1, int(args.runs * WEIGHTS[name] / total)) for name in names}
    started = time.monotonic()
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(
            lambda item: run_target(item[1], shares[item[1]], args.seed + item[0], core, work),
            enumerate(names)))
    summary = {
        "sanitizer": core is not None, "seed": args.seed,
        "inputs": sum(int(str(r["runs"])) for r in results),
        "failed": [r["target"] for r in results if r.get("failed")],
        "seconds": round(time.monotonic() - started, 1),
        "per_target": {str(r["target"]): r["runs"] for r in results},
    }
    for r in results:
        if r.get("failed"):
            print(f"{r['target']}: failed (exit {r.get('exit')}), input kept in "
                  f"{CORPUS / str(r['target'])}", file=sys.stderr)
            report = r.get("report", [])
            assert isinstance(report, list)
            print("\n".join(str(line) for line in report), file=sys.stderr)
    print(json.dumps(summary))
    shutil.rmtree(work, ignore_errors=True)
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
