"""Commands that read or prepare data: `export`, `prices`, `pools`."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from indexer.attribution.pools import PoolsList, load_pools
from indexer.cli import remote
from indexer.cli.common import (
    blocksdir_option,
    datadir_option,
    existing_file,
    index_option,
    main,
    one_line_errors,
    trust_files_option,
)
from indexer.config import blocks_dir, default_pools_path
from indexer.errors import ConfigError
from indexer.export import exchange_columns
from indexer.export import write_rows as export_rows
from indexer.export_rows import ExportQuery, rows_of
from indexer.flow_export import replay_flows
from indexer.labels.indexed import stored_summary
from indexer.parquet import write_parquet
from indexer.prices import import_prices, load_prices, price_summary
from indexer.reader import IndexReader
from indexer.repool import UpdatePlan, plan_update, update_pools
from indexer.series import INTERVALS
from indexer.store import generations, writer
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


def write_rows(rows: Iterable[dict[str, Any]], fmt: str, output: Path | None,
               names: dict[str, list[str]] | None = None) -> int:
    if fmt == "parquet":
        if output is None:
            raise ConfigError("--format parquet writes a directory: give --output DIR")
        try:
            count = write_parquet(rows, output, names)
        except OSError as exc:
            raise unwritable_output(output, exc) from None
        click.echo(f"{count} rows written under {output}", err=True)
        return count
    if output is None:
        return export_rows(rows, fmt, sys.stdout, names)
    try:
        stream = output.open("w", newline="", encoding="utf-8")
    except OSError as exc:
        raise unwritable_output(output, exc) from None
    with stream:
        try:
            return export_rows(rows, fmt, stream, names)
        except OSError as exc:  # a full disk, a file system gone read-only
            raise unwritable_output(output, exc) from None


def write_export(index: Path, query: ExportQuery, fmt: str, output: Path | None) -> None:
    """The export's rows from the index, or from the server that holds it."""
    with remote.reader_or_server(index) as source:
        if isinstance(source, str):  # the server's rows; its label set recorded beside
            rows = remote.rows(source, query)
            lists = generations.read_lists(index)
            summary = lists["labels"] if lists is not None else {}
        else:
            rows, summary = rows_of(source, query), stored_summary(source.store)
        write_rows(rows, fmt, output, exchange_columns(summary))


def unwritable_output(output: Path, exc: OSError) -> ConfigError:
    """The one-line error of an --output that cannot be written, and why."""
    why = (f"its directory {output.parent} does not exist" if not output.parent.is_dir()
           else exc.strerror or str(exc))
    return ConfigError(f"--output {output}: cannot write ({why})")


@export.command("blocks")
@index_option
@format_option
@output_option
@one_line_errors
def export_blocks(index: Path, fmt: str, output: Path | None) -> None:
    """One row per active-chain block with its attribution.

    Example: minerflow export blocks --index ~/minerflow-index --format csv > blocks.csv
    """
    write_export(index, ExportQuery("blocks"), fmt, output)


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
              help="Daily only: add net_position_change_30d (sats), outflow_multiple and "
              "outflow_revenue_ratio.")
@format_option
@output_option
@one_line_errors
def export_series(index: Path, entity: str, level: str, interval: str, since: str | None,
                  until: str | None, derived: bool, fmt: str, output: Path | None) -> None:
    """Miner balance and flow series of one entity (SPEC 5).

    Example: minerflow export series --index ~/idx --entity foundryusa --level 0 --format csv
    """
    write_export(index, ExportQuery("series", entity, int(level), interval, since, until,
                                    derived), fmt, output)


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
    """Network series (SPEC 5): day, blocks, subsidy and fees (sats), difficulty, hashrate
    (H/s), supply (sats); with --pool: day, blocks, share, hashrate, subsidy, fees,
    empty_blocks.

    Example: minerflow export network --index ~/idx --pool foundryusa --format csv
    """
    write_export(index, ExportQuery("network", interval=interval, since=since, until=until,
                                    pool=pool), fmt, output)


@export.command("exchanges")
@index_option
@click.option("--entity", default="all", show_default=True,
              help="An exchange slug, or all (every exchange as one entity).")
@click.option("--interval", type=click.Choice(INTERVALS), default="day", show_default=True,
              help="Weeks start on Monday, months on the 1st (UTC); rows name their first day.")
@click.option("--since", help="First day (YYYY-MM-DD) or height.")
@click.option("--until", help="Last day (YYYY-MM-DD) or height, inclusive.")
@format_option
@output_option
@one_line_errors
def export_exchanges(index: Path, entity: str, interval: str, since: str | None,
                     until: str | None, fmt: str, output: Path | None) -> None:
    """Exchange series of every coin (SPEC 5.1): balance, inflow, outflow, netflow, fees,
    from_miners_level0/1 and from_coinbase (sats).

    Example: minerflow export exchanges --index ~/idx --entity all --format csv
    """
    write_export(index, ExportQuery("exchanges", entity, interval=interval, since=since,
                                    until=until), fmt, output)


