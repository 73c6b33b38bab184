"""`python scripts/bench.py`: parse and end-to-end throughput, measured the same way every run.

Two corpora, both built deterministically from data in the repository into a temporary directory:

- parse: real mainnet blocks (tests/data/mainnet/blocks) framed as blk records, repeated to the
  size asked for. On the same bytes: minerflow's parse pass (framing, header and coinbase decoded,
  every input's prevout and every output's script checked against the fingerprint filters, the
  pipeline's work per block before the cohort step), minerflow's full decoder with every txid,
  python-bitcoinlib's `CBlock.deserialize` with every txid, and sha256d of every transaction
  with hashlib (the ceiling for anything that hashes each transaction once).
- end to end: `make_chain`'s mainnet-shaped regtest chain, indexed by `minerflow reindex` in a
  child process, as a user runs it, into a fresh index each time; at the default (light) mix of
  miner transactions and at about 10% and 30% flagged (`e2e_by_share`), each chain's flagged
  share counted by the pure-Python reference (`scripts/benchkit/flagged.py`). The child imports
  the same installed package as the bench (`python -P`, never the checkout's tree) and says
  which core it runs; a mismatch stops the bench.

Each measurement runs once to warm up, then several times; the table shows medians and min–max.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from indexer import fastpath
from indexer.errors import ConfigError, MinerflowError
from indexer.fingerprints import FILE as FINGERPRINTS_FILE
from indexer.parse.deserializer import open_block, parse_block, parse_tx_at, read_compact_size

from .chainmaker import GENESIS_HEX, NETWORK, BlockWriter, make_chain
from .flagged import count_exchange_touching

SCRIPTS = Path(__file__).resolve().parents[1]  # holds benchkit, for the child processes
MAINNET_BYTES = 700e9  # block files of mainnet by late 2026 (about 930k blocks)
MAINNET_TXS = 1.2e9
PARSE_BLOCKS = ("702861", "574200", "481829", "413567", "400000", "307602", "370661", "363703",
                "300025")
MAINNET_MAGIC = bytes.fromhex("f9beb4d9")
FILTER_ENTRIES = 1_000_000  # fingerprints in each filter during the parse pass


@dataclass(frozen=True)
class Timing:
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def rate(self, amount: float) -> tuple[float, float, float]:
        """amount per second: median, min, max."""
        return (amount / self.median, amount / max(self.seconds), amount / min(self.seconds))


def measure(fn: Callable[[], object], runs: int) -> Timing:
    fn()  # warm-up
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - started)
    return Timing(seconds)


# -- parse corpus ------------------------------------------------------------------------------

def distinct_blocks(blocks_dir: Path) -> list[bytes]:
    found = []
    for height in PARSE_BLOCKS:
        matches = sorted(blocks_dir.glob(f"{height}-*.bin"))
        if not matches:
            raise ConfigError(f"{blocks_dir}: mainnet block {height} (HEIGHT-HASH.bin) missing")
        found.append(matches[0].read_bytes())
    return found


def write_parse_corpus(out: Path, blocks: list[bytes], target_bytes: int) -> list[Path]:
    """Blocks framed as mainnet blk records, round-robin, in 128 MiB files, until
    `target_bytes`."""
    writer = BlockWriter(out, None, MAINNET_MAGIC)
    written = i = 0
    while written < target_bytes:
        block = blocks[i % len(blocks)]
        writer.write(block)
        written += len(block)
        i += 1
    return writer.blk_paths


def random_filter(seed: int) -> fastpath.FingerprintFilter:
    rng = random.Random(seed)
    found = fastpath.Filter()
    for _ in range(FILTER_ENTRIES):
        found.add(rng.getrandbits(64))
    return found


def parse_files(paths: list[Path], coins: fastpath.FingerprintFilter,
                members: fastpath.FingerprintFilter) -> tuple[int, int]:
    """The parse pass over blk files: (block bytes, transactions)."""
    total = txs = 0
    for path in paths:
        data = path.read_bytes()
        pos = 0
        while pos + 8 <= len(data):
            magic, length = struct.unpack_from("<4sI", data, pos)
            if magic != MAINNET_MAGIC:
                break
            block = open_block(data[pos + 8:pos + 8 + length])
            index, at = fastpath.scan_block(block.data, block.next_pos, 1, block.tx_count, coins,
                                            members)
            while index < block.tx_count:  # a candidate: decode it, then scan on
                _tx, at = parse_tx_at(block, at)
                index, at = fastpath.scan_block(block.data, at, index + 1, block.tx_count,
                                                coins, members)
            block.check_end(at)
            total += length
            txs += block.tx_count
            pos += 8 + length
    return total, txs


def decode_all(blocks: list[bytes]) -> None:
    for raw in blocks:
        for tx in parse_block(raw).txs:
            tx.txid_rev  # noqa: B018 - computing every txid is the point


def bitcoinlib_all(blocks: list[bytes]) -> None:
    from bitcoin.core import CBlock

    for raw in blocks:
        for tx in CBlock.deserialize(raw).vtx:
            tx.GetTxid()


def tx_spans(blocks: list[bytes]) -> list[memoryview]:
    spans = []
    for raw in blocks:
        view = memoryview(raw)
        _count, pos = read_compact_size(raw, 80)
        block = open_block(raw)
        for _ in range(block.tx_count):
            _tx, end = parse_tx_at(block, pos)
            spans.append(view[pos:end])
            pos = end
    return spans


def hash_all(spans: list[memoryview]) -> None:
    sha256 = hashlib.sha256
    for span in spans:
        sha256(sha256(span).digest()).digest()


# -- end to end --------------------------------------------------------------------------------

# `-P`: the child never puts the working directory first on sys.path, so run from a checkout it
# imports the installed package, as the bench does, not the checkout's uncompiled tree.
_CHILD = ("import sys; from indexer import fastpath; "
          "sys.stderr.write('minerflow-core ' + fastpath.IMPLEMENTATION + chr(10)); ")


def reindex_command(chain: Path, index: Path, lists: bool = True) -> list[str]:
    """The reindex child; without `lists`, the index's own pools list and labels."""
    return [sys.executable, "-P", "-c", _CHILD + "from indexer.cli import main; "
            "main(sys.argv[1:])",
            "reindex", "--datadir", str(chain), "--network", NETWORK.name, "--index", str(index),
            *(["--pools", str(chain / "pools.json"), "--labels", str(chain / "exchanges.csv")]
              if lists else [])]


