"""What every `minerflow` command shares: the group, options, list resolution, one-line
errors, progress and reports. Commands live in the sibling modules, one per concern."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import shlex
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click

from indexer import __version__
from indexer.attribution.pools import PoolsList, load_pools, parse_pools
from indexer.config import (
    Network,
    blocks_dir,
    default_pools_path,
    get_network,
)
from indexer.errors import ConfigError, IndexLockedError, IndexMismatchError, MinerflowError
from indexer.labels.indexed import stored_labels
from indexer.labels.labelset import EMPTY_LABELS, LabelSet, bundled_path, prepare
from indexer.pipeline import FLUSH_BLOCKS, RunReport
from indexer.source.node import LocalFiles, NodeSource
from indexer.source.rpc import NodeClient, node_endpoint, zmq_endpoint
from indexer.source.zmq_notify import BlockNotifier
from indexer.store import generations, keys, serving
from indexer.store.db import Store

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("minerflow")


def one_line_errors(fn: F) -> F:
    """Turn minerflow's own errors into `Error: <one line>` and exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except IndexLockedError as exc:
            raise click.ClickException(held_by_server(exc, kwargs.get("index"))) from None
        except MinerflowError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def held_by_server(exc: IndexLockedError, index: object) -> str:
    """The lock error, or, when a `minerflow serve` holds the index, what to do: this command
    changes the index, so the server has to stop for it (reads go to the server itself)."""
    url = serving.read(index) if isinstance(index, Path) else None
    if url is None:
        return str(exc)
    command = " ".join(["minerflow", *map(shlex.quote, sys.argv[1:])])
    return (f"index {index} is held by `minerflow serve` at {url}, and this command changes "
            f"it: stop the server, run `{command}`, then start the server again")


@click.group()
@click.version_option(__version__, prog_name="minerflow")
@click.option("-v", "--verbose", is_flag=True, help="Log progress details.")
def main(verbose: bool) -> None:
    """Index a Bitcoin node's chain: pool attribution, miner balances and flows to exchanges."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


def network_named(name: str) -> Network:
    return get_network(name)


def existing_file(path: Path | None, what: str) -> Path | None:
    if path is not None and not path.is_file():
        raise ConfigError(f"{what} file {path} does not exist")
    return path


def resolve_lists(index: Path, network: Network, pools_path: Path | None,
                  labels_path: Path | None) -> tuple[PoolsList, LabelSet]:
    """Pools and labels given on the command line, else those the index was built with, else
    the bundled defaults (mainnet labels on mainnet only)."""
    stored_pools = stored = None
    if pools_path is None or labels_path is None:
        if generations.index_exists(index):
            with Store(index) as store:
                if store.state is not None:
                    if store.state.network != network.name:
                        raise IndexMismatchError(
                            f"index {index} holds the {store.state.network!r} chain, not "
                            f"{network.name!r}: give --network {store.state.network} (or a "
                            f"new --index directory)")
                    stored_pools = store.get(keys.POOLS_LIST)
                    stored = stored_labels(store)
    if pools_path is not None:
        pools = load_pools(pools_path)
    elif stored_pools is not None:
        pools = parse_pools(json.loads(stored_pools), f"index {index}")
    else:
        pools = load_pools(default_pools_path())
    return pools, labels_for(index, network, labels_path, stored)


def labels_for(index: Path, network: Network, labels_path: Path | None,
               stored: LabelSet | None) -> LabelSet:
    """The label set of a command: the file given (made canonical in the index's directory),
    else the index's own, else the network's bundled seeds, else none."""
    source = labels_path if labels_path is not None else (
        None if stored is not None else bundled_path(network))
    if source is None:
        return stored if stored is not None else EMPTY_LABELS
    return prepare(source, network, index)


class Progress:
    """tqdm progress on a TTY: blocks, blocks/s, MB/s and ETA; silent otherwise (and tqdm, 15 ms
    of imports, is then not loaded)."""

    def __init__(self, desc: str = "indexing") -> None:
        self.bar: Any = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            width = shutil.get_terminal_size((100, 24)).columns
            self.bar = tqdm(total=None, unit="blk", dynamic_ncols=width > 0,
                            ncols=None if width > 0 else 100, desc=desc, smoothing=0.05)
        self.started = time.monotonic()
        self.bytes = 0

    def total(self, blocks: int) -> None:
        if self.bar is not None:
            self.bar.reset(total=blocks)
        self.started = time.monotonic()

    def __call__(self, height: int, size: int) -> None:
        self.bytes += size
        bar = self.bar
        if bar is None:
            return
        bar.update(1)
        if bar.n % 50 == 0 or bar.n == bar.total:
            elapsed = max(time.monotonic() - self.started, 1e-9)
            bar.set_postfix_str(f"height {height}, {self.bytes / elapsed / 1e6:.1f} MB/s",
                                refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def print_report(report: RunReport) -> None:
    click.echo(f"indexed {report.applied} block(s); tip {report.tip_height} {report.tip_hash}"
               + (f"; rolled back {report.rolled_back}" if report.rolled_back else "")
               + (f"; {report.stale} stale block(s) ignored" if report.stale else ""))
    for note in report.notes:
        click.echo(f"warning: {note}", err=True)
    for note in report.damage:
        click.echo(f"damaged: {note}", err=True)
    if report.waiting:
        click.echo(f"waiting: {report.waiting}", err=True)


class StopSignal:
    """SIGINT or SIGTERM asks the pass to stop at the next block (`event`); a second SIGINT
    interrupts at once. The index is left at a flushed block either way."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.name: str | None = None

    def _handle(self, signum: int, _frame: object) -> None:
        if self.event.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.name = signal.Signals(signum).name
        self.event.set()
        for callback in self.callbacks:
            callback()

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopSignal]:
        self.callbacks: list[Callable[[], None]] = []
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def fail_on_damage(report: RunReport) -> None:
    """Exit non-zero when damage in the block files ended the chain short."""
    if report.damage:
        raise click.ClickException(
            f"the node's block files are damaged (see above); the index stops at height "
            f"{report.tip_height}, the last good block: repair the files (for example with "
            f"bitcoind -reindex) and run again")


