"""CBlockUndo records and de-obfuscation, in plain Python: the twin of `undo.c`
(parse_block_undo, pack_block_undo, xor_at), and `block_undo_scripts`, which `labels derive`
reads the spent scripts with."""

from __future__ import annotations

import struct

from indexer.fastpath.filters import Filter, script_fingerprint
from indexer.parse.deserializer import read_compact_size

_MASK64 = (1 << 64) - 1
MAX_MONEY = 21_000_000 * 100_000_000
MALFORMED = (IndexError, struct.error, OverflowError)  # what short or absurd bytes raise here
_MALFORMED = MALFORMED


def read_varint(d: bytes, p: int) -> tuple[int, int]:
    """Bitcoin Core's VARINT (MSB base-128, as used in undo and chainstate records), read as a
    uint64 the way Core's ReadVarInt does: a value that would not fit is an error."""
    n = 0
    while True:
        ch = d[p]
        p += 1
        if n > _MASK64 >> 7:
            raise OverflowError("VARINT too large")
        n = (n << 7) | (ch & 0x7F)
        if not ch & 0x80:
            return n, p
        if n == _MASK64:
            raise OverflowError("VARINT too large")
        n += 1


def read_spent(d: bytes, p: int) -> tuple[int, int, bytes, int]:
    """One spent output of an undo entry at `p` (Core's TxInUndo: height and coinbase, a dummy
    version when the height is not 0, the compressed amount, the compressed script): (amount
    as stored, script kind, script body, where the next one starts); IndexError or
    OverflowError when it runs past the data or a number does not fit."""
    code, p = read_varint(d, p)
    if code >> 1 > 0:
        _version, p = read_varint(d, p)
    amount, p = read_varint(d, p)
    kind, p = read_varint(d, p)
    length = (20 if kind < 2 else 32) if kind < 6 else kind - 6
    if p + length > len(d):
        raise IndexError
    return amount, kind, d[p:p + length], p + length


def decompress_amount(x: int) -> int:
    """Core's CompressAmount inverse; an amount above MAX_MONEY is an error."""
    if x == 0:
        return 0
    x -= 1
    e = x % 10
    x //= 10
    if e < 9:
        d = x % 9 + 1
        x //= 9
        n = x * 10 + d
    else:
        n = x + 1
    n *= 10**e
    if n > MAX_MONEY:
        raise OverflowError("amount above MAX_MONEY")
    return int(n)


def parse_block_undo(data: bytes) -> list[list[int]]:
    """The spent values of every non-coinbase transaction of a CBlockUndo record."""
    data = bytes(data)
    try:
        n_tx, p = read_compact_size(data, 0)
        txs: list[list[int]] = []
        for _ in range(n_tx):
            n_in, p = read_compact_size(data, p)
            values: list[int] = []
            for _ in range(n_in):
                amount, _kind, _body, p = read_spent(data, p)
                values.append(decompress_amount(amount))
            txs.append(values)
    except _MALFORMED:
        raise ValueError("undo record runs past its end") from None
    if p != len(data):
        raise ValueError(f"undo record uses {p} of its {len(data)} bytes")
    return txs


_SECP_P = 2**256 - 2**32 - 977


