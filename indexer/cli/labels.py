"""`minerflow labels`: import a label set into an index, show and count label sets, derive
exchange wallets from the chain."""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from indexer.cli.common import (
    Progress,
    blocksdir_option,
    datadir_option,
    existing_file,
    index_option,
    main,
    network_named,
    network_option,
    one_line_errors,
    pools_option,
    resolve_lists,
)
from indexer.config import blocks_dir, get_network
from indexer.errors import ConfigError, LabelsError
from indexer.export import csv_cell
from indexer.labels.derive import (
    RULE_VERSION,
    ChainReader,
    PassReport,
    derive,
    load_seeds,
    write_map,
)
from indexer.labels.indexed import check_derived, stored_labels, stored_rows
from indexer.labels.labelset import EMPTY_LABELS, LabelSet, bundled_path, prepare
from indexer.labels.rows import LabelRow, csv_line, write_header
from indexer.pipeline import open_for_writing, replace_labels
from indexer.store import generations, writer
from indexer.store.db import Store


@main.group()
def labels() -> None:
    """Exchange labels: import, show, stats, derive."""


@labels.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@index_option
@network_option
@pools_option
@one_line_errors
def labels_import(file: Path, index: Path, network: str, pools: Path | None) -> None:
    """Set the exchange labels of an index (a labels CSV, or the output of `labels derive`).
    On an index that holds blocks, the network comes from the index, and the flows already
    indexed keep the old labels: the series are reported stale until `minerflow rebuild`.

    Example: minerflow labels import exchanges.csv --index ~/idx
    """
    existing_file(file, "labels")
    with writer.exclusive(index, "minerflow labels import"):
        set_labels(file, index, network, pools)


def set_labels(file: Path, index: Path, network: str, pools: Path | None) -> None:
    if generations.index_exists(index):
        with Store(index) as store:
            state = store.state
            if state is not None:
                labels_set = prepare(file, get_network(state.network), index)
                try:
                    check_derived(labels_set, store, f"index {index}")
                except LabelsError:
                    if labels_set.file is not None and labels_set.sha256 != state.labels_sha256:
                        labels_set.file.unlink(missing_ok=True)  # made for this import only
                    raise
                if state.labels_sha256 == labels_set.sha256:
                    click.echo(f"index {index} already uses these labels")
                    return
                replace_labels(store, labels_set)
                click.echo(f"{describe(labels_set)} set for {index}")
                stale = store.require_state().stale
                if stale:
                    click.echo(f"miner series are stale: {stale}")
                return
    net = network_named(network)
    pools_list, labels_set = resolve_lists(index, net, existing_file(pools, "pools"), file)
    open_for_writing(index, net, pools_list, labels_set).close()
    click.echo(f"{describe(labels_set)} set for {index}")


def describe(labels_set: LabelSet) -> str:
    derived = labels_set.meta.get("derived_height")
    return (f"{labels_set.count} labels ({labels_set.exchange_scripts} exchange scripts of "
            f"{len(labels_set.exchanges)} exchanges"
            + (f", derived to height {derived}" if derived else "") + ")")


source_options: list[Callable[[Any], Any]] = [
    click.option("--index", type=click.Path(path_type=Path),
                 help="Show the label set of this index."),
    click.option("--labels", "labels_path", type=click.Path(path_type=Path),
                 help="Show this labels file (CSV, or .csv.gz)."),
    network_option,
    click.option("--category", help="Only rows of this category (exchange, conflict, miner...)."),
]


def with_source_options(fn: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(source_options):
        fn = option(fn)
    return fn


@labels.command("show")
@with_source_options
@click.option("--format", "fmt", type=click.Choice(["csv", "table"]), default="csv",
              show_default=True)
@one_line_errors
def labels_show(index: Path | None, labels_path: Path | None, network: str,
                category: str | None, fmt: str) -> None:
    """Print a label set: an index's, a file's, or (with neither) the network's bundled seeds.

    Example: minerflow labels show --network main --category exchange --format csv
    """
    with label_rows(index, labels_path, network) as (labels_set, rows):
        if fmt == "csv":
            click.echo(f"# sha256: {labels_set.sha256}")
            out = sys.stdout
            write_header(out, labels_set.meta)
            for row in rows:
                if category is None or row.category == category:
                    out.write(csv_line([csv_cell(cell) for cell in row.fields]))
            return
        click.echo(f"{'address':<64} {'entity':<24} {'category':<15} {'tier':<8} source")
        for row in rows:
            if category is None or row.category == category:
                click.echo(f"{row.address:<64} {row.entity:<24} {row.category:<15} "
                           f"{row.tier:<8} {row.fields[3] or row.fields[4]}")


@labels.command("stats")
@with_source_options
@click.option("--top", type=click.IntRange(min=1), default=20, show_default=True,
              help="How many entities to list per category.")
@one_line_errors
def labels_stats(index: Path | None, labels_path: Path | None, network: str,
                 category: str | None, top: int) -> None:
    """Count a label set by category and entity (the same sources as `labels show`)."""
    counts: dict[str, dict[str, int]] = {}
    tiers: dict[str, int] = {}
    with label_rows(index, labels_path, network) as (labels_set, rows):
        for row in rows:
            if category is None or row.category == category:
                per = counts.setdefault(row.category, {})
                per[row.entity] = per.get(row.entity, 0) + 1
                tiers[row.tier or "seed"] = tiers.get(row.tier or "seed", 0) + 1
    click.echo(f"label set {labels_set.sha256[:16]} ({labels_set.meta.get('name', '')}): "
               f"{sum(sum(per.values()) for per in counts.values())} scripts")
    for key in ("derived_height", "derived_hash", "rule_version"):
        if labels_set.meta.get(key):
            click.echo(f"  {key}: {labels_set.meta[key]}")
    click.echo("  by tier: " + ", ".join(f"{name} {n}" for name, n in sorted(tiers.items())))
    for name, per in sorted(counts.items(), key=lambda item: -sum(item[1].values())):
        click.echo(f"{name}: {sum(per.values())} scripts, {len(per)} entities")
        for entity, n in sorted(per.items(), key=lambda item: (-item[1], item[0]))[:top]:
            click.echo(f"  {n:>9}  {entity}")


@contextlib.contextmanager
def label_rows(index: Path | None, labels_path: Path | None,
               network: str) -> Iterator[tuple[LabelSet, Iterator[LabelRow]]]:
    """The label set `show` and `stats` read, and its rows streamed."""
    if index is not None and labels_path is not None:
        raise ConfigError("give --index or --labels, not both")
    if index is not None:
        with Store(index) as store:
            state = store.require_state()
            yield stored_labels(store), stored_rows(store, get_network(state.network))
        return
    net = network_named(network)
    source = existing_file(labels_path, "labels") or bundled_path(net)
    if source is None:
        yield EMPTY_LABELS, iter(())
        return
    scratch = Path(tempfile.mkdtemp(prefix="minerflow-labels-"))
    try:
        labels_set = prepare(source, net, scratch)
        yield labels_set, labels_set.rows(net)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)



