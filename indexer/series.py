"""Series as the user asks for them: miner series (entity, level) and network series (the
network or one pool), per block, day, week or month, over a day or height range."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from indexer.derived import DerivedInputs, with_derived, with_usd
from indexer.errors import BadParameter
from indexer.mining import SECONDS_PER_DAY
from indexer.mining_series import (
    BUCKETS,
    block_rows,
    bucket_start,
    day_totals,
    network_rows,
    pool_rows,
)
from indexer.prices import price_table
from indexer.reader import AGES, IndexReader, age_fields, day_text, parse_day
from indexer.store import keys

INTERVALS = ("day", "week", "month", "block")
_HEIGHT = re.compile(r"^[0-9]+$")  # ASCII digits only: int() would take '²' or '٣'


def parse_bound(name: str, text: str | None) -> tuple[str, int] | None:
    """('height', n) or ('day', days since epoch) from `--since`/`--until` text."""
    if text is None or text == "":
        return None
    text = text.strip()
    if _HEIGHT.match(text):
        return "height", min(int(text), keys.MAX_HEIGHT)  # beyond any height: clamped
    try:
        return "day", parse_day(text)
    except ValueError:
        raise BadParameter(
            f"{name}: expected a date YYYY-MM-DD or a block height, got {text!r}"
        ) from None


def series_rows(reader: IndexReader, entity_slug: str, level: int, interval: str,
                since: str | None = None, until: str | None = None,
                derived: bool = False) -> Iterator[dict[str, Any]]:
    """The rows of SPEC 5's series for one entity and level: per block, or per day, week or
    month (a week or month row: balance at its last block, flows summed over its days in the
    range, labelled by its first day)."""
    if derived and interval != "day":
        raise BadParameter("derived: the derived series are daily; use interval=day")
    if level not in (0, 1):
        raise BadParameter(f"level: expected 0 or 1, got {level}")
    check_interval(interval)
    entity = reader.entity(entity_slug)
    prices = price_table(reader)
    if interval == "block":
        start, stop = height_range(reader, since, until)
        rows = reader.block_series(entity.id, level, start, stop)
        return with_usd(rows, prices, lambda r: int(r["time"]) // SECONDS_PER_DAY)
    since_day, until_day = day_range(reader, since, until)
    if derived:  # computed over the whole history, then cut to the range asked for
        inputs = DerivedInputs(
            revenue={day: t.subsidy + t.fees for day, t in day_totals(reader, entity.id)},
            issuance={day: t.subsidy for day, t in day_totals(reader, keys.ALL_ENTITY)},
            prices=prices)
        daily = with_usd(reader.daily_series(entity.id, level), prices, _day_of)
        return _shown(r for r in with_derived(daily, inputs)
                      if _in_days(r["day"], since_day, until_day))
    days = with_usd(reader.daily_series(entity.id, level, since_day, until_day), prices, _day_of)
    return _shown(days if interval == "day" else _miner_buckets(days, interval))


def _shown(rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Rows without what they carry for the periods built from them."""
    for row in rows:
        row.pop(AGES, None)
        yield row


def _day_of(row: dict[str, Any]) -> int:
    return parse_day(row["day"])


def network_series(reader: IndexReader, pool_slug: str | None, interval: str,
                   since: str | None = None, until: str | None = None) -> Iterator[dict[str, Any]]:
    """SPEC 5's network series, or one pool's, per block, day, week or month."""
    check_interval(interval)
    pool_id = None if pool_slug is None else reader.pool(pool_slug).id
    if interval == "block":
        start, stop = height_range(reader, since, until)
        return block_rows(reader, pool_id, start, stop)
    since_day, until_day = day_range(reader, since, until)
    if pool_id is None:
        return network_rows(reader, interval, since_day, until_day)
    return pool_rows(reader, pool_id, interval, since_day, until_day)


def check_interval(interval: str) -> None:
    if interval not in INTERVALS:
        raise BadParameter(f"interval: expected one of {', '.join(INTERVALS)}, got {interval!r}")


def height_range(reader: IndexReader, since: str | None,
                  until: str | None) -> tuple[int, int | None]:
    lo = parse_bound("since", since)
    hi = parse_bound("until", until)
    start = _as_height(reader, lo, first=True) if lo else 1
    stop = (_as_height(reader, hi, first=False) + 1) if hi else None
    return start, stop


def day_range(reader: IndexReader, since: str | None,
               until: str | None) -> tuple[int | None, int | None]:
    tip = reader.tip_height
    since_day = _as_day(reader, parse_bound("since", since), tip, first=True)
    until_day = _as_day(reader, parse_bound("until", until), tip, first=False)
    return since_day, until_day


def _miner_buckets(days: Iterator[dict[str, Any]], bucket: str) -> Iterator[dict[str, Any]]:
    assert bucket in BUCKETS
    current: dict[str, Any] | None = None
    for row in days:
        start = day_text(bucket_start(parse_day(row["day"]), bucket))
        if current is not None and current["day"] != start:
            yield current
            current = None
        if current is None:
            current = {**row, "day": start, "to_exchange_by": dict(row["to_exchange_by"]),
                       AGES: list(row[AGES])}
            continue
        current["balance"] = row["balance"]
        current["balance_share_of_supply"] = row["balance_share_of_supply"]
        current["partial"] = row["partial"]
        for f in ("mined", "inflow", "outflow", "fees", "to_exchange"):
            current[f] += row[f]
        if "balance_usd" in row:  # USD flows need every day's price; the balance its last
            current["balance_usd"] = row["balance_usd"]
            for f in ("mined", "inflow", "outflow", "fees", "to_exchange"):
                a, b = current[f"{f}_usd"], row[f"{f}_usd"]
                current[f"{f}_usd"] = None if a is None or b is None else a + b
        by = current["to_exchange_by"]
        for name, value in row["to_exchange_by"].items():
            by[name] = by.get(name, 0) + value
        current["to_exchange_by"] = dict(sorted(by.items()))
        current[AGES].extend(row[AGES])
        current.update(age_fields(current[AGES]))
    if current is not None:
        yield current


def _in_days(day: str, since_day: int | None, until_day: int | None) -> bool:
    d = parse_day(day)
    return (since_day is None or d >= since_day) and (until_day is None or d <= until_day)


def _as_day(reader: IndexReader, bound: tuple[str, int] | None, tip: int,
            first: bool) -> int | None:
    if bound is None:
        return None
    kind, value = bound
    if kind == "day":
        return value
    if value > tip:
        return 1 << 30 if first else value  # past the tip: nothing from there on
    return reader.day_of_height(value)


def _as_height(reader: IndexReader, bound: tuple[str, int], first: bool) -> int:
    kind, value = bound
    if kind == "height":
        return value
    days = reader.days()
    if first:
        return next((f for d, f, _l in days if d >= value), reader.tip_height + 1)
    return next((last for d, _f, last in reversed(days) if d <= value), 0)
