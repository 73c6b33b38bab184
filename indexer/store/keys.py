"""Every key prefix of the index and its codec, in one place (documented in docs/schema.md).

Integers in keys are big-endian so that range scans run in height order and can stop early.
Hashes are stored in serialized byte order (`_rev`).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

FORMAT_VERSION = 4
ALL_ENTITY = 0xFFFF  # the entity id of `all` in series keys
NO_POOL = 0xFFFF  # "no tag matched" in a block record
MAX_POOL_ID = 0xFFFE  # pool ids are u16 in keys, and 0xFFFF is taken by `all`
MAX_HEIGHT = 0xFFFFFFFF  # heights are u32 in keys
MAX_WEIGHT = 0xFFFFFFFF  # block weights are u32 in block records

STATE = b"S"  # -> JSON state record (format, network, genesis, hashes, tip)
POOLS_LIST = b"Lpools"  # -> the pools list JSON the index was built with
LABELS_LIST = b"Llabels"  # -> JSON summary of the label set (sha256, counts, provenance, file)
LABELS_PENDING = b"Lpending"  # -> sha256 of a label set being written (absent when complete)
POOLS_VERSIONS = b"Lversions"  # -> JSON [[pools list sha256, blocks it attributed], ...]
BLOCK = b"H"  # + height u32 -> BlockRecord
BLOCK_BY_HASH = b"B"  # + hash_rev 32 -> height u32
COINBASE = b"C"  # + height u32 -> coinbase scriptSig and outputs
POOL_BLOCK = b"P"  # + pool id u16 + height u32 -> b""
DAY = b"D"  # + day number u32 (days since 1970-01-01) -> first height u32, last height u32
UNDO = b"U"  # + height u32 -> undo record (old values of every key the block changed)
MEMBER = b"m"  # + script -> entity u16, cohort u8
COIN = b"o"  # + txid_rev 32 + vout u32 -> entity u16, level u8, value u64, chain time u32
SERIES = b"e"  # + entity u16 + level u8 + height u32 -> SeriesRow JSON
BALANCE = b"T"  # + entity u16 + level u8 -> balance u64 after the tip
DAY_TOTALS = b"A"  # + entity u16 + day u32 -> Totals of the entity's blocks that day
CHAIN_TOTALS = b"W"  # + entity u16 -> Totals of the entity's blocks from height 1 to the tip
PRICE = b"Q"  # + day u32 -> the day's close in USD, as decimal text
LABEL = b"l"  # + script -> the script's label row (CSV text of labels.rows.COLUMNS)
EXCHANGE_SCRIPT = b"x"  # + script -> the exchange's entity, UTF-8 (exchange labels in force)
EXCHANGE_SERIES = b"X"  # + exchange id u16 + height u32 -> ExchangeRow (blocks that changed it)
EXCHANGE_BALANCE = b"Y"  # + exchange id u16 -> balance u64 after the tip

_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")
_POOL_BLOCK = struct.Struct(">HI")
_SERIES = struct.Struct(">HBI")
_ENTITY_LEVEL = struct.Struct(">HB")
_MEMBER_VALUE = struct.Struct(">HB")
_COIN_VALUE = struct.Struct(">HBQI")
MEMBER_VALUE_SIZE = _MEMBER_VALUE.size
COIN_VALUE_SIZE = _COIN_VALUE.size
_DAY_VALUE = struct.Struct(">II")
_BLOCK_VALUE = struct.Struct(">32sIIIHBHBIIQIH")
_ENTITY_DAY = struct.Struct(">HI")
_TOTALS_VALUE = struct.Struct(">IIQQQQq40s")  # work: 2**32 blocks of 2**255 fit
_EXCHANGE_ROW = struct.Struct(">7Q")
METHODS = ("none", "address", "tag")


def block_key(height: int) -> bytes:
    return BLOCK + _U32.pack(height)


def height_from_block_key(key: bytes) -> int:
    return int(_U32.unpack_from(key, 1)[0])


def block_by_hash_key(hash_rev: bytes) -> bytes:
    return BLOCK_BY_HASH + hash_rev


def coinbase_key(height: int) -> bytes:
    return COINBASE + _U32.pack(height)


def pool_block_key(pool_id: int, height: int) -> bytes:
    return POOL_BLOCK + _POOL_BLOCK.pack(pool_id, height)


def pool_block_prefix(pool_id: int) -> bytes:
    return POOL_BLOCK + _U16.pack(pool_id)


def height_from_pool_block_key(key: bytes) -> int:
    return int(_POOL_BLOCK.unpack_from(key, 1)[1])


def day_key(day: int) -> bytes:
    return DAY + _U32.pack(day)


def day_from_key(key: bytes) -> int:
    return int(_U32.unpack_from(key, 1)[0])


def pack_day(first: int, last: int) -> bytes:
    return _DAY_VALUE.pack(first, last)


def unpack_day(value: bytes) -> tuple[int, int]:
    first, last = _DAY_VALUE.unpack(value)
    return int(first), int(last)


def undo_key(height: int) -> bytes:
    return UNDO + _U32.pack(height)


def member_key(script: bytes) -> bytes:
    return MEMBER + script


def pack_member(entity: int, cohort: int) -> bytes:
    return _MEMBER_VALUE.pack(entity, cohort)


def unpack_member(value: bytes) -> tuple[int, int]:
    entity, cohort = _MEMBER_VALUE.unpack(value)
    return int(entity), int(cohort)


def coin_key(txid_rev: bytes, vout: int) -> bytes:
    return COIN + txid_rev + _U32.pack(vout)


def outpoint_from_coin_key(key: bytes) -> tuple[bytes, int]:
    return key[1:33], int(_U32.unpack_from(key, 33)[0])


def script_from_member_key(key: bytes) -> bytes:
    return key[1:]


def label_key(script: bytes) -> bytes:
    return LABEL + script


def exchange_script_key(script: bytes) -> bytes:
    return EXCHANGE_SCRIPT + script


def script_from_label_key(key: bytes) -> bytes:
    """The script of an `l` or `x` key."""
    return key[1:]


def pack_coin(entity: int, level: int, value: int, time: int) -> bytes:
    """A miner coin: its entity, level, value and the chain time of the block that made it."""
    return _COIN_VALUE.pack(entity, level, value, time)


def unpack_coin(value: bytes) -> tuple[int, int, int, int]:
    entity, level, amount, time = _COIN_VALUE.unpack(value)
    return int(entity), int(level), int(amount), int(time)


def series_key(entity: int, level: int, height: int) -> bytes:
    return SERIES + _SERIES.pack(entity, level, height)


def series_prefix(entity: int, level: int) -> bytes:
    return SERIES + _ENTITY_LEVEL.pack(entity, level)


def height_from_series_key(key: bytes) -> int:
    return int(_SERIES.unpack_from(key, 1)[2])


def balance_key(entity: int, level: int) -> bytes:
    return BALANCE + _ENTITY_LEVEL.pack(entity, level)


def entity_level_from_balance_key(key: bytes) -> tuple[int, int]:
    entity, level = _ENTITY_LEVEL.unpack_from(key, 1)
    return int(entity), int(level)


def pack_u64(value: int) -> bytes:
    return value.to_bytes(8, "big")


def unpack_u64(value: bytes) -> int:
    return int.from_bytes(value, "big")


def pack_u32(value: int) -> bytes:
    return _U32.pack(value)


def unpack_u32(value: bytes) -> int:
    return int(_U32.unpack(value)[0])


@dataclass(frozen=True, slots=True)
class BlockRecord:
    """What the index keeps per active-chain block."""

    height: int
    hash_rev: bytes
    chain_time: int
    header_time: int
    bits: int
    pool_id: int
    method: str
    tag_pool_id: int | None
    conflict: bool
    tx_count: int
    size: int
    coinbase_value: int
    weight: int
    pools_version: int = 0  # index into POOLS_VERSIONS: the list that attributed the block

    @property
    def hash_hum(self) -> str:
        return self.hash_rev[::-1].hex()


def pack_block(r: BlockRecord) -> bytes:
    tag = NO_POOL if r.tag_pool_id is None else r.tag_pool_id
    return _BLOCK_VALUE.pack(r.hash_rev, r.chain_time, r.header_time, r.bits, r.pool_id,
                             METHODS.index(r.method), tag, int(r.conflict), r.tx_count, r.size,
                             r.coinbase_value, r.weight, r.pools_version)


def unpack_block(height: int, value: bytes) -> BlockRecord:
    (hash_rev, chain_time, header_time, bits, pool_id, method, tag, conflict, tx_count, size,
     coinbase_value, weight, version) = _BLOCK_VALUE.unpack(value)
    return BlockRecord(height, hash_rev, chain_time, header_time, bits, pool_id, METHODS[method],
                       None if tag == NO_POOL else tag, bool(conflict), tx_count, size,
                       coinbase_value, weight, version)


def pack_versions(versions: list[tuple[str, int]]) -> bytes:
    """The pools lists that attributed the index's blocks, oldest first: (sha256, blocks)."""
    return json.dumps([[sha, blocks] for sha, blocks in versions],
                      separators=(",", ":")).encode()


