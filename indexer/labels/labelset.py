"""A label set in its canonical form: what an index is built with.

A label file is made canonical without holding its rows in memory: its rows are sorted by
(script length, script, row number) in runs on disk (`runsort`), and the first row of each
script is kept (SPEC 5: an address listed twice keeps its first row). The canonical
rows are written to `labels-<sha256 prefix>.csv.gz` (the header row, then the rows in that
order, the COLUMNS of `rows`); the set's identity is the sha256 of that text. Its summary
(counts by category, the file's provenance lines) travels with it into the index and into
`lists.json`.
"""

from __future__ import annotations

import binascii
import gzip
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from indexer.config import Network
from indexer.errors import LabelsError
from indexer.labels.behind import Behind
from indexer.labels.rows import (
    COLUMNS,
    EXCHANGE,
    LabelReader,
    LabelRow,
    category_entity,
    csv_line,
)
from indexer.labels.runsort import LineSorter
from indexer.store.generations import LABELS_FILE_PREFIX, LABELS_FILE_SUFFIX

_HEADER = "script," + ",".join(COLUMNS) + "\n"
CACHE_FORMAT = 2  # 2: summaries name the exchanges' order
CACHE_MIN_BYTES = 1 << 20
_CHUNK = 4 << 20  # bytes of canonical rows compressed and hashed at a time


@dataclass(frozen=True)
class LabelSet:
    """A canonical label set: its identity, its counts and where its rows are."""

    sha256: str
    count: int = 0
    categories: dict[str, int] = field(default_factory=dict)
    exchanges: dict[str, int] = field(default_factory=dict)  # exchange -> its scripts
    # the exchanges in the order of their first row in the imported file: ids 1..N (SPEC 5.1)
    exchange_order: tuple[str, ...] = ()
    meta: dict[str, str] = field(default_factory=dict)  # provenance: name, derived_height...
    file: Path | None = None  # the canonical rows; None for the empty set

    @property
    def exchange_scripts(self) -> int:
        return self.categories.get(EXCHANGE, 0)

    def summary(self) -> dict[str, Any]:
        """What the index and `lists.json` record of the set."""
        return {"sha256": self.sha256, "count": self.count, "categories": self.categories,
                "exchanges": self.exchanges, "exchange_order": list(self.exchange_order),
                "meta": self.meta,
                "file": self.file.name if self.file is not None else None}

    @classmethod
    def from_summary(cls, summary: dict[str, Any], directory: Path) -> LabelSet:
        """The set a summary describes, its rows in `directory`."""
        try:
            name = summary["file"]
            exchanges = dict(summary["exchanges"])
            order = tuple(str(x) for x in summary["exchange_order"])
            if sorted(order) != sorted(exchanges):
                raise ValueError("exchange_order does not name the exchanges")
            return cls(str(summary["sha256"]), int(summary["count"]),
                       dict(summary["categories"]), exchanges, order,
                       dict(summary["meta"]), None if name is None else directory / str(name))
        except (KeyError, TypeError, ValueError) as exc:
            raise LabelsError(f"the labels recorded in {directory} are damaged ({exc!r}): "
                              f"import them again") from None

    def lines(self) -> Iterator[tuple[bytes, bytes]]:
        """(script, the rest of its canonical line, UTF-8) for every row, in order: what the
        index stores, without parsing the rows again."""
        if self.file is None:
            return
        if not self.file.is_file():
            raise LabelsError(f"the label set {self.sha256[:12]} lacks its rows file "
                              f"{self.file}: import the labels again")
        try:
            # read through a C buffer: GzipFile's own readline is Python, line by line
            with io.BufferedReader(gzip.open(self.file, "rb"), _CHUNK) as raw:
                if raw.readline() != _HEADER.encode():
                    raise LabelsError(f"{self.file}: not a canonical label set")
                for number, line in enumerate(raw, start=2):
                    script, _sep, rest = line.partition(b",")
                    try:
                        yield binascii.unhexlify(script), rest
                    except binascii.Error:
                        raise LabelsError(f"{self.file} line {number}: damaged") from None
        except (OSError, EOFError) as exc:
            raise LabelsError(f"{self.file}: cannot read ({exc})") from None

    def rows(self, network: Network) -> Iterator[LabelRow]:
        """The canonical rows, in order."""
        if self.file is None:
            return
        if not self.file.is_file():
            raise LabelsError(f"the label set {self.sha256[:12]} lacks its rows file "
                              f"{self.file}: import the labels again")
        yield from LabelReader(self.file, network, canonical=True)


