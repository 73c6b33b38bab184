"""The membership filters in front of the index: cohort scripts and tracked coins.

Built by scanning the index, or loaded from `fingerprints.bin` beside it: a run that ends
cleanly saves its filters there with the tip they describe, and the next run loads them when
the index is still at that tip (and removes the file, so that no later crash leaves a file
describing a state the index has moved past). Loading reads the tables in slot order into
tables of the same size, which is far quicker than scanning a large index. A filter may hold
more than the index (after a rollback, say): that costs a LevelDB read, never a wrong answer;
it must never hold less.

File layout: one JSON header line (`format`, `tip_height`, `tip_hash`, the `sha256` of all that
follows, and per filter its fingerprint count, whether it holds the fingerprint 0, and the bytes
of slots that follow), then the members' slots, then the coins' slots, little-endian u64 each,
0 for an empty slot. A file that does not match its checksum, its header or the index is not
used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from indexer import fastpath
from indexer.store import keys
from indexer.store.db import Store

log = logging.getLogger(__name__)

FILE = "fingerprints.bin"
FORMAT = 1
CHUNK_SLOTS = 1 << 16  # 512 KiB of slots per read or write: a table is never copied whole
HEADER_MAX = 4096


class Fingerprints:
    """Membership filters over the cohort scripts and tracked coins of an index.

    Loaded or built once per process, then kept up to date by the applier, so one instance
    serves every run of a long-lived follower."""

    def __init__(self, store: Store) -> None:
        started = time.perf_counter()
        loaded = _load(store)
        if loaded is not None:
            self.members, self.coins = loaded
            how = "loaded"
        else:
            self.members, self.coins = _scan(store)
            how = "built by a scan"
        log.info("fingerprints of %d scripts and %d coins %s in %.1f s", len(self.members),
                 len(self.coins), how, time.perf_counter() - started)

    def save(self, store: Store) -> None:
        """Write the filters for the index's current tip (replacing an older file atomically);
        nothing when the compiled core is not in use or the machine is big-endian."""
        state = store.require_state()
        save_tables(store.db_path / FILE, {"tip_height": state.tip_height,
                                           "tip_hash": state.tip_hash},
                    [("members", self.members), ("coins", self.coins)])


def save_tables(path: Path, header: dict[str, Any],
                tables: list[tuple[str, fastpath.FingerprintFilter]]) -> None:
    """Write `tables` to `path` after a header line (`header`, the format, the checksum and
    each table's count, fingerprint 0 and size), replacing an older file atomically; nothing
    when the compiled core is not in use or the machine is big-endian. A file that cannot be
    written is a warning: the next start scans the index instead."""
    if fastpath.IMPLEMENTATION != "compiled" or sys.byteorder != "little":
        return
    header = {**header, "format": FORMAT}
    for name, table in tables:
        header[name] = {"count": len(table), "zero": 0 in table, "bytes": table.capacity * 8}
    partial = path.with_suffix(".partial")
    try:
        with partial.open("wb") as out:
            out.write(bytes(HEADER_MAX))  # room for the header, written last
            digest = hashlib.sha256()
            for _name, table in tables:
                for start in range(0, table.capacity, CHUNK_SLOTS):
                    chunk = table.slots(start, CHUNK_SLOTS)
                    digest.update(chunk)
                    out.write(chunk)
            header["sha256"] = digest.hexdigest()
            out.seek(0)
            out.write(json.dumps(header, sort_keys=True).encode().ljust(HEADER_MAX - 1)
                      + b"\n")
        os.replace(partial, path)
    except OSError as exc:  # a cache, not the index: say so and go on
        log.warning("cannot save the fingerprints to %s (%s); the next start scans the "
                    "index instead", path, exc.strerror or exc)
        partial.unlink(missing_ok=True)


def _scan(store: Store) -> tuple[fastpath.FingerprintFilter, fastpath.FingerprintFilter]:
    members = fastpath.Filter()
    for key, _value in store.scan(keys.MEMBER):
        members.add(fastpath.script_fingerprint(keys.script_from_member_key(key)))
    coins = fastpath.Filter()
    for key, _value in store.scan(keys.COIN):
        coins.add(fastpath.coin_fingerprint(*keys.outpoint_from_coin_key(key)))
    return members, coins


def _load(store: Store) -> tuple[fastpath.FingerprintFilter,
                                 fastpath.FingerprintFilter] | None:
    """The saved filters when they describe the index as it is; the file is removed either
    way. None (with the reason logged) when there is no usable file."""
    path = store.db_path / FILE
    if not path.exists():
        return None
    try:
        return _read(path, store)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.info("fingerprints file %s not used (%s): scanning the index", path, exc)
        return None
    finally:
        path.unlink(missing_ok=True)


def _read(path: Path, store: Store) -> tuple[fastpath.FingerprintFilter,
                                             fastpath.FingerprintFilter] | None:
    state = store.require_state()

    def describes_the_index(header: dict[str, Any]) -> None:
        if (header["tip_height"], header["tip_hash"]) != (state.tip_height, state.tip_hash):
            raise ValueError(f"saved at height {header['tip_height']}, the index is at "
                             f"{state.tip_height}")

    members, coins = read_tables(path, ("members", "coins"), describes_the_index)
    return members, coins


def read_tables(path: Path, names: tuple[str, ...],
                check: Callable[[dict[str, Any]], None]) -> list[fastpath.FingerprintFilter]:
    """The tables `save_tables` wrote to `path`, after `check(header)` (which raises
    ValueError when the file describes something else); ValueError, KeyError or TypeError
    for a file that does not match its format, size or checksum."""
    with path.open("rb") as f:
        header = json.loads(f.read(HEADER_MAX))
        if header["format"] != FORMAT or sys.byteorder != "little":
            raise ValueError(f"format {header['format']}")
        check(header)
        sizes = [int(header[name]["bytes"]) for name in names]
        if any(size < 0 or size % 8 for size in sizes) or (
                HEADER_MAX + sum(sizes) != path.stat().st_size):
            raise ValueError("the file's size does not match its header")
        tables = []
        digest = hashlib.sha256()
        for name, size in zip(names, sizes, strict=True):
            table = fastpath.Filter()
            table.reserve(int(header[name]["count"]))
            left = size
            while left:
                chunk = f.read(min(left, CHUNK_SLOTS * 8))
                if not chunk:
                    raise ValueError("the file ends early")
                digest.update(chunk)
                table.add_many(chunk)
                left -= len(chunk)
            if header[name]["zero"] is True:
                table.add(0)
            if len(table) != int(header[name]["count"]):
                raise ValueError(f"{name}: {len(table)} fingerprints, the header says "
                                 f"{header[name]['count']}")
            tables.append(table)
    if digest.hexdigest() != header["sha256"]:
        raise ValueError("the slots do not match the header's checksum")
    return tables
