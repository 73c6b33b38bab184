"""Miner series as the user asks for them: entity, level, interval and a day or height range."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from indexer.errors import BadParameter
from indexer.reader import IndexReader, parse_day

INTERVALS = ("day", "block")
_HEIGHT = re.compile(r"^\d+$")


def parse_bound(name: str, text: str | None) -> tuple[str, int] | None:
    """('height', n) or ('day', days since epoch) from `--since`/`--until` text."""
    if text is None or text == "":
        return None
    text = text.strip()
    if _HEIGHT.match(text):
        return "height", int(text)
    try:
        return "day", parse_day(text)
    except ValueError:
        raise BadParameter(
            f"{name}: expected a date YYYY-MM-DD or a block height, got {text!r}"
        ) from None


def series_rows(reader: IndexReader, entity_slug: str, level: int, interval: str,
                since: str | None = None, until: str | None = None) -> Iterator[dict[str, Any]]:
    """The rows of SPEC 5's daily or per-block series for one entity and level."""
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
        return reader.daily_series(entity.id, level, since_day, until_day)
    start = _as_height(reader, lo, first=True) if lo else 1
    stop = (_as_height(reader, hi, first=False) + 1) if hi else None
    return reader.block_series(entity.id, level, start, stop)


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
