"""`minerflow rebuild`: a whole new generation of an index, built beside the serving one.

The new generation is a full pass over the node's block files with the index's current network,
lists and prices (read from `lists.json`, so another process may hold the active generation open
the whole time). It resumes where a killed run stopped, starts over when the lists changed since,
and becomes active by one atomic rename once it reaches the active generation's tip.

Nothing can race it (`indexer.store.writer`): it holds the directory's writer lock from start to
end, so a second rebuild, a `pools update`, `labels import`, `prices import` or `rollback` is
refused while it runs; it compares tips and swaps with no block writer in a pass; when the
active generation is ahead (a follower kept writing it), it reads the files again to catch up,
and refuses to activate below it. Generations no process holds any more are removed by the
process that holds the writer lock, with no block writer between reading the pointer and
opening a generation.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from indexer.attribution.pools import PoolsList, parse_pools
from indexer.config import get_network
from indexer.errors import IndexLockedError, MinerflowError, StoreError
from indexer.labels.labelset import LabelSet
from indexer.pipeline import BlockFileSource, RunReport, open_for_writing, reindex
from indexer.store import generations, keys, writer
from indexer.store.db import Store
from indexer.store.retire import remove_unused

log = logging.getLogger(__name__)
CATCH_UP_PASSES = 5  # passes over the files a rebuild makes to reach the active tip


def index_lists(root: Path) -> dict[str, Any]:
    """The network, lists and prices of the index's active generation."""
    found = generations.read_lists(root)
    if found is None:  # an index from before lists.json: read them from it once
        with Store(root) as store:
            store.record_lists()
        found = generations.read_lists(root)
    assert found is not None
    return found


def rebuild(root: Path, blocks_dir: Path, *, trust_files: bool = False,
            reorg_limit: int = 288) -> tuple[str, RunReport]:
    """Build the next generation and activate it; (its name, the last pass's report, whose
    notes include what was left for the operator). A pass that ends at damage, or one that
    cannot reach the active generation's tip, leaves the old generation active and raises
    StoreError."""
    with writer.exclusive(root, "minerflow rebuild"):
        return _rebuild(root, blocks_dir, trust_files, reorg_limit)


def _rebuild(root: Path, blocks_dir: Path, trust_files: bool,
             reorg_limit: int) -> tuple[str, RunReport]:
    lists = index_lists(root)
    network = get_network(str(lists["network"]))
    pools = parse_pools(lists["pools"], f"index {root}")
    labels = LabelSet.from_summary(lists["labels"], root)
    name, path = generations.next_generation(root)
    _removed, notes = remove_unused(root, keep=name)
    if path.is_symlink() and not path.is_dir():
        raise StoreError(f"generation {name} of {root} is a symbolic link to nothing: remove "
                         f"it, then run rebuild again")
    if (path / "CURRENT").exists() and not _same_lists(path, pools.sha256, labels.sha256):
        _start_over(path)
    source = BlockFileSource(blocks_dir, network, trust_files)
    store = open_for_writing(path, network, pools, labels)
    try:
        report = _build_and_swap(root, name, store, source, pools, labels, reorg_limit, lists)
    finally:
        store.close()
    generations.write_lists(root, network.name, pools.to_json(),
                            json.dumps(labels.summary(), ensure_ascii=False).encode(),
                            lists.get("prices", {}))
    _removed, more = remove_unused(root, keep=name)  # the retired one, unless a process holds it
    report.notes.extend(notes + more)
    return name, report


def _build_and_swap(root: Path, name: str, store: Store, source: BlockFileSource,
                    pools: PoolsList, labels: LabelSet, reorg_limit: int,
                    lists: dict[str, Any]) -> RunReport:
    """Passes over the files until the new generation reaches the active one's tip, then the
    swap (under the swap lock: no block writer moves the active tip meanwhile)."""
    for _pass in range(CATCH_UP_PASSES):
        report = reindex(store, source, pools, labels, reorg_limit)
        if report.damage:
            raise StoreError(f"{report.damage[0]}; generation {name} is not activated")
        with writer.swapping(root):
            active_tip = generations.read_tip(generations.active_path(root))
            built = store.require_state().tip_height
            if active_tip is None or built >= active_tip:
                _check_lists_unchanged(root, lists, name)
                _carry_prices(store, generations.read_lists(root) or lists)
                generations.activate(root, name)
                return report
        if report.applied == 0:
            break
        log.info("generation %s reached %d, the active one is at %d: reading the files again",
                 name, built, active_tip)
    raise StoreError(f"generation {name} reaches height {built} of the block files, the active "
                     f"generation is at {active_tip}: not activated (it would go back); run "
                     f"rebuild again when the node's files reach {active_tip} (it resumes)")


def _check_lists_unchanged(root: Path, started: dict[str, Any], name: str) -> None:
    now = generations.read_lists(root) or started
    for what, key in (("network", "network"), ("pools list", "pools"), ("labels", "labels")):
        if now.get(key) != started.get(key):
            raise StoreError(f"the active generation's {what} changed while generation {name} "
                             f"was built: not activated; run rebuild again to build with it")


def _carry_prices(store: Store, lists: dict[str, Any]) -> None:
    """The prices imported into the active generation, into the new one (prices are not
    block data: no pass makes them)."""
    prices = lists.get("prices") or {}
    if not isinstance(prices, dict) or not prices:
        return
    state = store.require_state()
    store.write({keys.price_key(int(day)): keys.pack_price(str(close))
                 for day, close in prices.items()}, state)


def _start_over(path: Path) -> None:
    """Remove a partial generation built with older lists (the writer lock is held: no other
    rebuild builds it)."""
    if path.is_symlink():
        raise StoreError(f"generation {path.name} of {path.parent} is a symbolic link to a "
                         f"partial build with older lists: remove it, then run rebuild again")
    shutil.rmtree(path)


def _same_lists(path: Path, pools_sha256: str, labels_sha256: str) -> bool:
    """Whether the partial generation at `path` was built with these lists; a generation some
    process holds open is never taken for a stale one."""
    try:
        with Store(path) as store:
            state = store.state
    except IndexLockedError:
        raise StoreError(f"generation {path.name} of {path.parent} is held open by another "
                         f"process: stop it, then run rebuild again") from None
    except MinerflowError:
        return False
    return state is not None and (state.pools_sha256, state.labels_sha256) == (
        pools_sha256, labels_sha256)