EMPTY_SHA256 = hashlib.sha256(_HEADER.encode()).hexdigest()
EMPTY_LABELS = LabelSet(EMPTY_SHA256)


def bundled_path(network: Network) -> Path | None:
    """The bundled seeds of `network`: every exchange tag of GraphSense's tag packs (with the
    non-exchange categories as sentinels) on mainnet; none elsewhere. The package keeps them in
    parts (`mainnet-seeds.<n>.csv.gz`, gzip members of one file, the header in the first);
    they are joined once into the cache, where the path points."""
    if network.name != "main":
        return None
    parts = sorted(Path(str(resources.files("indexer") / "data" / "labels")).glob(
        "mainnet-seeds.*.csv.gz"), key=lambda path: int(path.name.split(".")[1]))
    if not parts:
        raise LabelsError("the bundled mainnet seeds are missing from this installation")
    size = sum(part.stat().st_size for part in parts)
    newest = max(part.stat().st_mtime for part in parts)
    failure: OSError | None = None
    for where in (cache_dir() / "labels", Path(tempfile.gettempdir()) / "minerflow-labels"):
        joined = where / "mainnet-seeds.csv.gz"
        try:
            if joined.stat().st_size == size and joined.stat().st_mtime >= newest:
                return joined
        except OSError:
            pass
        try:
            where.mkdir(parents=True, exist_ok=True)
            partial = joined.with_name(f".{joined.name}.{os.getpid()}")
            with partial.open("wb") as out:
                for part in parts:
                    out.write(part.read_bytes())
            os.replace(partial, joined)
            return joined
        except OSError as exc:  # an unwritable cache: the system's temporary directory
            failure = exc
    raise LabelsError(f"cannot join the bundled mainnet seeds into {cache_dir()} or the "
                      f"temporary directory ({failure}): set MINERFLOW_CACHE to a writable "
                      f"directory")


def prepare(source: Path, network: Network, out_dir: Path, name: str | None = None) -> LabelSet:
    """Make `source` canonical in `out_dir`; LabelsError (file and line) for a malformed row,
    and then nothing is left behind. A large file's canonical form is kept in the user's
    cache (`cache_dir()`), keyed by the file's sha256: the bundled mainnet seeds are read
    once per machine, not once per index."""
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    name = name or source.name
    key = _cache_key(source, network)
    if key is not None:
        cached = _from_cache(key, out_dir, name)
        if cached is not None:
            return cached
    try:
        try:
            made = _prepare(source, network, out_dir, name)
        except OSError as exc:  # the sort's runs or the canonical file (a full disk...)
            raise LabelsError(f"labels file {source}: cannot write its sorted rows in "
                              f"{out_dir} ({exc.strerror or exc})") from None
    except BaseException:
        if created:  # a directory made for this set alone: nothing of it is left
            shutil.rmtree(out_dir, ignore_errors=True)
        raise
    if key is not None:
        _to_cache(key, made)
    return made


