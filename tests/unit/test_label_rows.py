"""The labels CSV reader splits plain lines itself and hands the rest to csv: both ways give
the rows, the errors and the line numbers csv's reader alone gives."""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from indexer.config import get_network
from indexer.errors import LabelsError
from indexer.labels.rows import LabelReader

NETWORK = get_network("regtest")


class CsvOnlyReader(LabelReader):
    """Every record read by csv's reader: the behaviour the split lines must keep."""

    def _records(self, text: IO[str]) -> Iterator[list[str]]:
        reader = csv.reader(text)
        for row in reader:
            self.line = reader.line_num
            yield row


def outcome(reader: LabelReader) -> tuple[list[tuple[bytes, tuple[str, ...]]], str | None]:
    rows: list[tuple[bytes, tuple[str, ...]]] = []
    try:
        for row in reader:
            rows.append((row.script, row.fields))
    except LabelsError as exc:
        return rows, str(exc)
    return rows, None


def random_file(rng: random.Random) -> str:
    """Rows that are plain, quoted, quoted across lines (in a column no label reads), empty,
    commented, or broken (a NUL, a stray quote, a bad address, too few fields)."""
    lines = []
    if rng.random() < 0.5:
        lines.append("# network: regtest\n")
    if rng.random() < 0.7:
        lines.append("address,entity,category,note\n")
    for _ in range(rng.randrange(1, 12)):
        script = f"script:0014{rng.randbytes(20).hex()}"
        entity = rng.choice(["Ex", "Big, Ltd", 'Say "hi"', "Ex 9"])
        quoted = '"' + entity.replace('"', '""') + '"'
        shape = rng.randrange(9)
        if shape == 0:
            lines.append(f'{script},{quoted},exchange,"one\nline more"\n')
        elif shape == 1:
            lines.append("\n" if rng.random() < 0.5 else "\r\n")
        elif shape == 2:
            lines.append(f"# {entity}\n")
        elif shape == 3 and rng.random() < 0.2:
            lines.append(f"{script},E\x00x,exchange,\n")
        elif shape == 4 and rng.random() < 0.2:
            lines.append(f'{script},Ex "5,exchange,\n')
        elif shape == 5 and rng.random() < 0.2:
            lines.append(f"{script[:-3]}zz,Ex,exchange,\n")
        elif shape == 6 and rng.random() < 0.2:
            lines.append(f"{script},Ex\n")
        else:
            cell = quoted if '"' in entity or "," in entity else entity
            end = rng.choice(["\n", "\r\n"])
            lines.append(f"{script},{cell},exchange,n{shape}{end}")
    return "".join(lines)


@pytest.mark.parametrize("seed", range(300))
def test_split_lines_read_as_csv_does(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "labels.csv"
    path.write_bytes(random_file(random.Random(seed)).encode())
    expected = outcome(CsvOnlyReader(path, NETWORK))
    assert outcome(LabelReader(path, NETWORK)) == expected