def decompress_script(kind: int, body: bytes, curve: bool = True) -> bytes:
    """The script an undo record keeps as `kind` and `body` in Core's ScriptCompression: the
    special kinds 0-5 rebuilt (4 and 5, an uncompressed key kept as x and y's parity, only with
    `curve`; ValueError otherwise), any other the body itself, and a body over the script size
    limit OP_RETURN, as Core reads it."""
    if kind >= 6:
        return body if len(body) <= 10_000 else b"\x6a"
    if kind in (4, 5) and not curve:
        raise ValueError("an uncompressed key needs the curve")
    if kind == 0:
        return b"\x76\xa9\x14" + body + b"\x88\xac"
    if kind == 1:
        return b"\xa9\x14" + body + b"\x87"
    if kind in (2, 3):
        return b"\x21" + bytes([kind]) + body + b"\xac"
    x = int.from_bytes(body, "big")  # 4, 5: an uncompressed key kept as x and y's parity
    y_squared = (pow(x, 3, _SECP_P) + 7) % _SECP_P
    y = pow(y_squared, (_SECP_P + 1) // 4, _SECP_P)
    if x >= _SECP_P or y * y % _SECP_P != y_squared:
        raise ValueError("an uncompressed key in the undo record is not on the curve")
    if y & 1 != kind & 1:
        y = _SECP_P - y
    return b"\x41\x04" + body + y.to_bytes(32, "big") + b"\xac"


def block_undo_scripts(data: bytes) -> list[list[tuple[int, bytes]]]:
    """Per non-coinbase transaction of a CBlockUndo record, the (value, script) of every
    output its inputs spend, scripts decompressed as Core's ScriptCompression stores them."""
    data = bytes(data)
    try:
        n_tx, p = read_compact_size(data, 0)
        txs: list[list[tuple[int, bytes]]] = []
        for _ in range(n_tx):
            n_in, p = read_compact_size(data, p)
            spent: list[tuple[int, bytes]] = []
            for _ in range(n_in):
                amount, kind, body, p = read_spent(data, p)
                spent.append((decompress_amount(amount), decompress_script(kind, body)))
            txs.append(spent)
    except _MALFORMED:
        raise ValueError("undo record runs past its end") from None
    if p != len(data):
        raise ValueError(f"undo record uses {p} of its {len(data)} bytes")
    return txs


def pack_block_undo(data: bytes, scripts: Filter | None = None) -> bytes:
    """`parse_block_undo`'s values packed as little-endian u64s: the transaction count, then
    for each transaction where its values start (and the total), then the values. With
    `scripts`, a fingerprint filter, then the count of hits and four words per hit, in record
    order: the transaction's index in the block (from 1), the input's, the spent script's kind
    (ScriptCompression's) and where its body lies in the record; a hit is an input whose
    spent script's fingerprint (as Core reads the script back) the filter holds, or whose
    script is an uncompressed key (kinds 4 and 5: the fingerprint needs the curve). One walk
    of the record gives both (`undo_held` reads the hits back)."""
    if scripts is not None and not isinstance(scripts, Filter):
        raise TypeError("scripts is a Filter or None")
    txs = parse_block_undo(data)
    starts = [0]
    for values in txs:
        starts.append(starts[-1] + len(values))
    words = [len(txs), *starts, *(value for values in txs for value in values)]
    if scripts is not None:
        hits = _hits(bytes(data), scripts)
        words += [len(hits) // 4, *hits]
    return struct.pack(f"<{len(words)}Q", *words)


def _hits(data: bytes, scripts: Filter) -> list[int]:
    """The hit words of a record `parse_block_undo` has read whole."""
    words: list[int] = []
    n_tx, p = read_compact_size(data, 0)
    for tx in range(1, n_tx + 1):
        n_in, p = read_compact_size(data, p)
        for i in range(n_in):
            _amount, kind, body, p = read_spent(data, p)
            if kind in (4, 5) or script_fingerprint(
                    decompress_script(kind, body, curve=False)) in scripts:
                words += [tx, i, kind, p - len(body)]
    return words


def xor_at(data: bytes, key: bytes, offset: int) -> bytes:
    """De-obfuscate `data` read from file offset `offset` with the 8-byte `key`."""
    if not isinstance(offset, int):
        raise TypeError("the offset is an int")
    data, key = bytes(data), bytes(key)
    if len(key) != 8:
        raise ValueError("the xor key is 8 bytes")
    n = len(data)
    shift = offset % 8
    rotated = key[shift:] + key[:shift]
    stream = (rotated * (n // 8 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")
