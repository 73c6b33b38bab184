"""Read block bytes ahead of the parser on a second thread.

File reads and the compiled de-obfuscation release the GIL, so on a two-core machine reading,
de-obfuscating and framing run beside the parse-and-apply loop instead of before each block.

The reader needs the GIL back a few times per block, between its GIL-free calls. CPython makes a
waiting thread wait up to its switch interval (5 ms) for a busy holder to let go, which would
leave the reader idle behind the applying thread; while it runs the interval is 1 ms.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
_END = object()
SWITCH_INTERVAL = 0.001  # seconds a thread holding the GIL keeps it from a waiting one


def read_ahead(read: Callable[[T], R], items: Iterable[T],
               depth: int = 32) -> Iterator[tuple[T, R]]:
    """(item, read(item)) in order, at most `depth` reads ahead; a read's error is raised here,
    in the consumer, when its turn comes."""
    ahead: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                ahead.put((item, read(item)))
        except BaseException as exc:  # handed to the consumer, raised there
            ahead.put(exc)
            return
        ahead.put(_END)

    worker = threading.Thread(target=work, name="minerflow-read-ahead", daemon=True)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, SWITCH_INTERVAL))
    worker.start()
    try:
        while True:
            got = ahead.get()
            if got is _END:
                return
            if isinstance(got, BaseException):
                raise got
            yield got  # type: ignore[misc]
    finally:
        stop.set()
        while worker.is_alive():  # unblock a worker waiting on a full queue
            try:
                ahead.get(timeout=0.05)
            except queue.Empty:
                pass
        worker.join()
        sys.setswitchinterval(interval)
