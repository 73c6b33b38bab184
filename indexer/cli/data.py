"""Commands that read or prepare data: `export`, `labels import`, `pools show`."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from indexer.attribution.pools import load_pools
from indexer.cli.common import (
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
from indexer.config import blocks_dir, default_pools_path
from indexer.errors import ConfigError
from indexer.export import write_rows as export_rows
from indexer.flow_export import replay_flows
from indexer.flows.labels import load_labels
from indexer.parquet import write_parquet
from indexer.pipeline import open_for_writing
from indexer.reader import IndexReader
from indexer.series import INTERVALS, network_series, series_rows
from indexer.store.db import Store


@main.group()
def export() -> None:
    """Export blocks or series as JSON lines or CSV."""


format_option = click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv", "parquet"]), default="jsonl",
    show_default=True, help="parquet: a directory of files partitioned by year (--output DIR; "
    "needs pip install 'minerflow[parquet]').")
output_option = click.option("--output", "-o", type=click.Path(path_type=Path),
                             help="Write to this file (a new directory for parquet) instead of "
                             "standard output.")


def write_rows(rows: Iterable[dict[str, Any]], fmt: str, output: Path | None) -> int:
    if fmt == "parquet":
        if output is None:
            raise ConfigError("--format parquet writes a directory: give --output DIR")
        count = write_parquet(rows, output)
        click.echo(f"{count} rows written under {output}", err=True)
        return count
    if output is None:
        return export_rows(rows, fmt, sys.stdout)
    with output.open("w", newline="", encoding="utf-8") as stream:
        return export_rows(rows, fmt, stream)


@export.command("blocks")
@index_option
@format_option
@output_option
@one_line_errors
def export_blocks(index: Path, fmt: str, output: Path | None) -> None:
    """One row per active-chain block with its attribution.

    Example: minerflow export blocks --index ~/minerflow-index --format csv > blocks.csv
    """
    with Store(index) as store:
        reader = IndexReader(store)
        write_rows((reader.block_row(r) for r in reader.blocks()), fmt, output)


@export.command("series")
@index_option
@click.option("--entity", default="all", show_default=True, help="A pool slug, unknown or all.")
@click.option("--level", type=click.Choice(["0", "1"]), default="1", show_default=True,
              help="0: coins of 0-hop scripts only; 1: 0-hop and 1-hop.")
@click.option("--interval", type=click.Choice(INTERVALS), default="day", show_default=True,
              help="Weeks start on Monday, months on the 1st (UTC); rows name their first day.")
@click.option("--since", help="First day (YYYY-MM-DD) or height.")
@click.option("--until", help="Last day (YYYY-MM-DD) or height, inclusive.")
@click.option("--derived", is_flag=True,
              help="Daily only: add net_position_change_30d (BTC), outflow_multiple and "
              "outflow_revenue_ratio.")
@format_option
@output_option
@one_line_errors
def export_series(index: Path, entity: str, level: str, interval: str, since: str | None,
                  until: str | None, derived: bool, fmt: str, output: Path | None) -> None:
    """Miner balance and flow series of one entity (SPEC 5).

    Example: minerflow export series --index ~/idx --entity foundryusa --level 0 --format csv
    """
    with Store(index) as store:
        reader = IndexReader(store)
        rows = series_rows(reader, entity, int(level), interval, since, until, derived)
        write_rows(rows, fmt, output)


@export.command("network")
@index_option
@click.option("--pool", help="A pool slug (or unknown): that pool's blocks, share and hash rate.")
@click.option("--interval", type=click.Choice(INTERVALS), default="day", show_default=True,
              help="Weeks start on Monday, months on the 1st (UTC); rows name their first day.")
@click.option("--since", help="First day (YYYY-MM-DD) or height.")
@click.option("--until", help="Last day (YYYY-MM-DD) or height, inclusive.")
@format_option
@output_option
@one_line_errors
def export_network(index: Path, pool: str | None, interval: str, since: str | None,
                   until: str | None, fmt: str, output: Path | None) -> None:
    """Network series (SPEC 5): date, blocks, subsidy and fees (sats), difficulty, hashrate
    (H/s); with --pool: date, blocks, share, hashrate, subsidy, fees, empty_blocks.

    Example: minerflow export network --index ~/idx --pool foundryusa --format csv
    """
    with Store(index) as store:
        reader = IndexReader(store)
        write_rows(network_series(reader, pool, interval, since, until), fmt, output)


@export.command("flows")
@index_option
@datadir_option
@blocksdir_option
@click.option("--trust-files", is_flag=True,
              help="Skip checking each block against its merkle root.")
@format_option
@output_option
@one_line_errors
def export_flows(index: Path, datadir: Path | None, blocksdir: Path | None, trust_files: bool,
                 fmt: str, output: Path | None) -> None:
    """Flows per transaction: one row per transaction and (entity, level) whose numbers it
    changed (mined, inflow, outflow, fees, to_exchange, to_exchange_by, balance_change), for
    the indexed chain, replayed from the node's block files with the index's lists.

    Example: minerflow export flows --index ~/idx --datadir ~/.bitcoin --format parquet -o flows/
    """
    with Store(index) as store:
        reader = IndexReader(store)
        where = blocks_dir(datadir, reader.network, blocksdir)
        write_rows(replay_flows(reader, where, trust_files), fmt, output)


@main.group()
def labels() -> None:
    """Exchange labels."""


@labels.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@index_option
@network_option
@pools_option
@one_line_errors
def labels_import(file: Path, index: Path, network: str, pools: Path | None) -> None:
    """Check a labels CSV and set it as the labels of an index that holds no blocks yet.

    An index with blocks keeps its labels: flows depend on them, so new labels need a re-index
    (`minerflow reindex --labels FILE` into a new --index).

    Example: minerflow labels import exchanges.csv --index ~/idx --network main
    """
    net = network_named(network)
    existing_file(file, "labels")
    labels_set = load_labels(file, net)
    pools_list, _labels = resolve_lists(index, net, existing_file(pools, "pools"), file)
    if (index / "CURRENT").exists():
        with Store(index) as store:
            state = store.state
            if state is not None and state.tip_height >= 0:
                if state.labels_sha256 == labels_set.sha256:
                    click.echo(f"index {index} already uses these labels")
                    return
                raise ConfigError(
                    f"index {index} holds {state.tip_height + 1} blocks indexed with other "
                    f"labels: re-index with `minerflow reindex --labels {file}` into a new --index"
                )
    store = open_for_writing(index, net, pools_list, labels_set)
    store.close()
    exchanges = len(labels_set.exchanges)
    click.echo(f"{len(labels_set.labels)} labels ({exchanges} exchange addresses) set for {index}")


@main.group()
def pools() -> None:
    """The pools list."""


@pools.command("show")
@click.option("--pools", "pools_path", type=click.Path(path_type=Path),
              help="A pools-v2.json file (default: the bundled list).")
@click.option("--index", type=click.Path(path_type=Path), help="Show the list of this index.")
@one_line_errors
def pools_show(pools_path: Path | None, index: Path | None) -> None:
    """List pools with their slugs, tag and address counts.

    Example: minerflow pools show --pools pools-v2.json
    """
    if index is not None:
        with Store(index) as store:
            plist = IndexReader(store).pools
    else:
        plist = load_pools(existing_file(pools_path, "pools") or default_pools_path())
    for p in plist.pools:
        click.echo(f"{p.id:4} {p.slug:24} {p.name:28} tags={len(p.tags)} "
                   f"addresses={len(p.addresses)}")
    click.echo(f"{len(plist.pools) - 1} pools, sha256 {plist.sha256}")


