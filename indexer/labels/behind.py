"""One call at a time on a thread of its own, so the caller's next rows are read beside it.

A label set's rows pass through LevelDB writes, zlib and sha256, which all let go of the GIL:
handed to `Behind`, they take the second core while the first parses the next batch. At most
one call runs and one batch waits, so memory stays at two batches.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any


class Behind:
    """`run(fn, ...)` waits for the previous call, then starts `fn` on the thread; `wait()`
    finishes the last one and raises what it raised."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="minerflow-labels")
        self._last: Future[Any] | None = None

    def run(self, fn: Callable[..., Any], *args: Any) -> None:
        self.wait()
        self._last = self._pool.submit(fn, *args)

    def wait(self) -> None:
        last, self._last = self._last, None
        if last is not None:
            last.result()

    def __enter__(self) -> Behind:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        try:
            if kind is None:
                self.wait()
        finally:
            self._pool.shutdown(wait=True)  # nothing is left running when the caller goes on
