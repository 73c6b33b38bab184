"""`minerflow rebuild`: a whole new generation of an index, built beside the serving one.

The new generation is a full pass over the node's block files with the index's current network
and lists (read from `lists.json`, so another process may hold the active generation open the
whole time). It resumes where a killed run stopped, starts over when the lists changed since,
and becomes active by one atomic rename once it reaches the files' tip. Generations no process
holds any more are removed first.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from indexer.attribution.pools import parse_pools
from indexer.config import get_network
from indexer.errors import MinerflowError, StoreError
from indexer.flows.labels import labels_from_json
from indexer.pipeline import BlockFileSource, RunReport, open_for_writing, reindex
from indexer.store import generations
from indexer.store.db import Store, unused


def index_lists(root: Path) -> dict[str, object]:
    """The network and lists of the index's active generation."""
    found = generations.read_lists(root)
    if found is None:  # an index from before lists.json: read them from it once
        with Store(root) as store:
            store.record_lists()
        found = generations.read_lists(root)
    assert found is not None
    return found


def removeunused(root: Path, keep: str) -> list[Path]:
    """Remove the inactive generations no process holds; returns what was removed."""
    removed = []
    orphans = not (root / "CURRENT").exists()  # no database left there, only its files
    if any(p.is_file() for p in generations.inactive(root, keep)) and (orphans or
                                                                        unused(root)):
        plain_files = [p for p in generations.inactive(root, keep) if p.is_file()]
        generations.remove(plain_files)  # listed after the check, which may add a file
        removed += plain_files
    for path in generations.inactive(root, keep):
        if path.is_dir() and unused(path):
            generations.remove([path])
            removed.append(path)
    return removed


def rebuild(root: Path, blocks_dir: Path, *, trust_files: bool = False,
            reorg_limit: int = 288) -> tuple[str, RunReport]:
    """Build the next generation and activate it; (its name, the pass's report). A pass that
    ends at damage leaves the old generation active and raises StoreError."""
    lists = index_lists(root)
    network = get_network(str(lists["network"]))
    pools = parse_pools(lists["pools"], f"index {root}")
    labels = labels_from_json(json.dumps(lists["labels"]).encode(), network)
    name, path = generations.next_generation(root)
    removeunused(root, keep=name)
    if (path / "CURRENT").exists() and not _same_lists(path, pools.sha256, labels.sha256):
        shutil.rmtree(path)  # a partial build with older lists: start over
    source = BlockFileSource(blocks_dir, network, trust_files)
    store = open_for_writing(path, network, pools, labels)
    try:
        report = reindex(store, source, pools, labels, reorg_limit)
    finally:
        store.close()
    if report.damage:
        raise StoreError(f"{report.damage[0]}; generation {name} is not activated")
    generations.activate(root, name)
    generations.write_lists(root, network.name, pools.to_json(), labels.to_json())
    removeunused(root, keep=name)  # the generation just retired, unless a server holds it
    return name, report


def _same_lists(path: Path, pools_sha256: str, labels_sha256: str) -> bool:
    try:
        with Store(path) as store:
            state = store.state
    except MinerflowError:
        return False
    return state is not None and (state.pools_sha256, state.labels_sha256) == (
        pools_sha256, labels_sha256)
