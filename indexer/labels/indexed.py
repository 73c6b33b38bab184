"""A label set written into the index, and the exchange lookup the cohort step uses.

The index keeps one `l` key per labeled script (its canonical row) and one `x` key per script
in force as an exchange's (its entity), beside the set's summary under `Llabels`. Writing a set
takes several batches: the first records the set's sha256 under `Lpending` and the last
removes it with the new state, so an interrupted write is found and refused by every opener,
never read as a label set.

`ExchangeLookup` holds the fingerprints of the `x` keys in a filter (8 bytes a slot at a load
of 1/3 to 2/3: 12 to 24 bytes a script) and reads LevelDB only for a fingerprint it holds: a
collision costs a read, never a wrong answer. The filter depends on the label set alone: it is
made as the set is written and saved beside the index (`exchanges.bin`, named by the set's
sha256), so a start loads it; without the file (a write interrupted after its last batch, a
pure-Python run) the first start scans the keys and saves it. It is held once per process and
set.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from indexer import fastpath
from indexer.config import Network
from indexer.errors import LabelsError, StoreError
from indexer.fingerprints import read_tables, save_tables
from indexer.labels.behind import Behind
from indexer.labels.labelset import EMPTY_LABELS, LabelSet
from indexer.labels.rows import EXCHANGE, LabelRow, category_entity
from indexer.store import keys

log = logging.getLogger(__name__)
_BATCH = 10_000
_FLUSH_BYTES = 16 << 20  # memtable bytes written between two flushes of the memtable
# what LevelDB's memtable spends on an entry beside its key and value: the lengths, the
# sequence number and the skip list's node (pointers of ~1.33 levels)
_ENTRY_BYTES = 32


EXCHANGES_FILE = "exchanges.bin"  # the saved filter of the `x` keys, beside the LevelDB files
SCRIPTS_KEPT = 1_000_000  # lookups remembered by an ExchangeLookup


class ExchangeLookup:
    """The exchange (entity text) of a script, or None: a filter in front of the `x` keys."""

    def __init__(self, get: Callable[[bytes], bytes | None],
                 scan: Callable[..., Iterator[tuple[bytes, bytes]]] | None = None,
                 expected: int = 0, table: fastpath.FingerprintFilter | None = None) -> None:
        """`table`, the filter made before; else one built by `scan`ning the `x` keys."""
        if table is None:
            assert scan is not None
            table = fastpath.Filter()
            if expected:
                table.reserve(expected)
            for key, _value in scan(keys.EXCHANGE_SCRIPT, fill_cache=False):
                table.add(fastpath.script_fingerprint(keys.script_from_label_key(key)))
        self.filter = table
        self._answers = _Answers(get)

    @classmethod
    def of(cls, store: Any) -> ExchangeLookup:
        """The lookup of the index's label set. Its filter is made once per process and
        label set (a follower's every sync shares it), from `exchanges.bin` when that file
        holds this set's, else by a scan of the `x` keys, which then saves it there."""
        summary = stored_summary(store)
        where = (str(store.db_path), str(summary["sha256"]))
        table = _MADE.get(where)
        if table is None:
            table = _load_filter(store, where[1])
            if table is None:
                table = cls(store.get, store.scan,
                            int(summary.get("categories", {}).get("exchange", 0))).filter
                save_tables(store.db_path / EXCHANGES_FILE, {"labels_sha256": where[1]},
                            [("exchanges", table)])
            _MADE.clear()  # one label set's filter held at a time
            _MADE[where] = table
        return cls(store.get, table=table)

    def __call__(self, script: bytes) -> str | None:
        """The exact answer, read from the index (the filter already said maybe), or from the
        answers kept so far."""
        return self._answers[script]

    def get(self, script: bytes) -> str | None:
        if fastpath.script_fingerprint(script) not in self.filter:
            return None
        return self(script)

    def __contains__(self, script: object) -> bool:
        return isinstance(script, bytes) and self.get(script) is not None

    def __len__(self) -> int:
        return len(self.filter)

    @property
    def step_arg(self) -> tuple[Any, Callable[[bytes], str | None]]:
        """What `fastpath.step_txs` takes as `exchanges`: the filter, and the answers' own
        `__getitem__`, so that a script asked before is a dict lookup in C."""
        return self.filter, self._answers.__getitem__


class _Answers(dict[bytes, "str | None"]):
    """script -> its exchange's name, or None: read from the index the first time a script is
    asked for (the filter has said maybe), a dict lookup after (hot wallets recur); all
    forgotten past `SCRIPTS_KEPT` (the label set never changes under a lookup)."""

    def __init__(self, get: Callable[[bytes], bytes | None]) -> None:
        super().__init__()
        self._get = get
        self._names: dict[bytes, str] = {}  # one str per exchange

    def __missing__(self, script: bytes) -> str | None:
        raw = self._get(keys.exchange_script_key(script))
        name = None
        if raw is not None:
            name = self._names.get(raw)
            if name is None:
                name = self._names.setdefault(raw, raw.decode("utf-8"))
        if len(self) >= SCRIPTS_KEPT:
            self.clear()
        self[script] = name
        return name


_MADE: dict[tuple[str, str], fastpath.FingerprintFilter] = {}  # (LevelDB path, set) -> filter


def _load_filter(store: Any, sha256: str) -> fastpath.FingerprintFilter | None:
    """The saved filter of the label set `sha256`; None (the reason logged) without one."""
    path = store.db_path / EXCHANGES_FILE
    if not path.exists():
        return None

    def of_this_set(header: dict[str, Any]) -> None:
        if header["labels_sha256"] != sha256:
            raise ValueError(f"the filter of label set {header['labels_sha256'][:12]}")

    try:
        return read_tables(path, ("exchanges",), of_this_set)[0]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.info("exchange filter %s not used (%s): scanning the labels", path, exc)
        return None


def stored_summary(store: Any) -> dict[str, Any]:
    """The summary of the label set the index holds (an empty set's when it holds none)."""
    pending = store.get(keys.LABELS_PENDING)
    if pending is not None:
        raise StoreError(f"index {store.path}: writing the label set {pending.decode()[:12]} "
                         f"was interrupted: run `minerflow labels import` again (or rebuild "
                         f"the index)")
    raw = store.get(keys.LABELS_LIST)
    if raw is None:
        return EMPTY_LABELS.summary()
    try:
        summary = json.loads(raw)
    except ValueError:
        summary = None
    if not isinstance(summary, dict) or "sha256" not in summary:
        raise StoreError(f"index {store.path}: its label set record is damaged or of an "
                         f"older format: re-index required")
    return summary


def labels_info(store: Any) -> dict[str, Any]:
    """What status reports of the index's label set: its name, identity, counts and, for a
    derived map, the height and block it was derived to."""
    summary = stored_summary(store)
    meta = summary.get("meta", {})
    height = meta.get("derived_height")
    return {"name": meta.get("name"), "sha256": summary["sha256"],
            "count": summary.get("count", 0),
            "exchange_scripts": summary.get("categories", {}).get("exchange", 0),
            "exchanges": len(summary.get("exchanges", {})),
            "conflicts": summary.get("categories", {}).get("conflict", 0),
            "derived_height": int(height) if height is not None else None,
            "derived_hash": meta.get("derived_hash"), "rule_version": meta.get("rule_version")}


def stored_labels(store: Any) -> LabelSet:
    """The label set the index holds, its rows file where `record_lists` keeps it."""
    return LabelSet.from_summary(stored_summary(store), Path(store.path))


def stored_rows(store: Any, network: Network) -> Iterator[LabelRow]:
    """The rows the index holds, in script order."""
    for key, value in store.scan(keys.LABEL):
        fields = next(csv.reader([value.decode("utf-8")]))
        yield LabelRow(keys.script_from_label_key(key), tuple(fields))


def write_labels(store: Any, labels: LabelSet, network: Network, state: Any) -> None:
    """Replace the index's label set by `labels` (several batches; see the module's text), the
    last batch writing `state`, and save the set's exchange filter beside the index."""
    pending = keys.LABELS_PENDING
    store.write_raw({pending: labels.sha256.encode()})
    (store.db_path / EXCHANGES_FILE).unlink(missing_ok=True)
    replaced = _delete_labels(store)
    # The `l` keys, then the `x` keys, each flushed into tables of their own: a run of sorted
    # keys that overlaps no other table is placed below level 0 and not rewritten again, where
    # a table spanning from `l` to `x` (or from the `L` records to `l`) would be merged by every
    # compaction of the keys the blocks write between them (`m`, `o`; `S`, `T`, `X`...).
    store.flush_memtable()
    with Behind() as behind:
        _write_runs(store, behind, ((keys.label_key(script), line)
                                    for script, line in labels.lines()))
    table = fastpath.Filter()
    table.reserve(labels.exchange_scripts)
    with Behind() as behind:
        _write_runs(store, behind, _exchange_keys(labels, table))
    store.write({keys.LABELS_LIST: json.dumps(labels.summary(), ensure_ascii=False).encode(),
                 pending: None}, state)
    store.flush_memtable()
    # the lookup's filter, saved now: the first start after an import loads it
    save_tables(store.db_path / EXCHANGES_FILE, {"labels_sha256": labels.sha256},
                [("exchanges", table)])
    if replaced:  # the old set's deletions overlap the new rows: merged once, now
        store.compact(keys.LABEL, keys.EXCHANGE_SCRIPT + b"\xff")


def _delete_labels(store: Any) -> int:
    """Delete the `l` and `x` keys the index holds; how many there were."""
    deleted = 0
    for prefix in (keys.LABEL, keys.EXCHANGE_SCRIPT):
        doomed: dict[bytes, bytes | None] = {}
        for key, _value in store.scan(prefix):
            doomed[key] = None
            if len(doomed) >= _BATCH:
                store.write_raw(doomed)
                deleted += len(doomed)
                doomed = {}
        store.write_raw(doomed)
        deleted += len(doomed)
    return deleted


def _exchange_keys(labels: LabelSet, table: fastpath.FingerprintFilter
                   ) -> Iterator[tuple[bytes, bytes]]:
    """The `x` key and value of every exchange row, its fingerprint added to `table`."""
    exchange = EXCHANGE.encode()
    fingerprint = fastpath.script_fingerprint
    for script, line in labels.lines():
        category, entity = _category_entity(line)
        if category == exchange:
            table.add(fingerprint(script))
            yield keys.exchange_script_key(script), entity


def _write_runs(store: Any, behind: Behind, pairs: Iterator[tuple[bytes, bytes]]) -> None:
    """Write `pairs` (sorted runs of keys of one prefix) in batches, the memtable flushed
    after every `_FLUSH_BYTES` it holds (the rows and `_ENTRY_BYTES` each) and at the end. A
    flush runs on a thread of its own (LevelDB turns the memtable into an immutable one and
    writes it out while the next rows go into a new memtable), so at most twice `_FLUSH_BYTES`
    of a label set is held in memtables (LevelDB's own flush, at the index's 64 MB write
    buffer, would hold up to 128 MB), and each flush is a sorted run placed below level 0."""
    with Behind() as flusher:
        def write(puts: dict[bytes, bytes | None], flush: bool) -> None:
            store.write_raw(puts)
            if flush:  # after the previous flush: two memtables at most
                flusher.run(store.flush_memtable)

        puts: dict[bytes, bytes | None] = {}
        held = 0
        for key, value in pairs:
            puts[key] = value
            held += len(key) + len(value) + _ENTRY_BYTES
            if len(puts) >= _BATCH:
                flush = held >= _FLUSH_BYTES
                behind.run(write, puts, flush)
                puts = {}
                held = 0 if flush else held
        behind.run(write, puts, False)
        behind.wait()
    store.flush_memtable()


def _category_entity(line: bytes) -> tuple[bytes, bytes]:
    """`rows.category_entity` of a row the index holds: a short one is a damaged index."""
    found = category_entity(line)
    if found is None:
        raise StoreError("a label set's rows are damaged: a row of fewer than 3 fields")
    return found


def check_derived(labels: LabelSet, store: Any, where: str) -> None:
    """A derived map names the height and block it was derived to: an index that holds blocks
    must reach that height and hold that block there (else the map is another chain's)."""
    height, derived_hash = labels.meta.get("derived_height"), labels.meta.get("derived_hash")
    tip = store.require_state().tip_height
    if height is None or tip < 0:
        return
    name = labels.meta.get("name", "")
    if int(height) > tip:
        raise LabelsError(f"labels {name} were derived to height {height}, {where} reaches "
                          f"{tip}: sync it first")
    raw = store.get(keys.block_key(int(height)))
    if derived_hash and raw is not None and (
            keys.unpack_block(int(height), raw).hash_hum != derived_hash):
        raise LabelsError(f"labels {name} were derived to block {derived_hash[:16]}… at height "
                          f"{height}, {where} holds another block there: derive them from "
                          f"this index's chain")
