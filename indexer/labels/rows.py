"""The labels CSV, read and written one row at a time.

Columns: `address,entity,category` and the optional `source,pack,tier,rule,evidence_txid,
height,via` (a first row naming `address` is the header, its columns in any order; without a
header the columns are `address,entity,category[,source]`). The address column takes an
address of the network or `script:<hex>` for an output script without one. `#` lines before
the header carry the set's provenance as `# key: value` (`network`, `derived_height`,
`derived_hash`, `seeds_sha256`, `rule_version`). Files ending in `.gz` (or starting with
gzip's magic bytes) are read through gzip. Rows are yielded as they are read: a file of any
size is never held in memory.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, NamedTuple

from indexer import fastpath
from indexer.config import Network
from indexer.errors import LabelsError
from indexer.parse.script import MAX_SCRIPT_SIZE, AddressError, address_of, script_for_address

COLUMNS = ("address", "entity", "category", "source", "pack", "tier", "rule", "evidence_txid",
           "height", "via")
REQUIRED = ("address", "entity", "category")
META_KEYS = ("network", "derived_height", "derived_hash", "seeds_sha256", "rule_version")
TIERS = ("", "core", "deposit")
SCRIPT_PREFIX = "script:"
EXCHANGE = "exchange"
_CONTROL = re.compile("[\x00-\x1f\x7f]")
CONFLICT = "conflict"
_ABSENT = [[""] * (len(COLUMNS) - width) for width in range(len(COLUMNS) + 1)]
_PLAIN_LIMIT = csv.field_size_limit()  # a longer line goes to csv, which says what is wrong


class LabelRow(NamedTuple):
    """One labeled script. `fields` are the COLUMNS' texts, `address` first."""

    script: bytes
    fields: tuple[str, ...]

    @property
    def address(self) -> str:
        return self.fields[0]

    @property
    def entity(self) -> str:
        return self.fields[1]

    @property
    def category(self) -> str:
        return self.fields[2]

    @property
    def tier(self) -> str:
        return self.fields[5]

    @property
    def is_exchange(self) -> bool:
        return self.category == EXCHANGE


def script_text(script: bytes, network: Network) -> str:
    """The address column for `script`: its address, else `script:<hex>`."""
    return address_of(script, network) or SCRIPT_PREFIX + script.hex()


def script_of(text: str, network: Network) -> bytes:
    """The output script an address column names (AddressError when it names none)."""
    text = text.strip()
    if text[:len(SCRIPT_PREFIX)].lower() == SCRIPT_PREFIX:
        try:
            script = bytes.fromhex(text[len(SCRIPT_PREFIX):])
        except ValueError:
            raise AddressError(f"{text}: not hex after {SCRIPT_PREFIX}") from None
        if not script or len(script) > MAX_SCRIPT_SIZE:
            raise AddressError(f"{text}: a script of {len(script)} bytes")
        return script
    decoded = fastpath.decode_address(text.encode(), network.bech32_hrp.encode(),
                                      network.p2pkh_prefix, network.p2sh_prefix)
    if decoded is None:  # not an address of the network: the reference says why
        return script_for_address(text, network)
    return decoded


def open_text(path: Path) -> IO[str]:
    """A label file as text: gzip when it is compressed, UTF-8 with or without a BOM."""
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise LabelsError(f"labels file {path}: cannot read ({exc.strerror or exc})") from None
    if raw.peek(2)[:2] == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.GzipFile(fileobj=raw), encoding="utf-8-sig", newline="")
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


