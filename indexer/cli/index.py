"""Commands that build the index: `reindex` (block files), `sync` (the node), `rollback`,
`status`."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from indexer.attribution.pools import PoolsList
from indexer.cli import remote
from indexer.cli.common import (
    Progress,
    StopSignal,
    blocksdir_option,
    datadir_option,
    existing_file,
    fail_on_damage,
    flush_every_option,
    index_option,
    labels_option,
    main,
    make_node_source,
    make_notifier,
    network_named,
    network_option,
    one_line_errors,
    pools_option,
    print_report,
    reorg_limit_option,
    resolve_lists,
    rpc_password_option,
    rpc_url_option,
    rpc_user_option,
    throttle_option,
    trust_files_option,
    zmq_option,
)
from indexer.config import Network, blocks_dir, get_network
from indexer.errors import (
    ConfigError,
    MinerflowError,
    SourceError,
    StoreError,
)
from indexer.follow import Follower
from indexer.labels.indexed import labels_info
from indexer.labels.labelset import LabelSet
from indexer.pipeline import (
    FLUSH_BLOCKS,
    BlockFileSource,
    RunReport,
    open_for_writing,
    reindex,
    sync,
)
from indexer.prices import price_summary
from indexer.reader import IndexReader
from indexer.rebuild import index_lists, rebuild
from indexer.source.node import NodeSource
from indexer.store import generations, writer
from indexer.store.batch import rollback as undo_blocks
from indexer.store.batch import undo_depth
from indexer.store.db import Store
from indexer.store.retire import sweep


def run_reindex(datadir: Path | None, blocksdir: Path | None, network: Network, index: Path,
                pools_path: Path | None, labels_path: Path | None,
                reorg_limit: int, flush_every: int = FLUSH_BLOCKS,
                throttle: float = 0.0, trust_files: bool = False) -> RunReport:
    pools_path = existing_file(pools_path, "pools")
    labels_path = existing_file(labels_path, "labels")
    source = BlockFileSource(blocks_dir(datadir, network, blocksdir), network, trust_files)
    pools, labels = resolve_lists(index, network, pools_path, labels_path)
    store = open_for_writing(index, network, pools, labels)
    try:
        progress = Progress()

        def on_block(height: int, size: int) -> None:
            progress(height, size)
            if throttle:
                time.sleep(throttle)

        with StopSignal().installed() as stop:
            try:
                report = reindex(store, source, pools, labels, reorg_limit, on_block,
                                 flush_every, progress.total, stop=stop.event)
            finally:
                progress.close()
        if report.stopped:
            report.notes.append(f"stopped on {stop.name}; the index is at height "
                                f"{report.tip_height}: run the same command again to resume")
        if report.moved:
            raise StoreError(f"a rebuild made generation {generations.active_name(index)} of "
                             f"{index} active as this reindex began: nothing was done, run it "
                             f"again")
    finally:
        store.close()
    return report


@main.command("reindex")
@datadir_option
@blocksdir_option
@network_option
@index_option
@pools_option
@labels_option
@reorg_limit_option
@flush_every_option
@throttle_option
@trust_files_option
@one_line_errors
def reindex_cmd(datadir: Path | None, blocksdir: Path | None, network: str, index: Path,
                pools: Path | None, labels: Path | None, reorg_limit: int,
                flush_every: int, throttle: float, trust_files: bool) -> None:
    """Index the active chain from the node's block files (resumes where it stopped).

    Every block is checked against its header's merkle root; a damaged block in the active
    chain ends the pass at its parent, with file, offset and height, and a non-zero exit.

    Example: minerflow reindex --datadir ~/.bitcoin --network main --index ~/minerflow-index
    """
    report = run_reindex(datadir, blocksdir, network_named(network), index, pools, labels,
                         reorg_limit, flush_every, throttle, trust_files)
    print_report(report)
    fail_on_damage(report)


@main.command("sync")
@index_option
@datadir_option
@rpc_url_option
@rpc_user_option
@rpc_password_option
@network_option
@pools_option
@labels_option
@reorg_limit_option
@click.option("--follow", is_flag=True, help="Keep following the node's tip.")
@click.option("--poll", default=5.0, show_default=True, type=click.FloatRange(0.05),
              help="Seconds between polls of the node when following.")
@click.option("--retries", default=5, show_default=True, type=click.IntRange(0),
              help="Retries (with backoff) before the node counts as unavailable.")
@flush_every_option
@throttle_option
@zmq_option
@one_line_errors
def sync_cmd(index: Path, datadir: Path | None, rpc_url: str | None, rpc_user: str | None,
             rpc_password: str | None, network: str, pools: Path | None, labels: Path | None,
             reorg_limit: int, follow: bool, poll: float, retries: int,
             flush_every: int, throttle: float, zmq_url: str | None) -> None:
    """Catch up with the node's best block (handling reorgs); with --follow, keep following.

    Example: minerflow sync --index ~/idx --datadir ~/.bitcoin --network main --follow
    """
    net = network_named(network)
    node = make_node_source(net, datadir, rpc_url, rpc_user, rpc_password, retries)
    pools_list, labels_set = resolve_lists(index, net, existing_file(pools, "pools"),
                                           existing_file(labels, "labels"))
    notifier = make_notifier(net, zmq_url, datadir)
    store = open_for_writing(index, net, pools_list, labels_set)
    try:
        with StopSignal().installed() as stop:
            node.client.interrupt = stop.event
            stop.callbacks.append(node.client.interrupt_now)
            while True:
                if not follow:
                    moved = sync_once(store, node, pools_list, labels_set, reorg_limit,
                                      flush_every, throttle, stop)
                else:
                    follower = Follower(store, node, pools_list, labels_set, reorg_limit,
                                        poll, flush_every, notifier)
                    stop.callbacks.append(follower.stop)
                    follower.run(on_report=print_report)
                    moved = follower.moved
                if not moved or stop.name is not None:
                    break
                # a rebuild made a new generation active: close the old one, go on with the new
                store.close()
                sweep(index)
                pools_list, labels_set = resolve_lists(index, net, None, None)
                store = open_for_writing(index, net, pools_list, labels_set)
                click.echo(f"generation {generations.active_name(index)} of {index} is "
                           f"active now (rebuilt); going on with it", err=True)
            if stop.name is not None:
                click.echo(f"stopped on {stop.name}; the index is at height "
                           f"{store.require_state().tip_height}", err=True)
    finally:
        store.close()
        if notifier is not None:
            notifier.close()


def sync_once(store: Store, node: NodeSource, pools: PoolsList, labels: LabelSet,
              reorg_limit: int, flush_every: int, throttle: float, stop: StopSignal) -> bool:
    """One `sync` pass with a progress bar; whether a rebuild retired the generation."""
    progress = Progress("syncing")

    def on_block(height: int, size: int) -> None:
        progress(height, size)
        if throttle:
            time.sleep(throttle)

    try:
        report = sync(store, node, pools, labels, reorg_limit, on_block,
                      flush_blocks=flush_every, on_total=progress.total, stop=stop.event)
        if report.moved:
            return True
        print_report(report)
        if report.damage:
            raise SourceError(f"a block from the node failed its check (see above); the index "
                              f"stops at height {report.tip_height}, its parent")
    except MinerflowError:
        if stop.name is None:  # not a call cut short by the signal
            raise
    finally:
        progress.close()
    return False


@main.command()
@index_option
@click.option("--to", "to_height", required=True, type=click.IntRange(-1),
              help="The height the index is to end at (its block stays indexed).")
@one_line_errors
def rollback(index: Path, to_height: int) -> None:
    """Undo the newest blocks of the index down to a height, within the undo kept
    (--reorg-limit blocks), in one atomic write; a following sync indexes them again.

    Example: minerflow rollback --index ~/minerflow-index --to 870000
    """
    with writer.exclusive(index, "minerflow rollback"), Store(index) as store:
        state = store.require_state()
        if to_height >= state.tip_height:
            raise ConfigError(f"--to {to_height}: the index tip is {state.tip_height}; "
                              f"rollback only goes down")
        kept = undo_depth(store)
        if state.tip_height - to_height > kept:
            raise ConfigError(f"--to {to_height}: the index keeps undo for its newest {kept} "
                              f"block(s) (tip {state.tip_height}), so it can go down to height "
                              f"{state.tip_height - kept} at the lowest; lower needs a re-index")
        undo_blocks(store, to_height)
        tip = store.require_state()
    click.echo(f"rolled back {state.tip_height - to_height} block(s); tip {tip.tip_height} "
               f"{tip.tip_hash}")


@main.command("rebuild")
@index_option
@datadir_option
@blocksdir_option
@trust_files_option
@one_line_errors
def rebuild_cmd(index: Path, datadir: Path | None, blocksdir: Path | None,
                trust_files: bool) -> None:
    """Build the index anew from the node's block files into a new generation beside the
    active one, then activate it atomically: after `pools update` or `labels import`, the
    series are fresh again. A running `serve` keeps answering from the old generation and
    switches on its next request; a killed rebuild resumes when run again.

    Example: minerflow rebuild --index ~/idx --datadir ~/.bitcoin
    """
    network = get_network(str(index_lists(index)["network"]))
    name, report = rebuild(index, blocks_dir(datadir, network, blocksdir),
                           trust_files=trust_files)
    for note in report.notes:
        click.echo(f"warning: {note}", err=True)
    click.echo(f"generation {name} active: {report.applied} block(s) indexed; tip "
               f"{report.tip_height} {report.tip_hash or ''}".rstrip())


def index_status(reader: IndexReader, index: Path) -> dict[str, Any]:
    state = reader.state
    return {
        "network": state.network, "format": state.format, "genesis": state.genesis,
        "tip_height": state.tip_height, "tip_hash": state.tip_hash,
        "tip_time": reader.block(state.tip_height).chain_time if state.tip_height >= 0
        else None,
        "pools_sha256": state.pools_sha256, "labels_sha256": state.labels_sha256,
        "labels": labels_info(reader.store),
        "pools": len(reader.pools.pools) - 1,
        "pools_versions": [{"sha256": sha, "blocks": n} for sha, n in reader.pools_versions()],
        "generation": generations.active_name(index) or "plain",
        "stale": state.stale,
        "prices": asdict(span) if (span := price_summary(reader)) else "none",
    }


def served_status(answer: dict[str, Any], index: Path) -> dict[str, Any]:
    """`index_status` from the `/v1/status` of the server that holds the index."""
    return {
        "network": answer["network"], "format": answer["index_format"],
        "genesis": answer["genesis"], "tip_height": answer["tip_height"],
        "tip_hash": answer["tip_hash"], "tip_time": answer["tip_time"],
        "pools_sha256": answer["pools_sha256"], "labels_sha256": answer["labels_sha256"],
        "labels": answer["labels"], "pools": answer["pools"],
        "pools_versions": answer["pools_versions"],
        "generation": generations.active_name(index) or "plain",
        "stale": answer["stale_reason"], "prices": answer["prices"],
    }


@main.command()
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print the state as JSON.")
@one_line_errors
def status(index: Path, as_json: bool) -> None:
    """Show the index tip, network, format and the lists it was built with (asking the
    `minerflow serve` that holds the index, when one does).

    Example: minerflow status --index ~/minerflow-index
    """
    with remote.reader_or_server(index) as source:
        info = (served_status(remote.status(source), index) if isinstance(source, str)
                else index_status(source, index))
    if as_json:
        click.echo(json.dumps(info))
    else:
        for key, value in info.items():
            click.echo(f"{key:14} {value}")


