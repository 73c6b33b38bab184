"""The output script an address names, in plain Python: the twin of `addresses.c`.

A labels import reads up to 10^8 addresses; the compiled twin decodes one in well under a
microsecond. It answers the script or None and gives no reason: the caller asks
`indexer.parse.script.script_for` for the reason when it needs one.
"""

from __future__ import annotations

import operator
from typing import Any

from indexer.parse.script import AddressError, script_for

MAX_ADDRESS = 90  # bech32's limit; a base58check address of 25 bytes takes at most 60


def _prefix_byte(value: Any) -> int:
    number = operator.index(value)
    if not -(1 << 31) <= number < 1 << 31:
        raise OverflowError("a version byte is an int")
    if not 0 <= number <= 255:
        raise ValueError(f"version byte {number} is not a byte")
    return number


def decode_address(text: Any, hrp: Any, p2pkh_prefix: Any, p2sh_prefix: Any) -> bytes | None:
    """The output script `text` (ASCII bytes, taken as they are) names on the network of segwit
    prefix `hrp` and base58 version bytes `p2pkh_prefix`, `p2sh_prefix`; None when it names
    none. ValueError for a version byte outside 0..255."""
    data = bytes(memoryview(text))
    prefix = bytes(memoryview(hrp)).decode("latin-1")
    p2pkh, p2sh = _prefix_byte(p2pkh_prefix), _prefix_byte(p2sh_prefix)
    if len(data) > MAX_ADDRESS or not data.isascii():
        return None
    try:
        return script_for(data.decode("ascii"), prefix, p2pkh, p2sh)
    except AddressError:
        return None