def unpack_versions(value: bytes) -> list[tuple[str, int]]:
    return [(str(sha), int(blocks)) for sha, blocks in json.loads(value)]


@dataclass(frozen=True, slots=True)
class Totals:
    """Sums over a set of blocks: what the network series and pool windows are made of.

    `fees` is what the coinbases claimed beyond the subsidy (negative when a miner claimed
    less); `work` is the sum of 2**256 // (target + 1) over the blocks.
    """

    blocks: int = 0
    empty_blocks: int = 0
    tx_count: int = 0
    size: int = 0
    weight: int = 0
    subsidy: int = 0
    fees: int = 0
    work: int = 0

    def __add__(self, other: Totals) -> Totals:
        return Totals(*(a + b for a, b in zip(_fields(self), _fields(other), strict=True)))

    def __sub__(self, other: Totals) -> Totals:
        return Totals(*(a - b for a, b in zip(_fields(self), _fields(other), strict=True)))


def _fields(t: Totals) -> tuple[int, ...]:
    return (t.blocks, t.empty_blocks, t.tx_count, t.size, t.weight, t.subsidy, t.fees, t.work)


def pack_totals(t: Totals) -> bytes:
    return _TOTALS_VALUE.pack(t.blocks, t.empty_blocks, t.tx_count, t.size, t.weight, t.subsidy,
                              t.fees, t.work.to_bytes(40, "big"))


