"""The block-file mutation campaign: damage a copy of the sample datadir, reindex, judge.

A clean index of the sample chain is rolled back one block at a time (exactly, with its undo
records) to take a digest of the whole LevelDB content at every height: what a fresh index
ending there holds. A mutated datadir (bits flipped, a range zeroed, a file truncated, a record
duplicated, two records swapped, in blk or rev files) is then indexed with `minerflow reindex`
in-process, and the run is judged:

- `whole`: the index equals the clean one entirely;
- `cut`: it equals the clean index at its own tip, below the first damaged block of the active
  chain, and the run said so (a `damaged:` or `warning:` line, a non-zero exit);
- `refused`: nothing was indexed and the run failed with one line;
- anything else is a failure: `silently-wrong` (different content, or a shorter chain with no
  word about it) or `traceback`.
A lost block of the node's chain (the newest file cut short, a zeroed run of records) is told
from a short chain by the rev files, which still hold its undo record: the run says so and ends
below it, even where what is left of the blk files ends on a stale branch.
A `cut` run may keep a block whose damaged bytes lie where nothing indexed comes from (witness
data, which the merkle root does not cover): its content still equals the clean index, and
`below_damage` is then negative.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from indexer.cli import main, sample_dir
from indexer.config import get_network
from indexer.source.blkfiles import BlockFiles
from indexer.source.chain import find_active_chain
from indexer.store.batch import rollback
from indexer.store.db import Store

REGTEST = get_network("regtest")
KINDS = ("flip", "zero", "truncate", "duplicate", "reorder")


def digest(index: Path) -> tuple[int, str]:
    """(tip height, sha256 of every key and value) of an index."""
    with Store(index) as store:
        h = hashlib.sha256()
        for key, value in store.scan(b""):
            h.update(struct.pack(">II", len(key), len(value)) + key + value)
        return store.require_state().tip_height, h.hexdigest()


def reindex_args(datadir: Path, index: Path) -> list[str]:
    sample = sample_dir()
    return ["reindex", "--datadir", str(datadir), "--network", "regtest", "--index", str(index),
            "--pools", str(sample / "pools.json"), "--labels", str(sample / "exchanges.csv")]


@dataclass(slots=True)
class Clean:
    datadir: Path
    digests: dict[int, str]  # height -> digest of a fresh index ending there
    spans: list[tuple[str, int, int, int]]  # (file, start, end, height) of active-chain records

    @property
    def tip(self) -> int:
        return max(self.digests)


def prepare(work: Path) -> Clean:
    """Index the sample chain once and take the digest at every height."""
    datadir = work / "clean-datadir"
    shutil.copytree(sample_dir(), datadir)
    index = work / "clean-index"
    result = CliRunner().invoke(main, reindex_args(datadir, index), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    digests: dict[int, str] = {}
    with Store(index) as store:
        tip = store.require_state().tip_height
    for height in range(tip, -1, -1):
        at, value = digest(index)
        assert at == height
        digests[height] = value
        with Store(index) as store:
            rollback(store, height - 1)
    files = BlockFiles(datadir / "regtest" / "blocks", REGTEST.magic)
    spans = [(files.path(cb.location.file_no).name, cb.location.offset - 8,
              cb.location.offset + cb.location.size, cb.height)
             for cb in find_active_chain(files, REGTEST).blocks]
    return Clean(datadir, digests, spans)


def records(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each blk record (prefix included), padding excluded."""
    out, pos = [], 0
    while pos + 8 <= len(data):
        magic, size = struct.unpack_from("<4sI", data, pos)
        if magic != REGTEST.magic:
            break
        out.append((pos, pos + 8 + size))
        pos += 8 + size
    return out


def mutate_datadir(clean: Clean, target: Path, seed: int) -> tuple[str, str, int, int]:
    """Copy the clean datadir to `target` and damage one file; (kind, file, start, end)."""
    rng = random.Random(seed)
    shutil.copytree(clean.datadir, target)
    blocks = target / "regtest" / "blocks"
    kind = KINDS[seed % len(KINDS)]
    names = sorted(p.name for p in blocks.glob("blk*.dat"))
    if kind in ("flip", "zero", "truncate") and rng.random() < 0.25:
        names = sorted(p.name for p in blocks.glob("rev*.dat"))
    name = rng.choice(names)
    path = blocks / name
    data = bytearray(path.read_bytes())
    used = max((end for _s, end in records(bytes(data))), default=len(data)) or len(data)
    start = rng.randrange(used)
    end = start + 1
    if kind == "flip":
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(start, min(used, start + 64))
            data[at] ^= 1 << rng.randrange(8)
            end = max(end, at + 1)
    elif kind == "zero":
        end = min(len(data), start + rng.choice((1, 8, 80, 500, 5000, len(data))))
        data[start:end] = bytes(end - start)
    elif kind == "truncate":
        end = len(data)
        del data[start:]
    else:
        spans = records(bytes(data))
        if len(spans) < 2:
            return kind, name, 0, 0
        a, b = sorted(rng.sample(range(len(spans)), 2))
        (sa, ea), (sb, eb) = spans[a], spans[b]
        if kind == "duplicate":  # a second copy of record a, right after record b
            data[eb:eb] = data[sa:ea]
            start, end = eb, eb  # no byte of an existing record changed
        else:  # reorder: swap records a and b
            data[sa:eb] = data[sb:eb] + data[ea:sb] + data[sa:ea]
            start, end = sa, sa
    path.write_bytes(bytes(data))
    return kind, name, start, end


def first_damaged_height(clean: Clean, name: str, start: int, end: int) -> int | None:
    """The lowest active-chain height whose record overlaps [start, end) of `name`."""
    hit = [h for f, s, e, h in clean.spans if f == name and s < max(end, start + 1) and start < e]
    return min(hit) if hit else None


def judge(clean: Clean, work: Path, seed: int) -> dict[str, object]:
    """Mutate, reindex and judge one run; a dict with its verdict and figures."""
    datadir, index = work / f"datadir-{seed}", work / f"index-{seed}"
    kind, name, start, end = mutate_datadir(clean, datadir, seed)
    result = CliRunner().invoke(main, reindex_args(datadir, index))
    said = result.exit_code != 0 or "warning:" in result.output or "damaged:" in result.output
    verdict: dict[str, object] = {"seed": seed, "kind": kind, "file": name, "offset": start,
                                  "exit": result.exit_code}
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        verdict["verdict"] = "traceback"
        verdict["error"] = repr(result.exception)
    elif not (index / "CURRENT").exists() or digest(index)[0] < 0:
        lines = result.output.strip().splitlines()
        verdict["verdict"] = "refused" if result.exit_code != 0 and lines else "silently-wrong"
    else:
        tip, value = digest(index)
        verdict["tip"], verdict["digest"] = tip, value
        damaged = first_damaged_height(clean, name, start, end) if name.startswith("blk") else None
        if tip == clean.tip and value == clean.digests[tip]:
            verdict["verdict"] = "whole"
        elif value != clean.digests.get(tip) or not said:
            verdict["verdict"] = "silently-wrong"
        else:
            verdict["verdict"] = "cut"
            verdict["below_damage"] = None if damaged is None else damaged - 1 - tip
    shutil.rmtree(datadir, ignore_errors=True)
    shutil.rmtree(index, ignore_errors=True)
    return verdict


GOOD = ("whole", "cut", "refused")
