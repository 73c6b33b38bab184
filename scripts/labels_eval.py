"""How well `labels derive` finds exchange wallets, against a chain whose truth is known.

Builds the exchange world (`scripts/benchkit/exchangeworld.py`: exchanges with deposit, hot and
cold wallets, their customers, pools, and the adversaries: CoinJoins of every R0 shape,
PayJoin-shaped deposits, an OTC desk, a shared custodial address), derives from its seeds
(two scripts per exchange) and prints, per exchange and overall, precision and recall of
exchange scripts by count and by value received, the conflicts, the CoinJoins linked, and
miners -> exchanges (`to_exchange`, entity all, level 1, whole chain) with the seeds alone,
the derived map and the true map.

    python scripts/labels_eval.py [--blocks 600] [--seed 7] [--customers 300] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchkit.chainmaker import NETWORK
from benchkit.exchangeworld import EXCHANGES, WorldStats, make_world

from indexer.attribution.pools import load_pools
from indexer.labels.coinjoin import coinjoin_shape
from indexer.labels.derive import ChainReader, derive, load_seeds, write_map
from indexer.labels.labelset import prepare
from indexer.labels.rows import CONFLICT, EXCHANGE, LabelReader
from indexer.pipeline import BlockFileSource, open_for_writing, reindex
from indexer.store import keys


@dataclass
class Score:
    """Labeled scripts against the truth, by count and by value received."""

    labeled: int = 0
    right: int = 0
    labeled_value: int = 0
    right_value: int = 0
    truth: int = 0
    truth_value: int = 0
    wrong_owners: dict[str, int] = field(default_factory=dict)

    def line(self, name: str) -> str:
        def pct(a: int, b: int) -> str:
            return f"{100 * a / b:6.1f} %" if b else "     - "
        return (f"{name:<16} labeled {self.labeled:>6}  precision {pct(self.right, self.labeled)}"
                f" by count, {pct(self.right_value, self.labeled_value)} by value;  recall "
                f"{pct(self.right, self.truth)} by count, {pct(self.right_value, self.truth_value)}"
                f" by value")


def received_by_script(chain: Path) -> tuple[dict[bytes, int], int, set[str]]:
    """Value received per script over the chain; transactions; the CoinJoin-shaped ones."""
    received: dict[bytes, int] = {}
    txs = 0
    shaped: set[str] = set()
    for block in ChainReader(chain / "regtest" / "blocks", NETWORK, None):
        for txid, ins, outs in block.txs:
            txs += 1
            if coinjoin_shape(ins, [v for v, _s in outs]) is not None:
                shaped.add(txid)
            for value, script in outs:
                received[script] = received.get(script, 0) + value
    return received, txs, shaped


def score(labels: dict[bytes, str], truth: dict[bytes, str],
          received: dict[bytes, int]) -> dict[str, Score]:
    scores = {name: Score() for name in (*EXCHANGES, "all")}
    for script, owner in truth.items():
        if owner.startswith("exchange:") and received.get(script):
            for name in (owner.split(":", 1)[1], "all"):
                scores[name].truth += 1
                scores[name].truth_value += received[script]
    for script, entity in labels.items():
        value = received.get(script, 0)
        owner = truth.get(script, "unknown")
        good = owner == f"exchange:{entity}"
        for name in (entity, "all"):
            s = scores.setdefault(name, Score())
            s.labeled += 1
            s.labeled_value += value
            if good:
                s.right += 1
                s.right_value += value
            else:
                kind = owner.split(":", 1)[0]
                s.wrong_owners[kind] = s.wrong_owners.get(kind, 0) + 1
    return scores


def read_map(path: Path) -> tuple[dict[bytes, str], dict[bytes, str], list[tuple[str, ...]]]:
    """(exchange labels, conflicted scripts, derived rows) of a labels CSV."""
    exchanges: dict[bytes, str] = {}
    conflicts: dict[bytes, str] = {}
    derived = []
    for row in LabelReader(path, NETWORK):
        if row.category == EXCHANGE:
            exchanges[row.script] = row.entity
            if row.fields[6] in ("R1", "R2"):
                derived.append(row.fields)
        elif row.category == CONFLICT:
            conflicts[row.script] = row.entity
    return exchanges, conflicts, derived


def to_exchange(chain: Path, labels_file: Path, work: Path) -> int:
    """Miners -> exchanges (all, level 1) over the whole chain with these labels."""
    pools = load_pools(chain / "pools.json")
    index = work / f"index-{labels_file.stem}"
    labels = prepare(labels_file, NETWORK, index)
    store = open_for_writing(index, NETWORK, pools, labels)
    try:
        reindex(store, BlockFileSource(chain / "regtest" / "blocks", NETWORK), pools, labels)
        return sum(keys.unpack_series_row(value)["to_exchange"]
                   for _key, value in store.scan(keys.series_prefix(keys.ALL_ENTITY, 1)))
    finally:
        store.close()


def write_truth_map(truth: dict[bytes, str], path: Path) -> None:
    from indexer.labels.rows import script_text  # noqa: PLC0415
    lines = ["address,entity,category"]
    for script, owner in sorted(truth.items()):
        if owner.startswith("exchange:"):
            lines.append(f"{script_text(script, NETWORK)},{owner.split(':', 1)[1]},exchange")
    path.write_text("\n".join(lines) + "\n")


def evaluate(chain: Path, work: Path, stats: WorldStats | None) -> dict[str, object]:
    truth = {bytes.fromhex(k): v for k, v in json.loads((chain / "truth.json").read_text()).items()}
    received, txs, shaped = received_by_script(chain)
    state, _shas, _earlier = load_seeds([chain / "seeds.csv"], NETWORK)
    reader = ChainReader(chain / "regtest" / "blocks", NETWORK, None)
    started = time.perf_counter()
    passes = derive(reader, state, lambda report: print(
        f"  pass {report.number}: +{report.total} core scripts, {report.coinjoins} "
        f"CoinJoin-shaped transactions skipped"))
    elapsed = time.perf_counter() - started
    derived_file = work / "derived.csv"
    write_map(state, NETWORK, {"network": NETWORK.name,
                               "derived_height": str(reader.until)}, derived_file)
    labels, conflicts, derived_rows = read_map(derived_file)
    seeds, _c, _d = read_map(chain / "seeds.csv")
    truth_file = work / "truth.csv"
    write_truth_map(truth, truth_file)

    print(f"chain: {reader.until} blocks, {txs} transactions, {len(shaped)} CoinJoin-shaped "
          f"({100 * len(shaped) / max(txs, 1):.2f} %)"
          + (f"; {stats.deposits} deposits, {stats.payjoins} PayJoin-shaped "
             f"({100 * stats.payjoins / max(stats.deposits, 1):.2f} %), {stats.sweeps} sweeps, "
             f"{stats.withdrawals} withdrawal batches, CoinJoins made {stats.coinjoins}"
             if stats else ""))
    print(f"derive: fixpoint after {passes} passes in {elapsed:.1f} s "
          f"({reader.bytes_read / elapsed / 1e6:.1f} MB/s of block files over all passes)")
    print("\nseeds only:")
    for name, s in score(seeds, truth, received).items():
        print("  " + s.line(name))
    print("derived map:")
    derived_scores = score(labels, truth, received)
    for name, s in derived_scores.items():
        print("  " + s.line(name) + (f"  wrong owners {s.wrong_owners}" if s.wrong_owners else ""))
    coinjoin_links = sum(1 for row in derived_rows if row[7] in (stats.coinjoin_txids if stats
                                                                 else set()))
    payjoin_rows = sum(1 for row in derived_rows if row[7] in (stats.payjoin_txids if stats
                                                               else set()))
    true_conflicts = sum(1 for s in conflicts if truth.get(s, "").startswith("exchange:"))
    print(f"conflicts: {len(conflicts)} scripts ({true_conflicts} of them an exchange's), "
          f"owners {sorted({truth.get(s, '?').split(':')[0] for s in conflicts})}")
    made = stats.coinjoin_txids if stats else set()
    print(f"CoinJoins: {len(made)} made, {len(made & shaped)} of them R0-shaped; derived rows "
          f"whose evidence is a CoinJoin: {coinjoin_links}; rows added by PayJoin-shaped "
          f"deposits: {payjoin_rows}")
    figures = {name: to_exchange(chain, path, work) for name, path in (
        ("seeds", chain / "seeds.csv"), ("derived", derived_file), ("truth", truth_file))}
    print("miners -> exchanges (all, level 1, whole chain), BTC: " + ", ".join(
        f"{name} {value / 1e8:.4f} ({100 * value / max(figures['truth'], 1):.1f} % of the "
        f"true map's)" for name, value in figures.items()))
    overall = derived_scores["all"]
    return {"passes": passes, "coinjoin_links": coinjoin_links,
            "precision_value": overall.right_value / max(overall.labeled_value, 1),
            "recall_value": overall.right_value / max(overall.truth_value, 1),
            "to_exchange": figures, "conflicts": len(conflicts), "shaped": len(shaped), "txs": txs,
            "coinjoins_made": len(made), "coinjoins_shaped": len(made & shaped)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=600)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--keep", type=Path, help="Build the chain here and keep it.")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="minerflow-labels-eval-"))
    try:
        work.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        stats = make_world(work / "chain", args.blocks, args.seed, args.customers)
        print(f"exchange world: {stats.blocks} blocks, {stats.txs} transactions in "
              f"{time.perf_counter() - started:.1f} s")
        evaluate(work / "chain", work, stats)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
