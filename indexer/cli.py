"""The `minerflow` command: thin click shells over the library.

Settings are built once per command and passed down; domain errors become one line and exit
status 1 here, at the edge, never a traceback for a user's mistake.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import click
from tqdm import tqdm

from indexer import __version__
from indexer.attribution.pools import PoolsList, load_pools, parse_pools
from indexer.config import (
    Network,
    blocks_dir,
    default_labels_path,
    default_pools_path,
    get_network,
)
from indexer.errors import ConfigError, MinerflowError
from indexer.export import write_rows as export_rows
from indexer.flows.labels import EMPTY_LABELS, LabelSet, labels_from_json, load_labels
from indexer.follow import Follower
from indexer.pipeline import (
    FLUSH_BLOCKS,
    BlockFileSource,
    RunReport,
    open_for_writing,
    reindex,
    sync,
)
from indexer.reader import IndexReader
from indexer.series import series_rows
from indexer.source.node import LocalFiles, NodeSource
from indexer.source.rpc import NodeClient, node_endpoint
from indexer.store import keys
from indexer.store.db import Store

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("minerflow")


def one_line_errors(fn: F) -> F:
    """Turn minerflow's own errors into `Error: <one line>` and exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MinerflowError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper  # type: ignore[return-value]


@click.group()
@click.version_option(__version__, prog_name="minerflow")
@click.option("-v", "--verbose", is_flag=True, help="Log progress details.")
def main(verbose: bool) -> None:
    """Index a Bitcoin node's chain: pool attribution, miner balances and flows to exchanges."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


def _network(name: str) -> Network:
    return get_network(name)


def _existing_file(path: Path | None, what: str) -> Path | None:
    if path is not None and not path.is_file():
        raise ConfigError(f"{what} file {path} does not exist")
    return path


def resolve_lists(index: Path, network: Network, pools_path: Path | None,
                  labels_path: Path | None) -> tuple[PoolsList, LabelSet]:
    """Pools and labels given on the command line, else those the index was built with, else
    the bundled defaults (mainnet labels on mainnet only)."""
    stored_pools = stored_labels = None
    if pools_path is None or labels_path is None:
        if (index / "CURRENT").exists():
            with Store(index) as store:
                if store.state is not None:
                    stored_pools = store.get(keys.POOLS_LIST)
                    stored_labels = store.get(keys.LABELS_LIST)
    if pools_path is not None:
        pools = load_pools(pools_path)
    elif stored_pools is not None:
        pools = parse_pools(json.loads(stored_pools), f"index {index}")
    else:
        pools = load_pools(default_pools_path())
    if labels_path is not None:
        labels = load_labels(labels_path, network)
    elif stored_labels is not None:
        labels = labels_from_json(stored_labels, network)
    elif network.name == "main":
        labels = load_labels(default_labels_path(), network)
    else:
        labels = EMPTY_LABELS
    return pools, labels


class Progress:
    """tqdm progress on a TTY (blocks/s, MB/s, ETA); silent otherwise."""

    def __init__(self, total: int, first: int) -> None:
        self.bar = tqdm(total=total, initial=0, unit="blk", disable=not sys.stderr.isatty(),
                        dynamic_ncols=True, desc="indexing")
        self.started = time.monotonic()
        self.bytes = 0
        self.first = first

    def __call__(self, height: int, size: int) -> None:
        self.bytes += size
        self.bar.update(1)
        if self.bar.n % 50 == 0:
            elapsed = max(time.monotonic() - self.started, 1e-9)
            self.bar.set_postfix_str(f"height {height}, {self.bytes / elapsed / 1e6:.1f} MB/s")

    def close(self) -> None:
        self.bar.close()


def run_reindex(datadir: Path | None, blocksdir: Path | None, network: Network, index: Path,
                pools_path: Path | None, labels_path: Path | None,
                reorg_limit: int, flush_every: int = FLUSH_BLOCKS,
                throttle: float = 0.0) -> RunReport:
    pools_path = _existing_file(pools_path, "pools")
    labels_path = _existing_file(labels_path, "labels")
    source = BlockFileSource(blocks_dir(datadir, network, blocksdir), network)
    pools, labels = resolve_lists(index, network, pools_path, labels_path)
    store = open_for_writing(index, network, pools, labels)
    try:
        tip = store.require_state().tip_height
        progress = Progress(0, tip + 1)

        def on_block(height: int, size: int) -> None:
            progress(height, size)
            if throttle:
                time.sleep(throttle)

        report = reindex(store, source, pools, labels, reorg_limit, on_block, flush_every)
        progress.close()
    finally:
        store.close()
    return report


def print_report(report: RunReport) -> None:
    click.echo(f"indexed {report.applied} block(s); tip {report.tip_height} {report.tip_hash}"
               + (f"; rolled back {report.rolled_back}" if report.rolled_back else "")
               + (f"; {report.stale} stale block(s) ignored" if report.stale else ""))
    for note in report.notes:
        click.echo(f"warning: {note}", err=True)


datadir_option = click.option("--datadir", type=click.Path(path_type=Path),
                              help="The node's datadir (the network subfolder is appended).")
blocksdir_option = click.option("--blocksdir", type=click.Path(path_type=Path),
                                help="Where blk*.dat live, when not under --datadir.")
network_option = click.option("--network", default="main", show_default=True,
                              help="main, test, testnet4, signet or regtest.")
index_option = click.option("--index", required=True, type=click.Path(path_type=Path),
                            help="The index directory (LevelDB).")
pools_option = click.option("--pools", type=click.Path(path_type=Path),
                            help="A pools-v2.json list (default: the bundled mainnet list).")
labels_option = click.option("--labels", type=click.Path(path_type=Path),
                             help="Exchange labels CSV address,entity,category[,source].")


@main.command("reindex")
@datadir_option
@blocksdir_option
@network_option
@index_option
@pools_option
@labels_option
@click.option("--reorg-limit", default=288, show_default=True, type=click.IntRange(1),
              help="Blocks of undo data kept for reorgs.")
@click.option("--flush-every", default=FLUSH_BLOCKS, type=click.IntRange(1), hidden=True)
@click.option("--throttle", default=0.0, type=float, hidden=True,
              help="Test hook: sleep this long after each block (crash tests).")
@one_line_errors
def reindex_cmd(datadir: Path | None, blocksdir: Path | None, network: str, index: Path,
                pools: Path | None, labels: Path | None, reorg_limit: int,
                flush_every: int, throttle: float) -> None:
    """Index the active chain from the node's block files (resumes where it stopped).

    Example: minerflow reindex --datadir ~/.bitcoin --network main --index ~/minerflow-index
    """
    report = run_reindex(datadir, blocksdir, _network(network), index, pools, labels,
                         reorg_limit, flush_every, throttle)
    print_report(report)


rpc_url_option = click.option("--rpc-url", help="The node's RPC URL (default: from bitcoin.conf, "
                              "else 127.0.0.1 and the network's port).")
rpc_user_option = click.option("--rpc-user", envvar="MINERFLOW_RPC_USER",
                               help="RPC user (default: the cookie file or bitcoin.conf).")
rpc_password_option = click.option("--rpc-password", envvar="MINERFLOW_RPC_PASSWORD",
                                   help="RPC password (or MINERFLOW_RPC_PASSWORD).")


def make_node_source(network: Network, datadir: Path | None, rpc_url: str | None,
                     rpc_user: str | None, rpc_password: str | None,
                     retries: int = 5) -> NodeSource:
    if datadir is None and rpc_url is None:
        raise ConfigError("give --datadir or --rpc-url to reach the node")
    url, auth = node_endpoint(network, rpc_url, datadir, rpc_user, rpc_password)
    local = None
    if datadir is not None:
        try:
            local = LocalFiles(blocks_dir(datadir, network), network)
        except MinerflowError:
            local = None  # blocks come over RPC
    return NodeSource(NodeClient(url, auth, retries=retries, backoff=0.2), network, local)


@main.command("sync")
@index_option
@datadir_option
@rpc_url_option
@rpc_user_option
@rpc_password_option
@network_option
@pools_option
@labels_option
@click.option("--reorg-limit", default=288, show_default=True, type=click.IntRange(1))
@click.option("--follow", is_flag=True, help="Keep following the node's tip.")
@click.option("--poll", default=5.0, show_default=True, type=click.FloatRange(0.05),
              help="Seconds between polls of the node when following.")
@click.option("--retries", default=5, show_default=True, type=click.IntRange(0),
              help="Retries (with backoff) before the node counts as unavailable.")
@click.option("--flush-every", default=FLUSH_BLOCKS, type=click.IntRange(1), hidden=True)
@click.option("--throttle", default=0.0, type=float, hidden=True,
              help="Test hook: sleep this long after each block (crash tests).")
@one_line_errors
def sync_cmd(index: Path, datadir: Path | None, rpc_url: str | None, rpc_user: str | None,
             rpc_password: str | None, network: str, pools: Path | None, labels: Path | None,
             reorg_limit: int, follow: bool, poll: float, retries: int,
             flush_every: int, throttle: float) -> None:
    """Catch up with the node's best block (handling reorgs); with --follow, keep following.

    Example: minerflow sync --index ~/idx --datadir ~/.bitcoin --network main --follow
    """
    net = _network(network)
    node = make_node_source(net, datadir, rpc_url, rpc_user, rpc_password, retries)
    pools_list, labels_set = resolve_lists(index, net, _existing_file(pools, "pools"),
                                           _existing_file(labels, "labels"))
    store = open_for_writing(index, net, pools_list, labels_set)
    try:
        if not follow:
            print_report(sync(store, node, pools_list, labels_set, reorg_limit,
                              (lambda _h, _s: time.sleep(throttle)) if throttle else None,
                              flush_blocks=flush_every))
            return
        follower = Follower(store, node, pools_list, labels_set, reorg_limit, poll,
                            flush_every)
        try:
            follower.run(on_report=print_report)
        except KeyboardInterrupt:
            click.echo("stopped")
    finally:
        store.close()


@main.command()
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print the state as JSON.")
@one_line_errors
def status(index: Path, as_json: bool) -> None:
    """Show the index tip, network, format and the lists it was built with.

    Example: minerflow status --index ~/minerflow-index
    """
    with Store(index) as store:
        reader = IndexReader(store)
        state = reader.state
        info = {
            "network": state.network, "format": state.format, "genesis": state.genesis,
            "tip_height": state.tip_height, "tip_hash": state.tip_hash,
            "tip_time": reader.block(state.tip_height).chain_time if state.tip_height >= 0
            else None,
            "pools_sha256": state.pools_sha256, "labels_sha256": state.labels_sha256,
            "pools": len(reader.pools.pools) - 1,
        }
    if as_json:
        click.echo(json.dumps(info))
    else:
        for key, value in info.items():
            click.echo(f"{key:14} {value}")


@main.group()
def export() -> None:
    """Export blocks or series as JSON lines or CSV."""


format_option = click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]),
                             default="jsonl", show_default=True)
output_option = click.option("--output", "-o", type=click.Path(path_type=Path),
                             help="Write to this file instead of standard output.")


def write_rows(rows: Iterable[dict[str, Any]], fmt: str, output: Path | None) -> int:
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
@click.option("--interval", type=click.Choice(["day", "block"]), default="day",
              show_default=True)
@click.option("--since", help="First day (YYYY-MM-DD) or height.")
@click.option("--until", help="Last day (YYYY-MM-DD) or height, inclusive.")
@click.option("--derived", is_flag=True,
              help="Daily only: add net_position_change_30d and outflow_multiple (BTC).")
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
    net = _network(network)
    _existing_file(file, "labels")
    labels_set = load_labels(file, net)
    pools_list, _labels = resolve_lists(index, net, _existing_file(pools, "pools"), file)
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
        plist = load_pools(_existing_file(pools_path, "pools") or default_pools_path())
    for p in plist.pools:
        click.echo(f"{p.id:4} {p.slug:24} {p.name:28} tags={len(p.tags)} "
                   f"addresses={len(p.addresses)}")
    click.echo(f"{len(plist.pools) - 1} pools, sha256 {plist.sha256}")


@main.command()
@index_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--follow", is_flag=True, help="Also follow the node (give --datadir or --rpc-url).")
@datadir_option
@rpc_url_option
@rpc_user_option
@rpc_password_option
@click.option("--poll", default=5.0, show_default=True, type=click.FloatRange(0.05))
@click.option("--reorg-limit", default=288, show_default=True, type=click.IntRange(1))
@one_line_errors
def serve(index: Path, host: str, port: int, follow: bool, datadir: Path | None,
          rpc_url: str | None, rpc_user: str | None, rpc_password: str | None, poll: float,
          reorg_limit: int) -> None:
    """Serve the HTTP API (/v1, OpenAPI at /docs) and dashboard over one index; with
    --follow, keep the index at the node's tip in the same process.

    Example: minerflow serve --index ~/idx --follow --datadir ~/.bitcoin
    """
    follow_args = (datadir, rpc_url, rpc_user, rpc_password, poll, reorg_limit) if follow \
        else None
    serve_index(index, host, port, follow_args)


def serve_index(index: Path, host: str, port: int,
                follow_args: tuple[Any, ...] | None = None) -> None:
    import uvicorn

    from api.main import create_app

    store = Store(index)
    try:
        state = store.require_state()
        follower = None
        if follow_args is not None:
            datadir, rpc_url, rpc_user, rpc_password, poll, reorg_limit = follow_args
            network = get_network(state.network)
            node = make_node_source(network, datadir, rpc_url, rpc_user, rpc_password)
            pools_raw, labels_raw = store.get(keys.POOLS_LIST), store.get(keys.LABELS_LIST)
            assert pools_raw is not None and labels_raw is not None
            follower = Follower(store, node, parse_pools(json.loads(pools_raw), str(index)),
                                labels_from_json(labels_raw, network), reorg_limit, poll)
    except BaseException:
        store.close()
        raise
    app = create_app(store, follower=follower, close_store=True)
    click.echo(f"serving {index} at http://{host}:{port}/ (API docs at /docs)"
               + (" and following the node" if follower else ""))
    uvicorn.run(app, host=host, port=port, workers=1, log_level="warning")


def sample_dir() -> Path:
    return Path(str(resources.files("indexer") / "data" / "sample"))


@main.command()
@click.option("--index", type=click.Path(path_type=Path),
              help="Where to build the demo index (default: a new temporary directory).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--no-serve", is_flag=True, help="Index and summarise, then exit.")
@one_line_errors
def demo(index: Path | None, host: str, port: int, no_serve: bool) -> None:
    """Index the bundled regtest sample chain and serve it.

    Example: minerflow demo --port 8000
    """
    sample = sample_dir()
    target = index or Path(tempfile.mkdtemp(prefix="minerflow-demo-")) / "index"
    report = run_reindex(sample, None, get_network("regtest"), target, sample / "pools.json",
                         sample / "exchanges.csv", 288)
    print_report(report)
    with Store(target) as store:
        reader = IndexReader(store)
        for line in summary_lines(reader):
            click.echo(line)
    if not no_serve:
        serve_index(target, host, port)


def summary_lines(reader: IndexReader) -> Iterator[str]:
    counts, total, _first = reader.pool_counts("all")
    yield f"{'pool':14} {'blocks':>6} {'share':>6} {'balance L0 BTC':>15} {'balance L1 BTC':>15}"
    for entity in reader.entities():
        blocks = counts.get(entity.id, 0) if entity.slug != "all" else total
        share = f"{blocks / total:.1%}" if total else "-"
        yield (f"{entity.slug:14} {blocks:>6} {share:>6} "
               f"{reader.balance(entity.id, 0) / 1e8:>15.8f} "
               f"{reader.balance(entity.id, 1) / 1e8:>15.8f}")
