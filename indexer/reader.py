"""Read the index: blocks, pools, and the miner series of SPEC 5, as plain dicts.

Shared by the CLI exports and the HTTP API, so both give the same rows. Series rows are stored
sparsely (only blocks where an entity's numbers changed); this module fills the gaps: flows are
zero and balances carry over.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from indexer.attribution.pools import ALL_SLUG, Pool, PoolsList, parse_pools
from indexer.config import Network, get_network
from indexer.errors import NotFound
from indexer.mining import SECONDS_PER_DAY
from indexer.parse.script import address_of, classify
from indexer.store import keys
from indexer.store.db import IndexState, Snapshot, Store

FLOW_FIELDS = ("mined", "inflow", "outflow", "fees", "to_exchange")
# SPEC 5.3's buckets of how long miners held what they sent to exchanges: (name, upper bound in
# seconds, exclusive; None: no bound)
AGE_BUCKETS = (("lt_1d", 86_400), ("1d_1w", 7 * 86_400), ("1w_1m", 30 * 86_400),
               ("1m_1y", 365 * 86_400), ("ge_1y", None))  # indexer.export.FIXED_MAPS too


def age_fields(ages: list[list[int]]) -> dict[str, Any]:
    """`to_exchange_age_days` and `to_exchange_by_age` of a period from its transactions'
    [to_exchange, age numerator (sat-seconds), I_e] (SPEC 5.3): a transaction's age is
    numerator / I_e; the period's days are the to_exchange-weighted mean age over 86,400,
    computed exactly and rounded once to a float (null when nothing went to exchanges); a
    bucket is chosen by exact comparison of the age with its bounds."""
    weighted = Fraction(0)
    total = 0
    by = dict.fromkeys((name for name, _bound in AGE_BUCKETS), 0)
    for to_exchange, numerator, held in ages:
        weighted += Fraction(to_exchange * numerator, held)
        total += to_exchange
        for name, bound in AGE_BUCKETS:
            if bound is None or numerator < held * bound:
                by[name] += to_exchange
                break
    return {"to_exchange_age_days": float(weighted / (total * 86_400)) if total else None,
            "to_exchange_by_age": by}
WINDOWS = {"24h": 86_400, "3d": 3 * 86_400, "1w": 7 * 86_400, "1m": 30 * 86_400,
           "3m": 91 * 86_400, "6m": 182 * 86_400, "1y": 365 * 86_400, "all": None}


def day_text(day: int) -> str:
    return (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()


def parse_day(text: str) -> int:
    """Days since 1970-01-01 of a YYYY-MM-DD date; ValueError otherwise."""
    return (dt.date.fromisoformat(text) - dt.date(1970, 1, 1)).days


ParsedPools = tuple[PoolsList, dict[str, Pool], dict[int, Pool]]
_PARSED: dict[str, ParsedPools] = {}  # by list sha256: a served index parses its list once


def _parsed_pools(store: Store | Snapshot, sha256: str) -> ParsedPools:
    """The index's pools list with its lookups, parsed once per list: the state record and
    the list change together (one batch), so the state's sha256 names the stored list."""
    found = _PARSED.get(sha256)
    if found is None:
        raw = store.get(keys.POOLS_LIST)
        pools = parse_pools(json.loads(raw or b"[]"), "index")
        found = pools, pools.by_slug, pools.by_id
        if len(_PARSED) >= 8:  # lists of past generations and updates
            _PARSED.clear()
        _PARSED[sha256] = found
    return found


@dataclass(frozen=True, slots=True)
class Entity:
    id: int
    slug: str
    name: str


@dataclass(frozen=True, slots=True)
class SeriesSpan:
    """The days of a daily series: every day holding blocks (`days`: day, first and last
    height), the range asked for, each day's heights, and [start, stop) of its stored rows."""

    days: list[tuple[int, int, int]]
    first_day: int
    last_day: int
    spans: dict[int, tuple[int, int]]
    start: int
    stop: int


