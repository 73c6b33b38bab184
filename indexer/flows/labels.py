"""Exchange labels: CSV `address,entity,category[,source]`; rows with category `exchange` count.

An address listed twice keeps its first row; `category` is compared after trimming; `entity` is
kept verbatim (it keys `to_exchange_by`). Addresses must belong to the index's network.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

from indexer.config import Network
from indexer.errors import LabelsError
from indexer.parse.script import AddressError, script_for_address


@dataclass(frozen=True, slots=True)
class Label:
    address: str
    entity: str
    category: str
    source: str


@dataclass(frozen=True, slots=True)
class LabelSet:
    labels: tuple[Label, ...]
    exchanges: dict[bytes, str]  # output script -> exchange entity name

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.to_json()).hexdigest()

    def to_json(self) -> bytes:
        rows = [[lb.address, lb.entity, lb.category, lb.source] for lb in self.labels]
        return json.dumps(rows, ensure_ascii=False).encode()


EMPTY_LABELS = LabelSet((), {})


def load_labels(path: Path, network: Network) -> LabelSet:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelsError(f"labels file {path}: cannot read ({exc})") from None
    return parse_labels(text, network, str(path))


def parse_labels(text: str, network: Network, source: str) -> LabelSet:
    labels: list[Label] = []
    exchanges: dict[bytes, str] = {}
    seen: set[str] = set()
    rows = csv.reader(io.StringIO(text))
    try:
        for row in rows:
            line_no = rows.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if line_no == 1 and row[0].strip().lower() == "address":
                continue  # header
            where = f"labels file {source} line {line_no}"
            if len(row) < 3:
                raise LabelsError(f"{where}: expected address,entity,category[,source], "
                                  f"got {len(row)} field(s)")
            address, entity, category = row[0].strip(), row[1], row[2].strip()
            if not address or not entity.strip():
                raise LabelsError(f"{where}: empty address or entity")
            try:
                script = script_for_address(address, network)
            except AddressError as exc:
                raise LabelsError(f"{where}: {exc}") from None
            if address in seen:
                continue
            seen.add(address)
            source_cell = row[3].strip() if len(row) > 3 else ""
            labels.append(Label(address, entity, category, source_cell))
            if category == "exchange" and script not in exchanges:
                exchanges[script] = entity
    except csv.Error as exc:  # a NUL byte, a field over csv's size limit
        raise LabelsError(f"labels file {source} line {rows.line_num}: {exc}") from None
    return LabelSet(tuple(labels), exchanges)


def labels_from_json(data: bytes, network: Network) -> LabelSet:
    """Rebuild a LabelSet from what the index stores."""
    labels: list[Label] = []
    exchanges: dict[bytes, str] = {}
    for address, entity, category, source in json.loads(data):
        labels.append(Label(address, entity, category, source))
        if category == "exchange":
            try:
                exchanges.setdefault(script_for_address(address, network), entity)
            except AddressError as exc:
                raise LabelsError(f"the index's stored labels: {exc} (is --network "
                                  f"right?)") from None
    return LabelSet(tuple(labels), exchanges)
