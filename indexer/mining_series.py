"""Network series, pool windows, difficulty adjustments and reward stats (SPEC 5).

Everything here reads the per-day and whole-chain `Totals` the applier keeps (`A` and `W` keys),
so a query costs O(days in its range), not O(blocks): a window or height range is its whole days'
totals plus the blocks of at most one partial day, read from their block records. Windows end at
the tip's chain time and hold the blocks whose chain time is later than the tip's minus the
window; chain time never decreases, so a window is always a suffix of the chain.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from indexer.mining import SECONDS_PER_DAY, block_totals, difficulty, hashrate
from indexer.reader import WINDOWS, IndexReader, day_text
from indexer.store import keys
from indexer.store.keys import Totals

RETARGET_INTERVAL = 2016
BUCKETS = ("day", "week", "month")


@dataclass(frozen=True, slots=True)
class WindowTotals:
    """The blocks of one window: network totals, per-pool totals and the heights they span."""

    window: str
    from_height: int
    seconds: int | None  # the window's length; for `all`, block 1's chain time to the tip's
    network: Totals
    pools: dict[int, Totals]

    def hashrate(self, work: int) -> float | None:
        """H/s that `work` over the window's length implies; None when it spans no time."""
        return None if self.seconds is None else hashrate(work, self.seconds)

    def pool(self, pool_id: int) -> PoolInWindow:
        """One pool's figures over the window (zeros when it found no block in it)."""
        t = self.pools.get(pool_id, Totals())
        total = self.network.blocks
        return PoolInWindow(pool_id, t.blocks, t.blocks / total if total else 0.0,
                            self.hashrate(t.work), t.empty_blocks, t.subsidy + t.fees)

    def ranked(self) -> list[PoolInWindow]:
        """The pools that found blocks in the window, most blocks first (tie: lowest id)."""
        return [self.pool(i) for i, _t in sorted(self.pools.items(),
                                                 key=lambda kv: (-kv[1].blocks, kv[0]))]


@dataclass(frozen=True, slots=True)
class PoolInWindow:
    """What the pools list and a pool's page show for one window."""

    pool_id: int
    blocks: int
    share: float  # of the window's blocks
    hashrate: float | None  # H/s
    empty_blocks: int
    revenue: int  # sats: subsidy plus claimed fees


def chain_totals(reader: IndexReader, entity: int) -> Totals:
    raw = reader.store.get(keys.chain_totals_key(entity))
    return keys.unpack_totals(raw) if raw else Totals()


def day_totals(reader: IndexReader, entity: int, first_day: int = 0,
               last_day: int | None = None) -> Iterator[tuple[int, Totals]]:
    """(day, totals) of the days in [first_day, last_day] on which the entity found blocks."""
    prefix = keys.day_totals_prefix(entity)
    stop = keys.day_totals_key(entity, last_day + 1) if last_day is not None else None
    for key, value in reader.store.scan(prefix, start=keys.day_totals_key(entity, first_day),
                                        stop=stop):
        yield keys.day_from_totals_key(key), keys.unpack_totals(value)


def _tip_time(reader: IndexReader) -> int:
    return reader.block(reader.tip_height).chain_time