class IndexReader:
    """Queries over one open index."""

    def __init__(self, store: Store | Snapshot) -> None:
        self.store = store
        self.state: IndexState = store.require_state()
        self.network: Network = get_network(self.state.network)
        self.pools, self._by_slug, self._by_id = _parsed_pools(store, self.state.pools_sha256)
        self._versions: list[tuple[str, int]] | None = None

    # -- entities and pools -------------------------------------------------------------------

    def entities(self) -> list[Entity]:
        """Every pool, unknown first, then `all`."""
        out = [Entity(p.id, p.slug, p.name) for p in self.pools.pools]
        out.append(Entity(keys.ALL_ENTITY, ALL_SLUG, "all"))
        return out

    def entity(self, slug: str) -> Entity:
        if slug == ALL_SLUG:
            return Entity(keys.ALL_ENTITY, ALL_SLUG, "all")
        pool = self._by_slug.get(slug)
        if pool is None:
            raise NotFound(f"unknown entity {slug!r}: use a pool slug, 'unknown' or 'all'")
        return Entity(pool.id, pool.slug, pool.name)

    def pool(self, slug: str) -> Pool:
        pool = self._by_slug.get(slug)
        if pool is None:
            raise NotFound(f"unknown pool {slug!r}")
        return pool

    def pools_versions(self) -> list[tuple[str, int]]:
        """The pools lists that attributed the index's blocks, oldest first: (sha256, blocks);
        read once per reader (a reader lives for one request or one command)."""
        if self._versions is None:
            raw = self.store.get(keys.POOLS_VERSIONS)
            self._versions = keys.unpack_versions(raw) if raw else []
        return self._versions

    def slug_of(self, pool_id: int | None) -> str | None:
        return None if pool_id is None else self._by_id[pool_id].slug

    # -- blocks -------------------------------------------------------------------------------

    @property
    def tip_height(self) -> int:
        return self.state.tip_height

    def block(self, height: int) -> keys.BlockRecord:
        in_range = 0 <= height <= self.tip_height  # the tip is a u32: so is a height in range
        raw = self.store.get(keys.block_key(height)) if in_range else None
        if raw is None:
            raise NotFound(f"no block at height {height} (index tip is {self.tip_height})")
        return keys.unpack_block(height, raw)

    def block_by_hash(self, hash_hum: str) -> keys.BlockRecord:
        try:
            hash_rev = bytes.fromhex(hash_hum)[::-1]
        except ValueError:
            raise NotFound(f"{hash_hum!r} is neither a height nor a block hash") from None
        raw = self.store.get(keys.block_by_hash_key(hash_rev))
        if raw is None or len(hash_rev) != 32:
            raise NotFound(f"no block {hash_hum} in the active chain")
        return self.block(keys.unpack_u32(raw))

    def block_by_ref(self, ref: str) -> keys.BlockRecord:
        """A block by height (ASCII digits only: str.isdigit takes '²') or by hash."""
        is_height = ref.isascii() and ref.isdigit() and len(ref) < 64  # 64 hex digits: a hash
        return self.block(int(ref)) if is_height else self.block_by_hash(ref)

    def blocks(self, start: int = 0, stop: int | None = None) -> Iterator[keys.BlockRecord]:
        """Blocks with start <= height < stop, in height order."""
        end = keys.block_key(stop) if stop is not None else None
        for key, value in self.store.scan(keys.BLOCK, start=keys.block_key(start), stop=end):
            yield keys.unpack_block(keys.height_from_block_key(key), value)

    def block_row(self, r: keys.BlockRecord) -> dict[str, Any]:
        """A block as exported: the field names of expected.json's `blocks`, and more."""
        pool = self._by_id[r.pool_id]
        return {
            "height": r.height, "hash": r.hash_hum, "time": r.chain_time,
            "pool_id": r.pool_id, "pool": pool.slug, "pool_name": pool.name,
            "method": r.method, "conflict": r.conflict, "tag_pool": self.slug_of(r.tag_pool_id),
            "tx_count": r.tx_count, "size": r.size,
        }

    def pools_sha256_of(self, r: keys.BlockRecord) -> str | None:
        """The sha256 of the pools list that attributed the block."""
        versions = self.pools_versions()
        return versions[r.pools_version][0] if r.pools_version < len(versions) else None

    def block_detail(self, r: keys.BlockRecord) -> dict[str, Any]:
        """A block with its coinbase: scriptSig (hex and text) and payout outputs."""
        row = self.block_row(r)
        raw = self.store.get(keys.coinbase_key(r.height))
        assert raw is not None
        script_sig, outputs = keys.unpack_coinbase(raw)
        row.update({
            "header_time": r.header_time, "bits": f"{r.bits:08x}",
            "pools_sha256": self.pools_sha256_of(r),
            "coinbase_value": r.coinbase_value,
            "coinbase_hex": script_sig.hex(),
            "coinbase_text": printable(script_sig),
            "outputs": [
                {"value": value, "script": script.hex(), "type": classify(script),
                 "address": address_of(script, self.network)}
                for value, script in outputs
            ],
        })
        return row

    def pool_heights(self, pool_id: int, before: int | None, limit: int) -> list[int]:
        """Heights of a pool's blocks, newest first, below `before` when given."""
        prefix = keys.pool_block_prefix(pool_id)
        if before is not None and before > keys.MAX_HEIGHT:
            before = None  # above every height: from the newest
        stop = keys.pool_block_key(pool_id, before) if before is not None else None
        heights = []
        for key, _v in self.store.scan(prefix, reverse=True, start=prefix, stop=stop):
            heights.append(keys.height_from_pool_block_key(key))
            if len(heights) >= limit:
                break
        return heights

    def pool_heights_from(self, pool_id: int, start: int, stop: int) -> Iterator[int]:
        """Heights of a pool's blocks with start <= height < stop, oldest first."""
        prefix = keys.pool_block_prefix(pool_id)
        end = keys.pool_block_key(pool_id, stop) if stop <= keys.MAX_HEIGHT else None
        for key, _v in self.store.scan(prefix, start=keys.pool_block_key(pool_id, start),
                                       stop=end):
            yield keys.height_from_pool_block_key(key)

    # -- series -------------------------------------------------------------------------------

    def balance(self, entity_id: int, level: int) -> int:
        raw = self.store.get(keys.balance_key(entity_id, level))
        return keys.unpack_u64(raw) if raw else 0

    def stored_rows(self, entity_id: int, level: int, start: int,
              stop: int) -> tuple[int, Iterator[tuple[int, dict[str, Any]]]]:
        """Balance before `start`, then the stored (sparse) rows with start <= height < stop."""
        prefix = keys.series_prefix(entity_id, level)
        before = 0
        for _key, value in self.store.scan(prefix, reverse=True, start=prefix,
                                           stop=keys.series_key(entity_id, level, start)):
            before = int(keys.unpack_series_row(value)["balance"])
            break

        def rows() -> Iterator[tuple[int, dict[str, Any]]]:
            for key, value in self.store.scan(prefix, start=keys.series_key(entity_id, level,
                                                                             start),
                                              stop=keys.series_key(entity_id, level, stop)):
                yield keys.height_from_series_key(key), keys.unpack_series_row(value)

        return before, rows()

    def block_series(self, entity_id: int, level: int, start: int = 1,
                     stop: int | None = None) -> Iterator[dict[str, Any]]:
        """One row per block from `start` (at least 1) below `stop`."""
        start = max(start, 1)
        stop = self.tip_height + 1 if stop is None else min(stop, self.tip_height + 1)
        balance, rows = self.stored_rows(entity_id, level, start, stop)
        pending = next(rows, None)
        for r in self.blocks(start, stop):
            row: dict[str, Any] = {"height": r.height, "hash": r.hash_hum, "time": r.chain_time}
            if pending is not None and pending[0] == r.height:
                stored = pending[1]
                balance = stored["balance"]
                row.update(_flow_fields(stored, balance))
                pending = next(rows, None)
            else:
                stored = None
                row.update(_flow_fields(None, balance))
            row["balance_share_of_supply"] = balance / self.network.supply(r.height)
            row.update(age_fields(stored.get("ages", []) if stored else []))
            yield row

    def supply(self, height: int | None = None) -> int:
        """Sats issued by the schedule to `height` (the tip's by default; SPEC 5.2)."""
        return self.network.supply(self.tip_height if height is None else height)

    def share_of_supply(self, balance: int) -> float:
        """`balance` over the supply at the tip (0.0 while the index holds no block)."""
        supply = self.supply()
        return balance / supply if supply else 0.0

    def days(self) -> list[tuple[int, int, int]]:
        """(day, first height, last height) of every day holding blocks from height 1 on."""
        out = []
        for key, value in self.store.scan(keys.DAY):
            first, last = keys.unpack_day(value)
            if last >= 1:
                out.append((keys.day_from_key(key), max(first, 1), last))
        return out

    def series_days(self, since_day: int | None,
                    until_day: int | None) -> tuple[list[tuple[int, int, int]], int, int] | None:
        """`days()`, and the first and last day of the series cut to [since_day, until_day];
        None when that leaves no day."""
        days = self.days()
        if not days:
            return None
        first_day = days[0][0] if since_day is None else max(days[0][0], since_day)
        last_day = days[-1][0] if until_day is None else min(days[-1][0], until_day)
        return None if first_day > last_day else (days, first_day, last_day)

    def series_span(self, since_day: int | None, until_day: int | None) -> SeriesSpan | None:
        """The days a daily series covers, cut to [since_day, until_day], with the heights its
        stored rows lie in; None when that leaves no day."""
        found = self.series_days(since_day, until_day)
        if found is None:
            return None
        days, first_day, last_day = found
        spans = {day: (first, last) for day, first, last in days}
        start = next((spans[d][0] for d in range(first_day, last_day + 1) if d in spans),
                     self.tip_height + 1)
        stop = next((spans[d][1] + 1 for d in range(last_day, first_day - 1, -1) if d in spans),
                    start)
        return SeriesSpan(days, first_day, last_day, spans, start, stop)

    def day_of_height(self, height: int) -> int:
        return self.block(height).chain_time // SECONDS_PER_DAY

    def daily_series(self, entity_id: int, level: int, since_day: int | None = None,
                     until_day: int | None = None) -> Iterator[dict[str, Any]]:
        """One row per UTC day from the day of block 1 to the day of the tip, gaps included;
        the tip's day, still open, is `partial`."""
        span_of = self.series_span(since_day, until_day)
        if span_of is None:
            return
        days, first_day, last_day, spans = (span_of.days, span_of.first_day, span_of.last_day,
                                            span_of.spans)
        balance, rows = self.stored_rows(entity_id, level, span_of.start, span_of.stop)
        pending = next(rows, None)
        last_height = max((last for day, _first, last in days if day < first_day), default=0)
        tip_day = days[-1][0]  # the day still open: its row is partial
        for day in range(first_day, last_day + 1):
            totals: dict[str, Any] = dict.fromkeys(FLOW_FIELDS, 0)
            by: dict[str, int] = {}
            ages: list[list[int]] = []
            span = spans.get(day)
            if span is not None:
                last_height = span[1]
            while span is not None and pending is not None and pending[0] <= span[1]:
                stored = pending[1]
                for f in FLOW_FIELDS:
                    totals[f] += stored[f]
                for name, value in stored["to_exchange_by"].items():
                    by[name] = by.get(name, 0) + value
                ages.extend(stored.get("ages", ()))
                balance = stored["balance"]
                pending = next(rows, None)
            yield {"day": day_text(day), "balance": balance, **totals,
                   "to_exchange_by": dict(sorted(by.items())),
                   "balance_share_of_supply": balance / self.network.supply(last_height),
                   **age_fields(ages), "partial": day == tip_day, AGES: ages}


