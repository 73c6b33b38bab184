"""The on-disk line sort that makes label sets canonical: every line back, in bytewise order,
however the lines fall into runs and merge passes, and no file left behind."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from indexer.labels.runsort import LineSorter


def _lines(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    alphabet = bytes(b for b in range(256) if b != 0x0A)
    made = [bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 40))) + b"\n"
            for _ in range(count)]
    return made + rng.sample(made, count // 10)  # some lines twice


@pytest.mark.parametrize(("run_bytes", "fan_in"), [(None, None), (64, 2), (500, 3), (1, 64)])
def test_every_line_comes_back_sorted(tmp_path: Path, run_bytes: int | None,
                                      fan_in: int | None) -> None:
    lines = _lines(run_bytes or 0, 2_000)
    with LineSorter(tmp_path, run_bytes, fan_in) as sorter:
        for line in lines:
            sorter.add(line)
        assert list(sorter.sorted()) == sorted(lines)
    assert list(tmp_path.iterdir()) == []


def test_lines_that_fit_one_run_are_sorted_in_memory(tmp_path: Path) -> None:
    with LineSorter(tmp_path) as sorter:
        for line in _lines(1, 500):
            sorter.add(line)
        merged = sorter.sorted()
        next(merged)
        assert list(tmp_path.iterdir()) == []  # nothing written


def test_a_sort_left_early_removes_its_runs(tmp_path: Path) -> None:
    with LineSorter(tmp_path, run_bytes=100, fan_in=2) as sorter:
        for line in _lines(2, 300):
            sorter.add(line)
        merged = sorter.sorted()
        next(merged)
        assert list(tmp_path.iterdir())  # runs on disk while they are merged
        merged.close()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("line", [b"no newline", b"two\nlines\n", b""])
def test_a_line_must_end_in_its_only_newline(tmp_path: Path, line: bytes) -> None:
    with LineSorter(tmp_path) as sorter, pytest.raises(ValueError, match="only newline"):
        sorter.add(line)