def unpack_totals(value: bytes) -> Totals:
    blocks, empty, tx_count, size, weight, subsidy, fees, work = _TOTALS_VALUE.unpack(value)
    return Totals(blocks, empty, tx_count, size, weight, subsidy, fees,
                  int.from_bytes(work, "big"))


def day_totals_key(entity: int, day: int) -> bytes:
    return DAY_TOTALS + _ENTITY_DAY.pack(entity, day)


def day_totals_prefix(entity: int) -> bytes:
    return DAY_TOTALS + _U16.pack(entity)


def day_from_totals_key(key: bytes) -> int:
    return int(_ENTITY_DAY.unpack_from(key, 1)[1])


def price_key(day: int) -> bytes:
    return PRICE + _U32.pack(day)


def pack_price(close_usd: str) -> bytes:
    return close_usd.encode("ascii")


def unpack_price(value: bytes) -> float:
    return float(value.decode("ascii"))


def chain_totals_key(entity: int) -> bytes:
    return CHAIN_TOTALS + _U16.pack(entity)


def entity_from_chain_totals_key(key: bytes) -> int:
    return int(_U16.unpack_from(key, 1)[0])


def pack_coinbase(script_sig: bytes, outputs: list[tuple[int, bytes]]) -> bytes:
    """scriptSig and (value, script) outputs: u32 length-prefixed fields, u64 values."""
    parts = [_U32.pack(len(script_sig)), script_sig, _U32.pack(len(outputs))]
    for value, script in outputs:
        parts += [value.to_bytes(8, "big", signed=True), _U32.pack(len(script)), script]
    return b"".join(parts)


def unpack_coinbase(data: bytes) -> tuple[bytes, list[tuple[int, bytes]]]:
    n = _U32.unpack_from(data, 0)[0]
    script_sig = data[4:4 + n]
    p = 4 + n
    count = _U32.unpack_from(data, p)[0]
    p += 4
    outputs = []
    for _ in range(count):
        value = int.from_bytes(data[p:p + 8], "big", signed=True)
        slen = _U32.unpack_from(data, p + 8)[0]
        outputs.append((value, data[p + 12:p + 12 + slen]))
        p += 12 + slen
    return script_sig, outputs