@export.command("flows")
@index_option
@datadir_option
@blocksdir_option
@trust_files_option
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
        write_rows(replay_flows(reader, where, trust_files), fmt, output,
                   exchange_columns(stored_summary(store)))


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




@pools.command("update")
@index_option
@click.option("--pools", "pools_path", type=click.Path(path_type=Path),
              help="A pools-v2.json file (default: the bundled list).")
@one_line_errors
def pools_update(index: Path, pools_path: Path | None) -> None:
    """Attribute every indexed block with a new pools list, in place and atomically, from the
    stored coinbases (no block file is read). The miner series stay as they were built and are
    reported stale until a re-index.

    Example: minerflow pools update --index ~/idx --pools pools-v2.json
    """
    new = load_pools(existing_file(pools_path, "pools") or default_pools_path())
    with writer.exclusive(index, "minerflow pools update"), Store(index) as store:
        before = IndexReader(store).pools
        plan, moved = update_pools(store, new)
        state = store.require_state()
    if not moved and new.sha256 == before.sha256:
        click.echo(f"index {index} already uses this pools list ({new.sha256[:12]})")
        return
    click.echo(f"{plan.blocks} blocks matched, {moved} re-attributed; pools list "
               f"{new.sha256[:12]}")
    for line in move_lines(plan, before, new):
        click.echo(f"  {line}")
    if state.stale:
        click.echo(f"miner series are stale: {state.stale}")


@pools.command("diff")
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option("--index", type=click.Path(path_type=Path),
              help="Also say which of this index's blocks the new list would move.")
@one_line_errors
def pools_diff(old: Path, new: Path, index: Path | None) -> None:
    """Which pools a new list adds, removes or changes; with --index, how many blocks move.

    Example: minerflow pools diff pools-old.json pools-v2.json --index ~/idx
    """
    before = load_pools(existing_file(old, "pools") or old)
    after = load_pools(existing_file(new, "pools") or new)
    for line in pool_changes(before, after):
        click.echo(line)
    if index is not None:
        with Store(index) as store:
            plan = plan_update(store, after)
        click.echo(f"{len(plan.moves)} of {plan.blocks} blocks would be re-attributed")
        for line in move_lines(plan, before, after):
            click.echo(f"  {line}")


def pool_changes(before: PoolsList, after: PoolsList) -> list[str]:
    old, new = before.by_id, after.by_id
    lines = [f"+ {new[i].slug} (id {i})" for i in sorted(set(new) - set(old))]
    lines += [f"- {old[i].slug} (id {i})" for i in sorted(set(old) - set(new))]
    for i in sorted(set(old) & set(new)):
        a, b = old[i], new[i]
        what = [name for name, x, y in (("name", a.name, b.name), ("tags", a.tags, b.tags),
                                         ("addresses", a.addresses, b.addresses),
                                         ("link", a.link, b.link)) if x != y]
        if what:
            lines.append(f"~ {b.slug} (id {i}): {', '.join(what)}")
    return lines or ["no pool changed"]


def move_lines(plan: UpdatePlan, before: PoolsList, after: PoolsList) -> list[str]:
    def slug(pool_id: int, *lists: PoolsList) -> str:
        for plist in lists:
            if pool_id in plist.by_id:
                return plist.by_id[pool_id].slug
        return f"id {pool_id}"

    return [f"{slug(a, before, after)} -> {slug(b, after, before)}: {n} blocks"
            for (a, b), n in sorted(plan.moved_between().items(), key=lambda kv: -kv[1])]


@main.group()
def prices() -> None:
    """Daily USD prices for the USD fields and price-based indicators."""


@prices.command("import")
@index_option
@click.argument("file", type=click.Path(path_type=Path))
@one_line_errors
def prices_import(index: Path, file: Path) -> None:
    """Add or replace daily closes from a CSV file `date,close_usd`; a bad row is reported
    with its line number and nothing is written.

    Example: minerflow prices import --index ~/idx btc-usd.csv
    """
    loaded = load_prices(existing_file(file, "prices") or file)
    with writer.exclusive(index, "minerflow prices import"), Store(index) as store:
        import_prices(store, loaded)
        summary = price_summary(IndexReader(store))
    assert summary is not None
    click.echo(f"{len(loaded)} prices imported; the index holds {summary.days} days of "
               f"prices, {summary.first} to {summary.last}")
