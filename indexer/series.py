"""Miner series as the user asks for them: entity, level, interval and a day or height range."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from indexer.errors import BadParameter
from indexer.reader import IndexReader, parse_day
from indexer.store import keys

INTERVALS = ("day", "block")
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
    """The rows of SPEC 5's daily or per-block series for one entity and level."""
    if derived and interval != "day":
        raise BadParameter("derived: the derived series are daily; use interval=day")
    if level not in (0, 1):
        raise BadParameter(f"level: expected 0 or 1, got {level}")
    if interval not in INTERVALS:
        raise BadParameter(f"interval: expected day or block, got {interval!r}")
    entity = reader.entity(entity_slug)
    lo = parse_bound("since", since)
    hi = parse_bound("until", until)
    tip = reader.tip_height
    if interval == "day":
        since_day = _as_day(reader, lo, tip, first=True)
        until_day = _as_day(reader, hi, tip, first=False)
        if derived:  # computed over the whole history, then cut to the range asked for
            rows = with_derived(reader.daily_series(entity.id, level))
            return (r for r in rows if _in_days(r["day"], since_day, until_day))
        return reader.daily_series(entity.id, level, since_day, until_day)
    start = _as_height(reader, lo, first=True) if lo else 1
    stop = (_as_height(reader, hi, first=False) + 1) if hi else None
    return reader.block_series(entity.id, level, start, stop)


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


def with_derived(rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Daily rows plus two derived fields, in BTC:

    - `net_position_change_30d`: balance(d) − balance(d − 30 days), Glassnode's Miner Net
      Position Change; null for the first 30 days of the series.
    - `outflow_multiple`: outflow(d) / mean(outflow over the 365 days ending at d), Glassnode's
      Miner Outflow Multiple; the mean is over the days present when the series is younger than
      365 days, and the value is null while that mean is zero.
    """
    balances: list[int] = []
    outflows: list[int] = []
    window_sum = 0
    for row in rows:
        balances.append(int(row["balance"]))
        outflows.append(int(row["outflow"]))
        window_sum += outflows[-1]
        if len(outflows) > 365:
            window_sum -= outflows[-366]
        days = min(len(outflows), 365)
        change = balances[-1] - balances[-31] if len(balances) > 30 else None
        yield {
            **row,
            "net_position_change_30d": None if change is None else change / 1e8,
            "outflow_multiple": outflows[-1] * days / window_sum if window_sum else None,
        }
