"""The shape of every node answer minerflow uses, checked before anything reads it.

A node (or whatever answers on its port) may send anything: a height that is not an integer, a
hash that is not hex, a field missing, a list where an object belongs. Each reader here returns
the value in the type the caller needs or raises `MalformedAnswer`, a node error like any other
(retried with backoff while following, one line for `sync`), never a TypeError or KeyError
from deep inside the pipeline.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from indexer.errors import SourceError

MAX_HEIGHT = 2**31 - 1  # heights are u32 in the index; a node's chain is far below this
MAX_SATS = 21_000_000 * 100_000_000
_HEX = re.compile(r"[0-9a-fA-F]*")


class MalformedAnswer(SourceError):
    """The node answered, but not in the shape its RPC documents."""


def _bad(url: str, what: str, why: str) -> MalformedAnswer:
    return MalformedAnswer(f"node at {url} answered {what} with {why}")


def show(value: Any) -> str:
    """A value from the node as messages quote it: short, numbers as JSON wrote them."""
    text = str(value) if isinstance(value, Decimal) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def obj(value: Any, what: str, url: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(url, what, f"{type(value).__name__} {show(value)}, not an object")
    return value


def field(answer: dict[str, Any], key: str, what: str, url: str) -> Any:
    if key not in answer:
        raise _bad(url, what, f"no {key!r}")
    return answer[key]


def height(value: Any, what: str, url: str) -> int:
    """A block height: an integer (not a bool, not a float) in 0..2**31-1."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_HEIGHT:
        raise _bad(url, what, f"height {show(value)}, not an integer in 0..{MAX_HEIGHT}")
    return value


def hex_bytes(value: Any, what: str, url: str) -> bytes:
    """Bytes given as an even-length hex string."""
    if not isinstance(value, str) or len(value) % 2 or not _HEX.fullmatch(value):
        raise _bad(url, what, f"{show(value)}, not hex")
    return bytes.fromhex(value)


def block_hash(value: Any, what: str, url: str) -> bytes:
    """A block hash as the node shows it (64 hex digits), in serialized byte order."""
    if not isinstance(value, str) or len(value) != 64:
        raise _bad(url, what, f"{show(value)}, not a block hash of 64 hex digits")
    return hex_bytes(value, what, url)[::-1]


def sats(value: Any, what: str, url: str) -> int:
    """An amount in BTC as JSON gives it (a number), in satoshis: 0..21M BTC, whole sats."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise _bad(url, what, f"amount {show(value)}, not a number")
    try:
        exact = Decimal(str(value)) * 100_000_000
    except InvalidOperation:
        raise _bad(url, what, f"amount {show(value)}, not a number") from None
    if not exact.is_finite() or exact != exact.to_integral_value() or not 0 <= exact <= MAX_SATS:
        raise _bad(url, what, f"amount {show(value)}, not whole satoshis in 0..21M BTC")
    return int(exact)