@labels.command("derive")
@datadir_option
@blocksdir_option
@network_option
@click.option("--seeds", "seeds", multiple=True, type=click.Path(path_type=Path),
              help="Seed labels (repeatable; default: the network's bundled seeds). The output "
                   "of an earlier derive continues it.")
@click.option("--until", type=click.IntRange(min=0), help="Derive to this height (default: the "
              "tip of the block files).")
@click.option("--output", "-o", required=True, type=click.Path(path_type=Path),
              help="Where to write the map (a labels CSV that `labels import` reads).")
@one_line_errors
def labels_derive(datadir: Path | None, blocksdir: Path | None, network: str,
                  seeds: tuple[Path, ...], until: int | None, output: Path) -> None:
    """Find exchange wallets from the chain (SPEC 8: R0 CoinJoin filter, R1 co-spend, R2
    sweep) and write the complete map: the seeds and every derived label with its evidence.

    Example: minerflow labels derive --datadir ~/.bitcoin --network main -o exchanges.csv
    """
    net = network_named(network)
    paths = [existing_file(path, "seeds") or path for path in seeds]
    if not paths:
        bundled = bundled_path(net)
        if bundled is None:
            raise ConfigError(f"no bundled seeds for {net.name}: give --seeds FILE")
        paths = [bundled]
    if not output.parent.is_dir():
        raise ConfigError(f"--output {output}: the directory {output.parent} does not exist")
    state, shas, earlier = load_seeds(paths, net)
    reader = ChainReader(blocks_dir(datadir, net, blocksdir), net, until)
    if earlier > reader.until:
        raise ConfigError(f"the seeds were derived to height {earlier}, beyond --until "
                          f"{reader.until}: derive from the original seeds instead")
    click.echo(f"seeds: {len(state.core)} exchange scripts of {len(state.names)} exchanges, "
               f"{len(state.sentinel)} sentinels; deriving to height {reader.until}")
    started = time.monotonic()

    bars: list[Progress] = []

    def on_start(number: int) -> None:
        bars.append(Progress(f"pass {number}"))
        bars[-1].total(reader.until)
        reader.progress = bars[-1]

    def on_pass(report: PassReport) -> None:
        bars[-1].close()
        per = ", ".join(f"{name} +{n}" for name, n in sorted(report.added.items(),
                                                             key=lambda item: -item[1]))
        click.echo(f"pass {report.number}: +{report.total} core scripts"
                   + (f" ({per})" if per else "") + f"; {report.coinjoins} CoinJoin-shaped "
                   f"transactions skipped")
        for n, txid, height, names in report.top[:3]:
            click.echo(f"  {txid} (height {height}) added {n} scripts to {names}")
        for name, n in report.added.items():
            if n > GROWTH_WARNING:
                click.echo(f"  warning: {name} grew by {n} scripts in one pass: check the "
                           f"transactions above before trusting it")

    try:
        passes = derive(reader, state, on_pass, on_start)
    finally:
        for bar in bars:
            bar.close()
    meta = {"network": net.name, "derived_height": str(reader.until),
            "derived_hash": reader.tip_hash, "seeds_sha256": ",".join(shas),
            "rule_version": RULE_VERSION}
    rows = write_map(state, net, meta, output)
    elapsed = time.monotonic() - started
    click.echo(f"fixpoint after {passes} pass(es), {elapsed:.1f} s "
               f"({reader.bytes_read / max(elapsed, 1e-9) / 1e6:.1f} MB/s of block files); "
               f"{rows} rows written to {output}")
    if reader.damage:
        raise click.ClickException(f"{reader.damage}: derived to height {reader.until}")


GROWTH_WARNING = 10_000

