"""Byte lines sorted in bounded memory: sorted runs in plain files, merged.

Lines are held until they reach `run_bytes`, sorted and written to a file of their own in a
scratch directory (on a thread of its own, while the next lines come in); `sorted()` then
merges the files, `fan_in` at a time, in more passes when there are more. When every line fits
in one run, nothing is written. The files are read through a small buffer each: a sort holds
no mapped pages of them (a LevelDB scratch maps its tables as it reads them, which kept
about 90 MB resident for two million label rows).
"""

from __future__ import annotations

import heapq
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from indexer.labels.behind import Behind

RUN_BYTES = 8 << 20
FAN_IN = 64
_READ_BUFFER = 256 << 10


class LineSorter:
    """`add(line)` (bytes ending in its only newline), then `sorted()` once: every line, in
    bytewise order. Used as a context manager, which removes its files."""

    def __init__(self, scratch: Path, run_bytes: int | None = None,
                 fan_in: int | None = None) -> None:
        """Runs of `run_bytes` (default RUN_BYTES) in `scratch`, merged `fan_in` (default
        FAN_IN) at a time."""
        self._scratch = scratch
        self._run_bytes = run_bytes or RUN_BYTES
        self._fan_in = fan_in or FAN_IN
        if self._fan_in < 2:
            raise ValueError("a merge takes at least two runs")
        self._run: list[bytes] = []
        self._held = 0
        self._runs: list[Path] = []
        self._behind = Behind()

    def add(self, line: bytes) -> None:
        if not line or line.find(b"\n") != len(line) - 1:
            raise ValueError(f"a line to sort must end in its only newline: {line[:60]!r}")
        self._run.append(line)
        self._held += len(line)
        if self._held >= self._run_bytes:
            self._spill()

    def sorted(self) -> Iterator[bytes]:
        if not self._runs:  # all in memory
            self._run.sort()
            yield from self._run
            self._run = []
            return
        if self._run:
            self._spill()
        self._behind.wait()
        while len(self._runs) > self._fan_in:
            merged = self._new_run()
            with merged.open("wb") as out:
                out.writelines(self._merged(self._runs[:self._fan_in]))
            del self._runs[:self._fan_in]
            self._runs.append(merged)
        yield from self._merged(self._runs)

    def _spill(self) -> None:
        run, self._run, self._held = self._run, [], 0
        path = self._new_run()
        self._runs.append(path)
        self._behind.run(_write_run, run, path)

    def _new_run(self) -> Path:
        handle, name = tempfile.mkstemp(prefix="run-", dir=self._scratch)
        os.close(handle)
        return Path(name)

    def _merged(self, paths: list[Path]) -> Iterator[bytes]:
        files: list[BinaryIO] = []
        try:
            for path in paths:
                files.append(path.open("rb", buffering=_READ_BUFFER))
            yield from heapq.merge(*files)
        finally:
            for file in files:
                file.close()
            for path in paths:
                path.unlink(missing_ok=True)

    def __enter__(self) -> LineSorter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        try:
            self._behind.__exit__(kind, error, trace)
        finally:
            for path in self._runs:
                path.unlink(missing_ok=True)


def _write_run(run: list[bytes], path: Path) -> None:
    run.sort()
    with path.open("wb") as out:
        out.writelines(run)