class LabelReader:
    """The rows of one label file, streamed; `meta` holds its `#` provenance lines once the
    first row has been read (or the file ended). A `canonical` file (one `labelset` wrote)
    starts each row with its script in hex, which is taken as it is."""

    def __init__(self, path: Path, network: Network, canonical: bool = False) -> None:
        self.path = path
        self.network = network
        self.canonical = canonical
        self.meta: dict[str, str] = {}
        self.line = 0
        self._positions: list[int] | None = None  # the layout `_row` was last given
        self._ordered = -1  # how many leading COLUMNS it holds in order (-1: not so)
        self._needed = 3  # the fields a row needs to hold the required columns
        self._prefixes = (network.bech32_hrp.encode(), network.p2pkh_prefix,
                          network.p2sh_prefix)  # decode_address's, encoded once

    def __iter__(self) -> Iterator[LabelRow]:
        try:
            with open_text(self.path) as text:
                yield from self._rows(text)
        except UnicodeDecodeError as exc:
            raise LabelsError(f"labels file {self.path} line {self.line + 1}: not UTF-8 "
                              f"({exc.reason})") from None
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise LabelsError(f"labels file {self.path}: cannot read ({exc})") from None
        except csv.Error as exc:  # a NUL byte, a field over csv's size limit
            raise LabelsError(f"labels file {self.path} line {self.line}: {exc}") from None

    def _rows(self, text: IO[str]) -> Iterator[LabelRow]:
        positions: list[int] | None = None
        for row in self._records(text):
            if not row or (not row[0].strip() and all(not cell.strip() for cell in row)):
                continue
            if row[0][:1] == "#" or row[0].lstrip().startswith("#"):
                if positions is None:
                    self._meta_line(",".join(row))
                continue
            if self.canonical:
                if row[0] == "script":
                    continue
                yield self._canonical_row(row)
                continue
            if positions is None:
                positions, is_header = self._columns(row)
                if is_header:
                    continue
            yield self._row(row, positions)

    def _records(self, text: IO[str]) -> Iterator[list[str]]:
        """The file's CSV records, `line` kept at the last line of each. A line csv would read
        as a plain split (no quote, no NUL, within csv's field size limit) is split here; any
        other goes to csv's reader with the lines after it, which it takes as the record
        needs (a quoted field may hold line breaks)."""
        lines = iter(text)
        for line in lines:
            self.line += 1
            if '"' not in line and "\x00" not in line and len(line) <= _PLAIN_LIMIT:
                yield line.rstrip("\r\n").split(",")
                continue
            reader = csv.reader(itertools.chain((line,), lines))
            row = next(reader, None)
            self.line += reader.line_num - 1
            if row is not None:
                yield row

    def _canonical_row(self, row: list[str]) -> LabelRow:
        if len(row) != len(COLUMNS) + 1:
            raise LabelsError(f"{self._where()}: {len(row)} fields, a canonical row has "
                              f"{len(COLUMNS) + 1}")
        try:
            return LabelRow(bytes.fromhex(row[0]), tuple(row[1:]))
        except ValueError:
            raise LabelsError(f"{self._where()}: the script is not hex") from None

    def _where(self) -> str:
        return f"labels file {self.path} line {self.line}"

    def _meta_line(self, line: str) -> None:
        key, sep, value = line.lstrip().lstrip("#").partition(":")
        key = key.strip().replace("-", "_").replace(" ", "_").lower()
        if not sep or key not in META_KEYS:
            return  # a comment
        self.meta[key] = value.strip()
        if key == "network" and self.meta[key] != self.network.name:
            raise LabelsError(f"{self._where()}: a label set of the {self.meta[key]!r} network, "
                              f"not {self.network.name!r}")
        if key == "derived_height" and not self.meta[key].isdigit():
            raise LabelsError(f"{self._where()}: derived_height {self.meta[key]!r} is not a "
                              f"height")

    def _columns(self, row: list[str]) -> tuple[list[int], bool]:
        """Where each of COLUMNS is in a row (-1: absent), and whether `row` is a header."""
        names = [cell.strip().lower() for cell in row]
        if "address" not in names:
            return [0, 1, 2, 3] + [-1] * (len(COLUMNS) - 4), False
        missing = [name for name in REQUIRED if name not in names]
        if missing:
            raise LabelsError(f"{self._where()}: the header lacks {', '.join(missing)}")
        return [names.index(name) if name in names else -1 for name in COLUMNS], True

    def _row(self, row: list[str], positions: list[int]) -> LabelRow:
        n = len(row)
        if positions is not self._positions:  # a new layout: how to take its cells
            self._positions = positions
            width = next((k for k, p in enumerate(positions) if p != k), len(positions))
            self._ordered = width if all(p < 0 for p in positions[width:]) else -1
            self._needed = max(positions[:3]) + 1
        if n < self._needed:
            more = "source" if positions[4] < 0 else "..."
            raise LabelsError(f"{self._where()}: expected address,entity,category[,{more}], "
                              f"got {n} field(s)")
        width = self._ordered
        if 0 <= width <= n:  # the columns in COLUMNS' order, the rest absent: one slice
            cells = list(map(str.strip, row[:width]))
            cells += _ABSENT[width]
        else:
            cells = [row[p].strip() if 0 <= p < n else "" for p in positions]
        cells[1] = row[positions[1]]  # the entity is kept verbatim
        address = cells[0]
        if not address or not cells[1].strip():
            raise LabelsError(f"{self._where()}: empty address or entity")
        joined = ",".join(row)
        if not joined.isprintable() and _CONTROL.search(joined) and _CONTROL.search(
                "".join(cells)):
            raise LabelsError(f"{self._where()}: a control character in a field")
        script = None
        if address[:len(SCRIPT_PREFIX)].lower() != SCRIPT_PREFIX:
            script = fastpath.decode_address(address.encode(), *self._prefixes)
        if script is None:  # a script column, or no address of the network: script_of says
            try:
                script = script_of(address, self.network)
            except AddressError as exc:
                raise LabelsError(f"{self._where()}: {exc}") from None
        tier, height = cells[5], cells[8]
        if tier and (any(part not in TIERS for part in tier.split("|")) or (
                "|" in tier and cells[2] != CONFLICT)):
            raise LabelsError(f"{self._where()}: tier {tier!r} is not core or deposit")
        if height and not height.isdigit():
            raise LabelsError(f"{self._where()}: height {height!r} is not a height")
        return LabelRow(script, tuple(cells))


def split_line(line: str) -> list[str]:
    """The fields of one CSV line (its newline included or not): a plain split when nothing is
    quoted, csv's reading otherwise."""
    if '"' not in line:
        return line.rstrip("\r\n").split(",")
    return next(csv.reader([line]))


def category_entity(rest: bytes) -> tuple[bytes, bytes] | None:
    """The category and entity, UTF-8, of a canonical line after its script (address, entity,
    category...); None when it holds fewer than three fields."""
    if b'"' not in rest:
        parts = rest.split(b",", 3)
        if len(parts) == 4:
            return parts[2], parts[1]
    fields = split_line(rest.decode("utf-8"))
    if len(fields) < 3:
        return None
    return fields[2].encode(), fields[1].encode()


def write_header(out: IO[str], meta: dict[str, str]) -> None:
    """The `#` provenance lines and the header row of a labels CSV."""
    for key in META_KEYS:
        if meta.get(key):
            out.write(f"# {key}: {meta[key]}\n")
    out.write(",".join(COLUMNS) + "\n")


def csv_line(fields: tuple[str, ...] | list[str]) -> str:
    """One row as CSV text (quoted where needed), newline included."""
    joined = ",".join(fields)
    if joined.count(",") == len(fields) - 1 and not ('"' in joined or "\n" in joined
                                                     or "\r" in joined):
        return joined + "\n"
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(fields)
    return buffer.getvalue()
