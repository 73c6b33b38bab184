"""Commands that serve: `serve` (API, dashboard, optional follower) and `demo`."""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import click

from indexer.attribution.pools import parse_pools
from indexer.cli.common import (
    datadir_option,
    index_option,
    main,
    make_node_source,
    make_notifier,
    one_line_errors,
    print_report,
    reorg_limit_option,
    rpc_password_option,
    rpc_url_option,
    rpc_user_option,
    zmq_option,
)
from indexer.cli.index import run_reindex
from indexer.config import get_network
from indexer.errors import ConfigError
from indexer.follow import Follower
from indexer.labels.indexed import stored_labels
from indexer.mining_series import window_totals
from indexer.reader import IndexReader
from indexer.store import keys
from indexer.store.db import Store


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
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              help="One line per request on standard error (common log format).")
@reorg_limit_option
@zmq_option
@one_line_errors
def serve(index: Path, host: str, port: int, follow: bool, datadir: Path | None,
          rpc_url: str | None, rpc_user: str | None, rpc_password: str | None, poll: float,
          access_log: bool, reorg_limit: int, zmq_url: str | None) -> None:
    """Serve the HTTP API (/v1, OpenAPI at /docs) and dashboard over one index; with
    --follow, keep the index at the node's tip in the same process.

    Example: minerflow serve --index ~/idx --follow --datadir ~/.bitcoin
    """
    follow_args = (datadir, rpc_url, rpc_user, rpc_password, poll, reorg_limit, zmq_url) \
        if follow else None
    serve_index(index, host, port, follow_args, access_log)


def serve_index(index: Path, host: str, port: int,
                follow_args: tuple[Any, ...] | None = None, access_log: bool = True) -> None:
    import uvicorn

    from api.main import create_app
    from api.monitoring import log_access

    port_free(host, port)
    store = Store(index)
    try:
        store.require_state()
        factory: Callable[[Store], Follower] | None = None
        first: Follower | None = None
        if follow_args is not None:
            datadir, rpc_url, rpc_user, rpc_password, poll, reorg_limit, zmq_url = follow_args

            def make_follower(served: Store) -> Follower:
                """A follower of the node over `served` (the index, or its next generation)."""
                network = get_network(served.require_state().network)
                node = make_node_source(network, datadir, rpc_url, rpc_user, rpc_password)
                pools_raw = served.get(keys.POOLS_LIST)
                assert pools_raw is not None
                return Follower(served, node, parse_pools(json.loads(pools_raw), str(index)),
                                stored_labels(served), reorg_limit, poll,
                                notifier=make_notifier(network, zmq_url, datadir))

            first = make_follower(store)  # a wrong network or credentials fail here
            factory = make_follower
    except BaseException:
        store.close()
        raise
    shown = f"[{host}]" if ":" in host else host
    local = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, shown)
    app = create_app(store, follower=first, follower_factory=factory, close_store=True,
                     url=f"http://{local}:{port}")  # where status and export find it
    if access_log:
        log_access(sys.stderr)
    click.echo(f"serving {index} at http://{host}:{port}/ (API docs at /docs)"
               + (" and following the node" if factory is not None else ""))
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
    if not no_serve:
        port_free(host, port)
    with contextlib.ExitStack() as stack:
        if index is None:  # a temporary index, removed when the demo ends
            index = Path(stack.enter_context(
                tempfile.TemporaryDirectory(prefix="minerflow-demo-"))) / "index"
            click.echo(f"demo index in {index} (removed on exit; --index DIR keeps one)",
                       err=True)
        sample = sample_dir()
        report = run_reindex(sample, None, get_network("regtest"), index,
                             sample / "pools.json", sample / "exchanges.csv", 288)
        print_report(report)
        with Store(index) as store:
            reader = IndexReader(store)
            for line in summary_lines(reader):
                click.echo(line)
        if not no_serve:
            serve_index(index, host, port)


def port_free(host: str, port: int) -> None:
    """ConfigError unless `host:port` can be listened on (said before anything is built)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host}: {exc.strerror}") from None
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror}): another "
                              f"server uses the port? choose another --port") from None


def summary_lines(reader: IndexReader) -> Iterator[str]:
    totals = window_totals(reader, "all")
    total = totals.network.blocks
    yield f"{'pool':14} {'blocks':>6} {'share':>6} {'balance L0 BTC':>15} {'balance L1 BTC':>15}"
    for entity in reader.entities():
        blocks = totals.pools[entity.id].blocks if entity.id in totals.pools else 0
        blocks = total if entity.slug == "all" else blocks
        share = f"{blocks / total:.1%}" if total else "-"
        yield (f"{entity.slug:14} {blocks:>6} {share:>6} "
               f"{reader.balance(entity.id, 0) / 1e8:>15.8f} "
               f"{reader.balance(entity.id, 1) / 1e8:>15.8f}")