SERIES_FIELDS = ("balance", "mined", "inflow", "outflow", "fees", "to_exchange")


def pack_series_row(balance: int, mined: int, inflow: int, outflow: int, fees: int,
                    to_exchange: int, to_exchange_by: dict[str, int],
                    ages: list[tuple[int, int, int]] | None = None) -> bytes:
    """A series row: compact JSON, the fields in this order, `to_exchange_by` sorted by
    exchange name and without zeros; `ages` (SPEC 5.3: per transaction that sent to
    exchanges, [to_exchange, age numerator in sat-seconds, I_e]) only when there are some."""
    by = {name: value for name, value in sorted(to_exchange_by.items()) if value}
    row: dict[str, Any] = {"balance": balance, "mined": mined, "inflow": inflow,
                           "outflow": outflow, "fees": fees, "to_exchange": to_exchange,
                           "to_exchange_by": by}
    if ages:
        row["ages"] = [list(age) for age in ages]
    return json.dumps(row, separators=(",", ":")).encode()


def unpack_series_row(value: bytes) -> dict[str, Any]:
    row: dict[str, Any] = json.loads(value)
    return row


def pack_state(fields: dict[str, Any]) -> bytes:
    """The state record: JSON with sorted keys."""
    return json.dumps(fields, sort_keys=True).encode()


def unpack_state(value: bytes) -> Any:
    """The state record's JSON, whatever it holds (the caller checks the format first)."""
    return json.loads(value)


def pack_undo(changes: list[tuple[bytes, bytes | None]]) -> bytes:
    """(key, value before the block or None when the key did not exist), in write order."""
    parts = []
    for key, old in changes:
        parts.append(_U32.pack(len(key)))
        parts.append(key)
        if old is None:
            parts.append(b"\xff\xff\xff\xff")
        else:
            parts.append(_U32.pack(len(old)))
            parts.append(old)
    return b"".join(parts)


def unpack_undo(data: bytes) -> list[tuple[bytes, bytes | None]]:
    out: list[tuple[bytes, bytes | None]] = []
    p = 0
    while p < len(data):
        klen = _U32.unpack_from(data, p)[0]
        key = data[p + 4:p + 4 + klen]
        p += 4 + klen
        vlen = _U32.unpack_from(data, p)[0]
        p += 4
        if vlen == 0xFFFFFFFF:
            out.append((key, None))
        else:
            out.append((key, data[p:p + vlen]))
            p += vlen
    return out


def exchange_series_key(exchange: int, height: int) -> bytes:
    return EXCHANGE_SERIES + _U16.pack(exchange) + _U32.pack(height)


def exchange_series_prefix(exchange: int) -> bytes:
    return EXCHANGE_SERIES + _U16.pack(exchange)


def height_from_exchange_series_key(key: bytes) -> int:
    return int(_U32.unpack_from(key, 3)[0])


def exchange_balance_key(exchange: int) -> bytes:
    return EXCHANGE_BALANCE + _U16.pack(exchange)


def exchange_from_balance_key(key: bytes) -> int:
    return int(_U16.unpack_from(key, 1)[0])


EXCHANGE_FIELDS = ("balance", "inflow", "outflow", "fees", "from_coinbase", "from_miners_0",
                   "from_miners_1")


@dataclass(frozen=True, slots=True)
class ExchangeRow:
    """An exchange's flows over one block (SPEC 5.1) and its balance after it."""

    balance: int
    inflow: int = 0
    outflow: int = 0
    fees: int = 0
    from_coinbase: int = 0
    from_miners_0: int = 0
    from_miners_1: int = 0


def pack_exchange_row(row: ExchangeRow) -> bytes:
    """Seven big-endian u64s, in `EXCHANGE_FIELDS` order."""
    return _EXCHANGE_ROW.pack(row.balance, row.inflow, row.outflow, row.fees, row.from_coinbase,
                              row.from_miners_0, row.from_miners_1)


def unpack_exchange_row(value: bytes) -> ExchangeRow:
    return ExchangeRow(*(int(v) for v in _EXCHANGE_ROW.unpack(value)))