def window_totals(reader: IndexReader, window: str,
                  entities: Iterable[int] | None = None) -> WindowTotals:
    """Totals over a window (a key of `WINDOWS`) for the network and each pool in `entities`
    (default: every pool of the list), pools without blocks in the window left out."""
    ids = [p.id for p in reader.pools.pools] if entities is None else list(entities)
    tip = reader.tip_height
    if tip < 1:
        return WindowTotals(window, max(tip + 1, 0), None, Totals(), {})
    seconds = WINDOWS[window]
    if seconds is None:
        network = chain_totals(reader, keys.ALL_ENTITY)
        pools = {i: t for i in ids if (t := chain_totals(reader, i)).blocks}
        span = _tip_time(reader) - reader.block(1).chain_time
        return WindowTotals(window, tip + 1 - network.blocks, span or None, network, pools)
    after = _tip_time(reader) - seconds  # the window holds chain times above this
    network, pools = _partial_day(reader, after, set(ids))
    first_full_day = max(after // SECONDS_PER_DAY + 1, 0)
    for _day, t in day_totals(reader, keys.ALL_ENTITY, first_full_day):
        network = network + t
    for i in ids:
        for _day, t in day_totals(reader, i, first_full_day):
            pools[i] = pools.get(i, Totals()) + t
    return WindowTotals(window, tip + 1 - network.blocks, seconds, network, pools)


def _partial_day(reader: IndexReader, after: int,
                 ids: set[int]) -> tuple[Totals, dict[int, Totals]]:
    """Totals of the blocks of `after`'s day whose chain time is above `after`."""
    network = Totals()
    pools: dict[int, Totals] = {}
    day = after // SECONDS_PER_DAY
    raw = reader.store.get(keys.day_key(day)) if day >= 0 else None
    if raw is None:
        return network, pools
    first, last = keys.unpack_day(raw)
    for record in reader.blocks(max(first, 1), last + 1):
        if record.chain_time > after:
            t = block_totals(record, reader.network)
            network = network + t
            if record.pool_id in ids:
                pools[record.pool_id] = pools.get(record.pool_id, Totals()) + t
    return network, pools


def height_totals(reader: IndexReader, start: int) -> Totals:
    """Network totals of the blocks from `start` (at least 1) to the tip."""
    start = max(start, 1)
    if start > reader.tip_height:
        return Totals()
    day = reader.day_of_height(start)
    raw = reader.store.get(keys.day_key(day))
    assert raw is not None, f"day {day} of height {start} has no span"
    _first, last = keys.unpack_day(raw)
    total = Totals()
    for record in reader.blocks(start, last + 1):
        total = total + block_totals(record, reader.network)
    for _day, t in day_totals(reader, keys.ALL_ENTITY, day + 1):
        total = total + t
    return total


def reward_stats(reader: IndexReader, blocks: int) -> dict[str, Any]:
    """Subsidy, fees and transactions of the last `blocks` blocks (mempool's reward-stats)."""
    tip = reader.tip_height
    start = max(tip - blocks + 1, 1)
    t = height_totals(reader, start)
    return {"from_height": start if t.blocks else None, "to_height": tip if t.blocks else None,
            "blocks": t.blocks, "subsidy": t.subsidy, "fees": t.fees,
            "revenue": t.subsidy + t.fees, "tx_count": t.tx_count,
            "empty_blocks": t.empty_blocks}


# -- daily series ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DayFigures:
    day: int
    network: Totals
    bits: int | None  # of the last block at or before the day's end (None before block 1)
    pool: Totals | None  # the asked pool's, when one was asked for
    height: int = 0  # of the last block at or before the day's end
    partial: bool = False  # the tip's day, still open


def network_days(reader: IndexReader, pool_id: int | None = None, since_day: int | None = None,
                 until_day: int | None = None) -> Iterator[DayFigures]:
    """One entry per UTC day from the day of block 1 to the tip's, days without blocks
    included, cut to [since_day, until_day]."""
    found = reader.series_days(since_day, until_day)
    if found is None:
        return
    days, first_day, last_day = found
    last_height = {day: last for day, _first, last in days}
    before = [last for day, _f, last in days if day < first_day]
    bits = reader.block(before[-1]).bits if before else None
    height = before[-1] if before else 0
    network = dict(day_totals(reader, keys.ALL_ENTITY, first_day, last_day))
    pool = dict(day_totals(reader, pool_id, first_day, last_day)) if pool_id is not None else {}
    for day in range(first_day, last_day + 1):
        if day in last_height:
            height = last_height[day]
            bits = reader.block(height).bits
        yield DayFigures(day, network.get(day, Totals()), bits,
                         pool.get(day, Totals()) if pool_id is not None else None, height,
                         day == days[-1][0])


def bucket_start(day: int, bucket: str) -> int:
    """The first day of the UTC week (Monday) or calendar month holding `day`."""
    if bucket == "day":
        return day
    date = dt.date(1970, 1, 1) + dt.timedelta(days=day)
    if bucket == "week":
        return day - date.weekday()
    return day - (date.day - 1)


def bucket_days(start: int, bucket: str) -> int:
    """How many days the bucket starting on `start` spans."""
    if bucket == "day":
        return 1
    if bucket == "week":
        return 7
    date = dt.date(1970, 1, 1) + dt.timedelta(days=start)
    following = dt.date(date.year + date.month // 12, date.month % 12 + 1, 1)
    return (following - date).days


def grouped(entries: Iterator[DayFigures], bucket: str) -> Iterator[tuple[int, list[DayFigures]]]:
    """Consecutive days grouped by bucket: (bucket start, its days present in the range)."""
    current: list[DayFigures] = []
    start = None
    for entry in entries:
        b = bucket_start(entry.day, bucket)
        if current and b != start:
            assert start is not None
            yield start, current
            current = []
        start = b
        current.append(entry)
    if current:
        assert start is not None
        yield start, current


def network_rows(reader: IndexReader, bucket: str = "day", since_day: int | None = None,
                 until_day: int | None = None) -> Iterator[dict[str, Any]]:
    """SPEC 5's network series: day, blocks, subsidy, fees (sats), difficulty of the last
    block, hashrate (H/s: the bucket's work over its full length in seconds), supply (sats
    issued by the schedule to the last block, SPEC 5.2), partial (the bucket holds the tip's
    day, still open: its flows and hash rate are so far)."""
    for start, entries in grouped(network_days(reader, None, since_day, until_day), bucket):
        total = sum((e.network for e in entries), Totals())
        bits = entries[-1].bits
        yield {"day": day_text(start), "blocks": total.blocks, "subsidy": total.subsidy,
               "fees": total.fees,
               "difficulty": difficulty(bits, reader.network) if bits is not None else None,
               "hashrate": hashrate(total.work, bucket_days(start, bucket) * SECONDS_PER_DAY),
               "supply": reader.network.supply(entries[-1].height),
               "partial": entries[-1].partial}


def pool_rows(reader: IndexReader, pool_id: int, bucket: str = "day",
              since_day: int | None = None, until_day: int | None = None,
              average_days: int = 0) -> Iterator[dict[str, Any]]:
    """A pool's series: date, blocks, share of the bucket's blocks (null without blocks),
    hashrate (H/s), subsidy and fees (sats) of its blocks, empty blocks. With
    `average_days` (daily only), `hashrate_<n>d` is its mean over the n days ending at the
    row (fewer at the start of the series)."""
    recent: list[int] = []
    first_day = since_day
    if average_days and since_day is not None:  # the first rows' means reach back before
        since_day -= average_days - 1
    for start, entries in grouped(network_days(reader, pool_id, since_day, until_day), bucket):
        network = sum((e.network for e in entries), Totals())
        pool = sum((e.pool or Totals() for e in entries), Totals())
        row = {"day": day_text(start), "blocks": pool.blocks,
               "share": pool.blocks / network.blocks if network.blocks else None,
               "hashrate": hashrate(pool.work, bucket_days(start, bucket) * SECONDS_PER_DAY),
               "subsidy": pool.subsidy, "fees": pool.fees, "empty_blocks": pool.empty_blocks,
               "partial": entries[-1].partial}
        if average_days:
            recent = (recent + [pool.work])[-average_days:]
            row[f"hashrate_{average_days}d"] = hashrate(sum(recent),
                                                        len(recent) * SECONDS_PER_DAY)
        if first_day is None or start >= first_day:
            yield row


def block_rows(reader: IndexReader, pool_id: int | None = None, start: int = 1,
               stop: int | None = None) -> Iterator[dict[str, Any]]:
    """One row per block (a pool's blocks only, when one is asked for)."""
    start = max(start, 1)
    stop = reader.tip_height + 1 if stop is None else min(stop, reader.tip_height + 1)
    if pool_id is None:
        records: Iterable[keys.BlockRecord] = reader.blocks(start, stop)
    else:
        records = (reader.block(h) for h in reader.pool_heights_from(pool_id, start, stop))
    for r in records:
        t = block_totals(r, reader.network)
        yield {"height": r.height, "hash": r.hash_hum, "time": r.chain_time,
               "pool": reader.pools.by_id[r.pool_id].slug, "tx_count": r.tx_count,
               "size": r.size, "weight": r.weight, "subsidy": t.subsidy, "fees": t.fees,
               "difficulty": difficulty(r.bits, reader.network), "empty": bool(t.empty_blocks),
               "supply": reader.network.supply(r.height)}


# -- difficulty adjustments ----------------------------------------------------------------------


def difficulty_adjustments(reader: IndexReader, start: int = 0) -> Iterator[dict[str, Any]]:
    """Retargets from height `start` on: every height k * 2016 whose target differs from the
    previous retarget's (testnets' minimum-difficulty blocks in between do not count)."""
    first = max(start, RETARGET_INTERVAL)
    k = -(-first // RETARGET_INTERVAL)
    if k * RETARGET_INTERVAL > reader.tip_height:
        return
    previous = reader.block((k - 1) * RETARGET_INTERVAL)
    for height in range(k * RETARGET_INTERVAL, reader.tip_height + 1, RETARGET_INTERVAL):
        record = reader.block(height)
        if record.bits != previous.bits:
            old = difficulty(previous.bits, reader.network)
            new = difficulty(record.bits, reader.network)
            yield {"height": height, "hash": record.hash_hum, "time": record.chain_time,
                   "difficulty": new, "previous_difficulty": old,
                   "change": new / old if old else None}
        previous = record
