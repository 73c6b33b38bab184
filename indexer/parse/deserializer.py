"""A fast cursor deserializer for blocks and transactions.

Hashes are named by byte order: `*_rev` as serialized (internal order), `*_hum` as shown to people.
A transaction's txid is computed on first use only (most transactions never need one), from the
witness-stripped byte ranges of the block, without re-serializing anything.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from indexer.errors import ParseError

_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
_HEADER = struct.Struct("<i32s32sIII")
# What short or absurd bytes raise inside the cursor code (a length of 2**63 overflows a C
# index): turned into ParseError at every public entry point.
_MALFORMED = (IndexError, struct.error, OverflowError)
NULL_TXID = bytes(32)
COINBASE_VOUT = 0xFFFFFFFF


def sha256d(data: bytes | memoryview) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def hum(hash_rev: bytes) -> str:
    """A hash as people write it (byte-reversed hex)."""
    return hash_rev[::-1].hex()


def rev(hash_hum: str) -> bytes:
    """The serialized byte order of a hash written as people write it."""
    return bytes.fromhex(hash_hum)[::-1]


@dataclass(slots=True)
class BlockHeader:
    version: int
    prev_hash_rev: bytes
    merkle_root_rev: bytes
    time: int
    bits: int
    nonce: int
    hash_rev: bytes


@dataclass(slots=True)
class TxIn:
    prev_txid_rev: bytes
    prev_vout: int
    script_sig: bytes
    sequence: int


@dataclass(slots=True)
class TxOut:
    value: int
    script: bytes


@dataclass(slots=True)
class Tx:
    inputs: list[TxIn]
    outputs: list[TxOut]
    # Where the witness-stripped serialization lies in `_data`: [start, body_start) is the version,
    # [body_start, body_end) inputs and outputs, [lock_start, lock_start + 4) the lock time.
    _data: bytes
    _start: int
    _body_start: int
    _body_end: int
    _lock_start: int
    _txid_rev: bytes | None = None

    @property
    def txid_rev(self) -> bytes:
        if self._txid_rev is None:
            d = self._data
            if self._body_start == self._start + 4:  # no witness: one contiguous range
                self._txid_rev = sha256d(memoryview(d)[self._start:self._lock_start + 4])
            else:
                h = hashlib.sha256()
                h.update(memoryview(d)[self._start:self._start + 4])
                h.update(memoryview(d)[self._body_start:self._body_end])
                h.update(memoryview(d)[self._lock_start:self._lock_start + 4])
                self._txid_rev = hashlib.sha256(h.digest()).digest()
        return self._txid_rev

    @property
    def stripped_size(self) -> int:
        """Bytes without the segwit marker, flag and witnesses (BIP 141's base size)."""
        return 4 + (self._body_end - self._body_start) + 4

    @property
    def txid_hum(self) -> str:
        return hum(self.txid_rev)

    @property
    def is_coinbase(self) -> bool:
        return (
            len(self.inputs) == 1
            and self.inputs[0].prev_vout == COINBASE_VOUT
            and self.inputs[0].prev_txid_rev == NULL_TXID
        )


@dataclass(slots=True)
class Block:
    header: BlockHeader
    txs: list[Tx]
    size: int


@dataclass(slots=True)
class RawBlock:
    """A block's bytes with its header and coinbase decoded; the other transactions are decoded
    on demand (`parse_tx_at`), since most of them never touch tracked state."""

    data: bytes
    header: BlockHeader
    tx_count: int
    coinbase: Tx
    next_pos: int  # where the second transaction starts

    @property
    def size(self) -> int:
        return len(self.data)

    def truncated(self) -> ParseError:
        return ParseError(f"block {hum(self.header.hash_rev)} is truncated")

    def check_end(self, end: int) -> None:
        """Raise unless the last transaction ends exactly at the end of the block."""
        if end != len(self.data):
            raise ParseError(
                f"block {hum(self.header.hash_rev)} uses {end} of its {len(self.data)} bytes"
            )


def parse_header(data: bytes, offset: int = 0) -> BlockHeader:
    """Decode the 80-byte header at `offset`."""
    if len(data) - offset < 80:
        raise ParseError(f"block header needs 80 bytes, {len(data) - offset} present")
    version, prev, merkle, time, bits, nonce = _HEADER.unpack_from(data, offset)
    return BlockHeader(version, prev, merkle, time, bits, nonce,
                       sha256d(memoryview(data)[offset:offset + 80]))


def read_compact_size(d: bytes, p: int) -> tuple[int, int]:
    n = d[p]
    if n < 0xFD:
        return n, p + 1
    if n == 0xFD:
        return d[p + 1] | (d[p + 2] << 8), p + 3
    if n == 0xFE:
        return _U32.unpack_from(d, p + 1)[0], p + 5
    return struct.unpack_from("<Q", d, p + 1)[0], p + 9


def skip_witnesses(d: bytes, p: int, n_in: int) -> int:
    """The position after the witness stacks of `n_in` inputs starting at `p`."""
    for _ in range(n_in):
        n_items, p = read_compact_size(d, p)
        for _ in range(n_items):
            ilen, p = read_compact_size(d, p)
            p += ilen
    return p


def _parse_tx(d: bytes, p: int) -> tuple[Tx, int]:
    start = p
    p += 4
    segwit = d[p] == 0 and d[p + 1] != 0
    if segwit:
        p += 2
    body_start = p
    n_in, p = read_compact_size(d, p)
    inputs: list[TxIn] = []
    append_in = inputs.append
    for _ in range(n_in):
        prev = d[p:p + 32]
        vout = _U32.unpack_from(d, p + 32)[0]
        slen, p = read_compact_size(d, p + 36)
        script_sig = d[p:p + slen]
        p += slen
        seq = _U32.unpack_from(d, p)[0]
        p += 4
        append_in(TxIn(prev, vout, script_sig, seq))
    n_out, p = read_compact_size(d, p)
    outputs: list[TxOut] = []
    append_out = outputs.append
    for _ in range(n_out):
        value = _I64.unpack_from(d, p)[0]
        slen, p = read_compact_size(d, p + 8)
        append_out(TxOut(value, d[p:p + slen]))
        p += slen
    body_end = p
    if segwit:
        p = skip_witnesses(d, p, n_in)
    lock_start = p
    p += 4
    if p > len(d):
        raise IndexError("transaction runs past the end of the data")
    return Tx(inputs, outputs, d, start, body_start, body_end, lock_start), p


def read_tx(d: bytes, p: int) -> tuple[Tx, int]:
    """The transaction at `p` of `d` and where it ends; short or absurd bytes raise what
    indexing and struct raise (IndexError, struct.error, OverflowError)."""
    return _parse_tx(d, p)


def parse_tx(data: bytes) -> Tx:
    """Decode one serialized transaction (exactly `data`)."""
    try:
        tx, end = _parse_tx(data, 0)
    except _MALFORMED as exc:
        raise ParseError(f"truncated transaction: {exc}") from None
    if end != len(data):
        raise ParseError(f"transaction is {end} bytes, {len(data)} given")
    return tx


def parse_block(data: bytes, *, require_coinbase: bool = True) -> Block:
    """Decode a whole serialized block; it must use exactly `len(data)` bytes."""
    header = parse_header(data)
    try:
        n_tx, p = read_compact_size(data, 80)
        txs: list[Tx] = []
        for _ in range(n_tx):
            tx, p = _parse_tx(data, p)
            txs.append(tx)
    except _MALFORMED:
        raise ParseError(f"block {hum(header.hash_rev)} is truncated") from None
    if p != len(data):
        raise ParseError(
            f"block {hum(header.hash_rev)} uses {p} of its {len(data)} bytes"
        )
    if not txs:
        raise ParseError(f"block {hum(header.hash_rev)} holds no transactions")
    if require_coinbase and not txs[0].is_coinbase:
        raise ParseError(f"block {hum(header.hash_rev)} does not start with a coinbase")
    return Block(header, txs, len(data))


def open_block(data: bytes) -> RawBlock:
    """Decode a block's header and coinbase; the rest is checked as it is scanned."""
    header = parse_header(data)
    try:
        n_tx, p = read_compact_size(data, 80)
        if n_tx == 0:
            raise ParseError(f"block {hum(header.hash_rev)} holds no transactions")
        coinbase, p = _parse_tx(data, p)
    except _MALFORMED:
        raise ParseError(f"block {hum(header.hash_rev)} is truncated") from None
    if not coinbase.is_coinbase:
        raise ParseError(f"block {hum(header.hash_rev)} does not start with a coinbase")
    block = RawBlock(data, header, n_tx, coinbase, p)
    if n_tx == 1:
        block.check_end(p)
    return block


def parse_tx_at(block: RawBlock, pos: int) -> tuple[Tx, int]:
    """The transaction of `block` starting at `pos`, and where it ends."""
    try:
        return _parse_tx(block.data, pos)
    except _MALFORMED:
        raise block.truncated() from None


def merkle_root(txids_rev: list[bytes]) -> bytes:
    """The merkle root of a block's txids (serialized order)."""
    level = list(txids_rev)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]