def _child_env(pure: bool) -> dict[str, str]:
    env = dict(os.environ)
    if pure:
        env["MINERFLOW_PURE"] = "1"
    else:
        env.pop("MINERFLOW_PURE", None)
    return env


def _check_core(stderr: str, pure: bool) -> None:
    want = "python" if pure else fastpath.IMPLEMENTATION
    found = stderr.split("\n", 1)[0].removeprefix("minerflow-core ")
    if found != want:
        raise MinerflowError(f"the benchmark's child process ran the {found} core, the bench "
                             f"the {want} one: install the package (pip install .) so both "
                             f"import the same")


def run_reindex(chain: Path, index: Path, pure: bool = False, lists: bool = True) -> None:
    done = subprocess.run(reindex_command(chain, index, lists), env=_child_env(pure),
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise MinerflowError(f"the benchmark's reindex failed: {done.stderr.strip()}")
    _check_core(done.stderr, pure)


def reference_flagged_share(chain: Path) -> float:
    """The chain's flagged share, counted by the pure-Python reference in a child process."""
    done = subprocess.run([sys.executable, "-P", "-c", _CHILD + f"sys.path.insert(0, "
                           f"{str(SCRIPTS)!r}); from benchkit.flagged import main; main()",
                           str(chain)], env=_child_env(True),
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise MinerflowError(f"counting the flagged share failed: {done.stderr.strip()}")
    _check_core(done.stderr, True)
    flagged, total = (int(v) for v in done.stdout.split())
    return flagged / total if total else 0.0


# Flagged share -> service share (ordinary outputs paying early cohort scripts), measured on the
# full benchmark's chains (450 blocks of 2,000 transactions). The flagged share grows with the
# chain's length as service coins circulate: `--quick`'s 120-block chains flag less.
SERVICE_SHARES = ((0.0134, 0.0), (0.0804, 0.02), (0.1245, 0.035), (0.1655, 0.05), (0.249, 0.08),
                  (0.2985, 0.1), (0.3689, 0.13), (0.8124, 0.47))
MIX_TARGETS = (None, 0.10, 0.30)  # the default mix, then about 10% and 30% flagged
# The chain maker's exchange share (ordinary outputs paying a labeled exchange script) that
# makes about 30% of the transactions pay or spend one on the full benchmark's chains (the
# default mix: about 11%), measured with `count_exchange_touching`.
EXCHANGE_SHARE = 0.065


def service_share_for(flagged_share: float) -> float:
    """The chain maker's service share expected to give `flagged_share` (interpolated)."""
    if not SERVICE_SHARES[0][0] <= flagged_share <= SERVICE_SHARES[-1][0]:
        raise ConfigError(f"--flagged-share: expected {SERVICE_SHARES[0][0]} to "
                          f"{SERVICE_SHARES[-1][0]}, got {flagged_share}")
    for (f0, q0), (f1, q1) in zip(SERVICE_SHARES, SERVICE_SHARES[1:], strict=False):
        if f0 <= flagged_share <= f1:
            return q0 + (q1 - q0) * (flagged_share - f0) / (f1 - f0)
    return SERVICE_SHARES[-1][1]


def directory_bytes(path: Path) -> int:
    """Bytes of an index on disk, without the saved filters beside it (a cache of the index's
    own keys, sized by the filter tables: indexer/fingerprints.py)."""
    return sum(p.stat().st_size for p in path.rglob("*")
               if p.is_file() and p.name != FINGERPRINTS_FILE)


def index_digest(path: Path) -> str:
    """sha256 over every key and value of an index, in key order."""
    from indexer.store.leveldb import plyvel

    db = plyvel.DB(str(path))
    try:
        h = hashlib.sha256()
        for key, value in db.iterator():
            h.update(struct.pack("<II", len(key), len(value)) + key + value)
        return h.hexdigest()
    finally:
        db.close()


# -- the run -----------------------------------------------------------------------------------

@dataclass
class Settings:
    parse_mb: int
    chain_blocks: int
    runs: int
    reference: bool  # also index once with the pure-Python reference


QUICK = Settings(parse_mb=64, chain_blocks=120, runs=2, reference=False)
FULL = Settings(parse_mb=256, chain_blocks=450, runs=3, reference=True)


@dataclass
class Mix:
    """One end-to-end chain and its figures."""

    flagged_share: float
    e2e: Timing
    e2e_bytes: int
    e2e_txs: int
    cpu_per_wall: float
    index_bytes: int
    reference_mb_s: float | None
    identical: bool | None
    exchange_share: float  # of the transactions, those paying or spending an exchange's script

    def row(self) -> dict[str, object]:
        return {"flagged_share": round(self.flagged_share, 4),
                "exchange_share": round(self.exchange_share, 4),
                "e2e_mb_s": round(self.e2e.rate(self.e2e_bytes / 1e6)[0], 1),
                "e2e_tx_s": round(self.e2e.rate(self.e2e_txs)[0]),
                "cpu_per_wall": round(self.cpu_per_wall, 2)}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def end_to_end(tmp: Path, settings: Settings, target: float | None,
               say: Callable[[str], None], reference: bool, exchange_share: float = 0.0) -> Mix:
    """Make a chain at the target flagged share (None: the default mix) or with more outputs
    paying exchanges (`exchange_share`), and time reindexes."""
    service = 0.0 if target is None else service_share_for(target)
    label = ("exchange-heavy mix" if exchange_share else "default mix" if target is None
             else f"about {target:.0%} flagged")
    say(f"end-to-end corpus ({label}): make_chain, {settings.chain_blocks} blocks")
    chain = tmp / "chain"
    stats = make_chain(chain, settings.chain_blocks, service_share=service,
                       exchange_share=exchange_share)
    share = reference_flagged_share(chain)
    touching, total = count_exchange_touching(chain)
    e2e_bytes = stats.block_bytes + len(bytes.fromhex(GENESIS_HEX))
    e2e_txs = stats.txs + 1
    runs = iter(range(1_000))
    last_index = tmp / "index-last"
    cpu_and_wall = [0.0, 0.0]

    def reindex_fresh() -> None:
        index = tmp / f"index-{next(runs)}"
        before, started = _children_cpu(), time.perf_counter()
        run_reindex(chain, index)
        cpu_and_wall[0] += _children_cpu() - before
        cpu_and_wall[1] += time.perf_counter() - started
        if last_index.exists():
            subprocess.run(["rm", "-rf", str(last_index)], check=True)
        index.rename(last_index)

    say(f"reindex: {stats.blocks + 1} blocks, {e2e_txs:,} transactions, "
        f"{e2e_bytes / 1e6:.1f} MB, flagged share {share:.1%}, paying or spending an "
        f"exchange's script {touching / max(total, 1):.1%}")
    e2e = measure(reindex_fresh, settings.runs)
    cpu_per_wall = cpu_and_wall[0] / cpu_and_wall[1]
    reference_mb_s = identical = None
    if reference and settings.reference:
        say("reindex with the pure-Python reference (once)")
        started = time.perf_counter()
        run_reindex(chain, tmp / "index-reference", pure=True)
        reference_mb_s = e2e_bytes / 1e6 / (time.perf_counter() - started)
        identical = index_digest(tmp / "index-reference") == index_digest(last_index)
    return Mix(share, e2e, e2e_bytes, e2e_txs, cpu_per_wall, directory_bytes(last_index),
               reference_mb_s, identical, touching / max(total, 1))


@dataclass
class Labels:
    """`labels derive` on the default mix's chain, and its reindex with the mainnet seeds."""

    derive: Timing
    derive_bytes: int  # block bytes read by one derive, over all its passes
    passes: int
    chain_bytes: int
    seeded: Timing  # reindex of an index holding the chain's labels and the mainnet seeds
    seeds: int
    import_seconds: float


def labels_bench(chain: Path, chain_bytes: int, tmp: Path, runs: int,
                 say: Callable[[str], None]) -> Labels:
    from indexer.config import get_network
    from indexer.labels.derive import ChainReader, derive, load_seeds
    from indexer.labels.labelset import bundled_path
    from indexer.labels.rows import LabelReader, script_text

    say("labels derive from the chain's exchange labels (R0-R2 to the fixpoint)")
    found = [0, 0]

    def derive_once() -> None:
        state, _shas, _height = load_seeds([chain / "exchanges.csv"], NETWORK)
        reader = ChainReader(chain / NETWORK.subdir / "blocks", NETWORK, None)
        found[0] = derive(reader, state, lambda _report: None)
        found[1] = reader.bytes_read

    timing = measure(derive_once, runs)
    seeds = bundled_path(get_network("main"))
    assert seeds is not None
    big = tmp / "seeded.csv"
    count = 0
    with big.open("w") as out:
        out.write((chain / "exchanges.csv").read_text())
        for row in LabelReader(seeds, get_network("main")):
            if row.is_exchange:  # the same scripts, as regtest sees them
                out.write(f"{script_text(row.script, NETWORK)},{row.entity},exchange\n")
                count += 1
    say(f"reindex with the chain's labels and the {count:,} mainnet exchange seeds")
    empty = tmp / "index-seeded-empty"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-P", "-c", _CHILD + "from indexer.cli import main; "
                           "main(sys.argv[1:])", "labels", "import", str(big), "--index",
                           str(empty), "--network", NETWORK.name, "--pools",
                           str(chain / "pools.json")], env=_child_env(False),
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise MinerflowError(f"the benchmark's labels import failed: {done.stderr.strip()}")
    import_seconds = time.perf_counter() - started
    runs_left = iter(range(1_000))

    def seeded_once() -> None:
        index = tmp / f"index-seeded-{next(runs_left)}"
        subprocess.run(["cp", "-r", str(empty), str(index)], check=True)
        started = time.perf_counter()
        run_reindex(chain, index, lists=False)
        seconds.append(time.perf_counter() - started)
        subprocess.run(["rm", "-rf", str(index)], check=True)

    seconds: list[float] = []
    for _ in range(runs + 1):
        seeded_once()
    return Labels(timing, found[1], found[0], chain_bytes, Timing(seconds[1:]), count,
                  import_seconds)


def run_bench(settings: Settings, blocks_dir: Path, workdir: Path | None = None,
              say: Callable[[str], None] = print,
              flagged_share: float | None = None) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="minerflow-bench-", dir=workdir) as tmp_name:
        tmp = Path(tmp_name)
        blocks = distinct_blocks(blocks_dir)
        distinct_bytes = sum(len(b) for b in blocks)
        distinct_txs = sum(open_block(b).tx_count for b in blocks)
        say(f"parse corpus: {len(blocks)} mainnet blocks framed to {settings.parse_mb} MB")
        paths = write_parse_corpus(tmp / "parse", blocks, settings.parse_mb * 1_000_000)
        coins, members = random_filter(1), random_filter(2)
        corpus_bytes, corpus_txs = parse_files(paths, coins, members)
        parse = measure(lambda: parse_files(paths, coins, members), settings.runs + 2)
        decode = measure(lambda: decode_all(blocks), settings.runs + 2)
        bitcoinlib = measure(lambda: bitcoinlib_all(blocks), settings.runs)
        spans = tx_spans(blocks)
        hashing = measure(lambda: hash_all(spans), settings.runs + 2)

        targets = MIX_TARGETS if flagged_share is None else (flagged_share,)
        mixes = [end_to_end(tmp / f"mix{i}", settings, target, say, reference=(i == 0))
                 for i, target in enumerate(targets)]
        base = mixes[0]
        exchange_heavy = None if flagged_share is not None else end_to_end(
            tmp / "mixx", settings, None, say, reference=False, exchange_share=EXCHANGE_SHARE)
        labels = labels_bench(tmp / "mix0" / "chain", base.e2e_bytes, tmp / "mix0",
                              settings.runs, say)

    rss_kb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                 resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    parse_mb_s = parse.rate(corpus_bytes / 1e6)
    bitcoinlib_mb_s = bitcoinlib.rate(distinct_bytes / 1e6)
    hash_mb_s = hashing.rate(distinct_bytes / 1e6)
    e2e, e2e_bytes, e2e_txs = base.e2e, base.e2e_bytes, base.e2e_txs
    e2e_mb_s = e2e.rate(e2e_bytes / 1e6)
    result: dict[str, object] = {
        "implementation": fastpath.IMPLEMENTATION,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "runs": settings.runs,
        "parse_corpus_mb": round(corpus_bytes / 1e6, 1),
        "e2e_corpus_mb": round(e2e_bytes / 1e6, 1),
        "e2e_corpus_txs": e2e_txs,
        "parse_mb_s": round(parse_mb_s[0], 1),
        "parse_tx_s": round(parse.rate(corpus_txs)[0]),
        "decode_mb_s": round(decode.rate(distinct_bytes / 1e6)[0], 1),
        "decode_tx_s": round(decode.rate(distinct_txs)[0]),
        "bitcoinlib_mb_s": round(bitcoinlib_mb_s[0], 1),
        "bitcoinlib_tx_s": round(bitcoinlib.rate(distinct_txs)[0]),
        "hash_ceiling_mb_s": round(hash_mb_s[0], 1),
        "hash_ceiling_tx_s": round(hashing.rate(distinct_txs)[0]),
        "e2e_mb_s": round(e2e_mb_s[0], 1),
        "e2e_tx_s": round(e2e.rate(e2e_txs)[0]),
        "flagged_share": round(base.flagged_share, 4),
        "e2e_cpu_per_wall": round(base.cpu_per_wall, 2),
        "e2e_by_share": [mix.row() for mix in mixes],
        "exchange_share": round(base.exchange_share, 4),
        "e2e_exchange_heavy": None if exchange_heavy is None else exchange_heavy.row(),
        "derive_mb_s": round(labels.derive.rate(labels.derive_bytes / 1e6)[0], 1),
        "derive_passes": labels.passes,
        "derive_chain_mb_s": round(labels.derive.rate(labels.chain_bytes / 1e6)[0], 1),
        "seeded_e2e_mb_s": round(labels.seeded.rate(labels.chain_bytes / 1e6)[0], 1),
        "seeded_labels": labels.seeds,
        "seeded_import_s": round(labels.import_seconds, 1),
        "e2e_reference_mb_s": (None if base.reference_mb_s is None
                               else round(base.reference_mb_s, 1)),
        "reference_index_identical": base.identical,
        "peak_rss_mb": round(rss_kb / 1024, 1),
        "index_bytes_per_tx": round(base.index_bytes / e2e_txs, 2),
        "projected_mainnet_hours": round(MAINNET_BYTES / (e2e_mb_s[0] * 1e6) / 3600, 2),
        "parse_vs_bitcoinlib": round(parse_mb_s[0] / bitcoinlib_mb_s[0], 1),
        "e2e_vs_hash_ceiling": round(e2e_mb_s[0] / hash_mb_s[0], 2),
        "ranges": {
            "parse_mb_s": [round(v, 1) for v in parse_mb_s[1:]],
            "decode_mb_s": [round(v, 1) for v in decode.rate(distinct_bytes / 1e6)[1:]],
            "bitcoinlib_mb_s": [round(v, 1) for v in bitcoinlib_mb_s[1:]],
            "hash_ceiling_mb_s": [round(v, 1) for v in hash_mb_s[1:]],
            "e2e_mb_s": [round(v, 1) for v in e2e_mb_s[1:]],
        },
    }
    return result


