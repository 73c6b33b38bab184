"""Read block bytes ahead of the parser on a second thread, and on the consumer while it waits.

File reads and the compiled checks release the GIL, so on a two-core machine reading, checking
and framing run beside the parse-and-apply loop instead of before each block. Where reading is
the slower half (few transactions touch miner coins), the consumer would wait for the reader
with a core idle: it reads the next item nobody has taken itself instead, so that both threads
read until the reader is ahead again. Results come in item order either way.

The reader needs the GIL back a few times per block, between its GIL-free calls. CPython makes a
waiting thread wait up to its switch interval (5 ms) for a busy holder to let go, which would
leave the reader idle behind the applying thread; while it runs the interval is 1 ms.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
SWITCH_INTERVAL = 0.001  # seconds a thread holding the GIL keeps it from a waiting one


class _Failed:
    """A read that raised: its error, raised by the consumer at its turn."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Shared(Generic[T, R]):
    """The items, who took which, and the reads done; guarded by `cond`."""

    def __init__(self, items: Iterable[T], depth: int) -> None:
        self.cond = threading.Condition()
        self.todo = iter(items)
        self.depth = depth
        self.taken = 0  # items taken so far; the next one taken is number `taken`
        self.wanted = 0  # the number of the item the consumer waits for or yields next
        self.exhausted = False
        self.stopped = False
        self.done: dict[int, tuple[T, R] | _Failed] = {}

    def take(self) -> tuple[int, T] | None:
        """The next item and its number, unless there is none (call holding `cond`)."""
        try:
            item = next(self.todo)
        except StopIteration:
            self.exhausted = True
            self.cond.notify_all()
            return None
        self.taken += 1
        return self.taken - 1, item

    def may_take(self) -> bool:
        return not self.exhausted and self.taken - self.wanted < self.depth

    def put(self, number: int, read: Callable[[T], R], item: T,
            catch: type[BaseException] = BaseException) -> None:
        """Read `item` (outside `cond`) and keep the result, or the error caught, as `number`."""
        try:
            got: tuple[T, R] | _Failed = (item, read(item))
        except catch as exc:
            got = _Failed(exc)
        with self.cond:
            self.done[number] = got
            self.cond.notify_all()


def read_ahead(read: Callable[[T], R], items: Iterable[T],
               depth: int = 32) -> Iterator[tuple[T, R]]:
    """(item, read(item)) in order, at most `depth` items ahead of the one the consumer is at;
    a read's error is raised here, in the consumer, when its turn comes."""
    shared: _Shared[T, R] = _Shared(items, depth)

    def work() -> None:
        while True:
            with shared.cond:
                while not shared.stopped and not shared.may_take() and not shared.exhausted:
                    shared.cond.wait()
                taken = None if shared.stopped else shared.take()
            if taken is None:
                return
            shared.put(taken[0], read, taken[1])

    worker = threading.Thread(target=work, name="minerflow-read-ahead", daemon=True)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, SWITCH_INTERVAL))
    worker.start()
    try:
        while True:
            own: tuple[int, T] | None = None  # an item this thread reads while it would wait
            with shared.cond:
                got = shared.done.pop(shared.wanted, None)
                while got is None and own is None:
                    if shared.may_take():  # the reader is behind: read the next item here
                        own = shared.take()
                        continue
                    if shared.exhausted and shared.wanted >= shared.taken:
                        return
                    shared.cond.wait()
                    got = shared.done.pop(shared.wanted, None)
                if got is not None:
                    shared.wanted += 1
                    shared.cond.notify_all()
            if got is None:
                assert own is not None
                shared.put(own[0], read, own[1], catch=Exception)
                continue
            if isinstance(got, _Failed):
                raise got.error
            yield got
    finally:
        with shared.cond:
            shared.stopped = True
            shared.cond.notify_all()
        worker.join()
        sys.setswitchinterval(interval)