def cache_dir() -> Path:
    """`$MINERFLOW_CACHE`, else `$XDG_CACHE_HOME/minerflow`, else `~/.cache/minerflow`."""
    explicit = os.environ.get("MINERFLOW_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "minerflow"


def _cache_key(source: Path, network: Network) -> str | None:
    try:
        if source.stat().st_size < CACHE_MIN_BYTES:
            return None
        digest = hashlib.sha256()
        with source.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return None  # prepare says why
    return f"{digest.hexdigest()}-{network.name}-{CACHE_FORMAT}"


def _from_cache(key: str, out_dir: Path, name: str) -> LabelSet | None:
    where = cache_dir() / "labels"
    try:
        summary = json.loads((where / f"{key}.json").read_text())
        found = LabelSet.from_summary(summary, where)
        if found.file is None:
            return replace(found, meta=found.meta | {"name": name})
        copy = out_dir / f".{found.file.name}.copy"
        shutil.copyfile(found.file, copy)
        os.replace(copy, out_dir / found.file.name)
    except (OSError, ValueError, LabelsError):
        return None
    return replace(found, meta=found.meta | {"name": name}, file=out_dir / found.file.name)


def _to_cache(key: str, made: LabelSet) -> None:
    where = cache_dir() / "labels"
    try:
        where.mkdir(parents=True, exist_ok=True)
        if made.file is not None:
            shutil.copyfile(made.file, where / f".{made.file.name}.copy")
            os.replace(where / f".{made.file.name}.copy", where / made.file.name)
        partial = where / f".{key}.json"
        partial.write_text(json.dumps(made.summary()))
        os.replace(partial, where / f"{key}.json")
    except OSError:
        pass  # a cache: the next run reads the file again


def _prepare(source: Path, network: Network, out_dir: Path, name: str) -> LabelSet:
    reader = LabelReader(source, network)
    scratch = Path(tempfile.mkdtemp(prefix=".labels-sort-", dir=out_dir))
    try:
        with LineSorter(scratch) as sorter:
            _sort(reader, sorter)
            return _write_canonical(sorter.sorted(), reader.meta | {"name": name}, out_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _sort(reader: LabelReader, sorter: LineSorter) -> None:
    """Each row as a line that sorts by (script length, script, row number): the length in 4
    hex digits, the script in hex, `,`, the row's number in 10 hex digits, `,`, its fields."""
    hexlify = binascii.hexlify
    for number, row in enumerate(reader):
        script = row.script
        sorter.add(b"%04x%s,%010x,%s" % (len(script), hexlify(script), number,
                                         csv_line(row.fields).encode()))


def _write_canonical(lines: Iterator[bytes], meta: dict[str, str], out_dir: Path) -> LabelSet:
    """The sorted lines of `_sort`, the first of each script kept, as the canonical file."""
    digest = hashlib.sha256()
    categories: dict[bytes, int] = {}  # UTF-8 keys, decoded once at the end
    exchanges: dict[bytes, int] = {}
    first_row: dict[bytes, int] = {}  # exchange -> the number of its first row in the file
    exchange = EXCHANGE.encode()
    partial = Path(tempfile.mktemp(prefix=".labels-", suffix=".partial", dir=out_dir))
    count = 0
    try:
        with gzip.open(partial, "wb", compresslevel=1) as out, Behind() as behind:
            chunk = [_HEADER.encode()]
            size = 0
            previous = b""
            for line in lines:
                end = 4 + 2 * int(line[:4], 16)  # where the script's hex ends
                script = line[:end]
                if script == previous:
                    continue  # a later row of the same script
                previous = script
                fields = line[end + 12:]
                row = line[4:end + 1] + fields
                chunk.append(row)
                size += len(row)
                count += 1
                found = category_entity(fields)  # a row `_sort` wrote: all its fields
                if found is None:
                    raise LabelsError(f"the sorted label rows in {out_dir} are damaged")
                category, entity = found
                categories[category] = categories.get(category, 0) + 1
                if category == exchange:
                    exchanges[entity] = exchanges.get(entity, 0) + 1
                    number = int(line[end + 1:end + 11], 16)
                    if number < first_row.get(entity, number + 1):
                        first_row[entity] = number
                if size >= _CHUNK:
                    behind.run(_compress, b"".join(chunk), out, digest)
                    chunk, size = [], 0
            behind.run(_compress, b"".join(chunk), out, digest)
        sha = digest.hexdigest()
        if count == 0:
            partial.unlink()
            return LabelSet(sha, meta=meta)
        final = out_dir / f"{LABELS_FILE_PREFIX}{sha[:16]}{LABELS_FILE_SUFFIX}"
        os.replace(partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    order = tuple(name.decode() for name in sorted(first_row, key=first_row.__getitem__))
    return LabelSet(sha, count, _decoded(categories), _decoded(exchanges), order, meta, final)


def _decoded(counts: dict[bytes, int]) -> dict[str, int]:
    """Counts by UTF-8 name, as counts by text, sorted by it."""
    return dict(sorted((name.decode(), n) for name, n in counts.items()))


def _compress(data: bytes, out: Any, digest: Any) -> None:
    digest.update(data)
    out.write(data)