AGES = "_ages"  # a daily row's transactions for SPEC 5.3, kept for weeks and months, never shown


def _flow_fields(stored: dict[str, Any] | None, balance: int) -> dict[str, Any]:
    if stored is None:
        return {"balance": balance, **dict.fromkeys(FLOW_FIELDS, 0), "to_exchange_by": {}}
    return {"balance": balance, **{f: stored[f] for f in FLOW_FIELDS},
            "to_exchange_by": stored["to_exchange_by"]}


def printable(data: bytes) -> str:
    """The text a coinbase carries, as mempool shows it: its UTF-8 text with what is not text
    (bytes of no character, pushes of the height and extranonce, control characters) left
    out, so no U+FFFD or control character reaches a page, a CSV cell or a terminal."""
    return "".join(ch for ch in data.decode("utf-8", "ignore") if ch.isprintable())


def exchange_flows(reader: IndexReader, level: int, start: int) -> dict[tuple[int, str], int]:
    """Miner -> exchange totals per (entity id, exchange) over heights >= `start`."""
    totals: dict[tuple[int, str], int] = {}
    for entity in reader.entities():
        if entity.id == keys.ALL_ENTITY:
            continue
        _before, rows = reader.stored_rows(entity.id, level, start, reader.tip_height + 1)
        for _height, row in rows:
            for name, value in row["to_exchange_by"].items():
                totals[(entity.id, name)] = totals.get((entity.id, name), 0) + value
    return totals