def table(result: dict[str, object]) -> str:
    ranges = result["ranges"]
    assert isinstance(ranges, dict)

    def spread(name: str) -> str:
        low, high = ranges.get(name, (None, None))
        return "" if low is None else f"{low:,.1f}–{high:,.1f}"

    rows = [
        ("parse pass (scan + filters)", result["parse_mb_s"], result["parse_tx_s"],
         spread("parse_mb_s")),
        ("full decode, every txid", result["decode_mb_s"], result["decode_tx_s"],
         spread("decode_mb_s")),
        ("python-bitcoinlib + txids", result["bitcoinlib_mb_s"], result["bitcoinlib_tx_s"],
         spread("bitcoinlib_mb_s")),
        ("hashlib sha256d per tx (ceiling)", result["hash_ceiling_mb_s"],
         result["hash_ceiling_tx_s"], spread("hash_ceiling_mb_s")),
        ("reindex end to end", result["e2e_mb_s"], result["e2e_tx_s"], spread("e2e_mb_s")),
    ]
    lines = ["| measure | MB/s (median) | tx/s | MB/s min–max |", "|---|---:|---:|---|"]
    for name, mb_s, tx_s, span in rows:
        lines.append(f"| {name} | {mb_s:,.1f} | {tx_s:,} | {span} |")
    by_share = result.get("e2e_by_share")
    assert isinstance(by_share, list)
    for mix in by_share:
        lines.append(f"| reindex at {mix['flagged_share']:.1%} flagged | {mix['e2e_mb_s']:,.1f} "
                     f"| {mix['e2e_tx_s']:,} | CPU/wall {mix['cpu_per_wall']} |")
    heavy = result.get("e2e_exchange_heavy")
    if isinstance(heavy, dict):
        lines.append(f"| reindex at {heavy['exchange_share']:.1%} paying or spending an "
                     f"exchange's script | {heavy['e2e_mb_s']:,.1f} | {heavy['e2e_tx_s']:,} | "
                     f"CPU/wall {heavy['cpu_per_wall']} |")
    lines.append(f"| reindex with {result['seeded_labels']:,} mainnet exchange seeds more | "
                 f"{result['seeded_e2e_mb_s']:,.1f} | | labels import "
                 f"{result['seeded_import_s']} s, once |")
    lines.append(f"| labels derive, every pass read | {result['derive_mb_s']:,.1f} | | "
                 f"{result['derive_passes']} passes to the fixpoint: "
                 f"{result['derive_chain_mb_s']:,.1f} MB/s of chain |")
    if result.get("e2e_reference_mb_s") is not None:
        reference = result["e2e_reference_mb_s"]
        lines.append(f"| reindex, pure-Python reference | {reference:,.1f} | | |")
    lines.append("")
    lines.append(
        f"parse vs python-bitcoinlib: {result['parse_vs_bitcoinlib']}×; end to end vs the "
        f"hash ceiling: {result['e2e_vs_hash_ceiling']}×; flagged share of the end-to-end "
        f"chain {result['flagged_share']:.1%}, exchange-touching {result['exchange_share']:.1%}; "
        f"peak RSS {result['peak_rss_mb']} MB; "
        f"index {result['index_bytes_per_tx']} bytes/tx; projected mainnet pass "
        f"(700 GB): {result['projected_mainnet_hours']} h"
    )
    lines.append(
        f"implementation: {result['implementation']}, Python {result['python']}, "
        f"{result['cpus']} CPUs; corpora: parse {result['parse_corpus_mb']} MB, end to end "
        f"{result['e2e_corpus_mb']} MB / {result['e2e_corpus_txs']:,} tx; {result['runs']} runs "
        f"after a warm-up"
    )
    if result.get("reference_index_identical") is not None:
        lines.append(f"reference index identical to the compiled one: "
                     f"{result['reference_index_identical']}")
    return "\n".join(lines)


def dumps(result: dict[str, object]) -> str:
    return json.dumps(result, separators=(",", ":"))