datadir_option = click.option("--datadir", type=click.Path(path_type=Path),
                              help="The node's datadir (the network subfolder is appended).")
trust_files_option = click.option(
    "--trust-files", is_flag=True,
    help="Skip checking each block against its merkle root (faster; damage in the block files "
    "then goes unnoticed).")
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


reorg_limit_option = click.option("--reorg-limit", default=288, show_default=True,
                                  type=click.IntRange(1),
                                  help="Blocks of undo data kept for reorgs.")
flush_every_option = click.option("--flush-every", default=FLUSH_BLOCKS, type=click.IntRange(1),
                                  hidden=True)
throttle_option = click.option("--throttle", default=0.0, type=float, hidden=True,
                               help="Test hook: sleep this long after each block (crash tests).")
rpc_url_option = click.option("--rpc-url", help="The node's RPC URL (default: from bitcoin.conf, "
                              "else 127.0.0.1 and the network's port).")
rpc_user_option = click.option("--rpc-user", envvar="MINERFLOW_RPC_USER",
                               help="RPC user (default: the cookie file or bitcoin.conf).")
rpc_password_option = click.option("--rpc-password", envvar="MINERFLOW_RPC_PASSWORD",
                                   help="RPC password (or MINERFLOW_RPC_PASSWORD).")


zmq_option = click.option("--zmq", "zmq_url",
                          help="The node's ZMQ hashblock address, e.g. tcp://127.0.0.1:28332 "
                          "(default: zmqpubhashblock from bitcoin.conf); polling stays on.")


def make_notifier(network: Network, zmq_url: str | None,
                  datadir: Path | None) -> BlockNotifier | None:
    address = zmq_endpoint(network, zmq_url, datadir)
    return BlockNotifier(address) if address else None


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


