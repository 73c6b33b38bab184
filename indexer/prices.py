"""Daily USD prices for the USD metrics: import (`minerflow prices import`) and lookup.

A prices file is CSV (UTF-8, a BOM allowed) with the header `date,close_usd`: one row per UTC
day, a YYYY-MM-DD date from 1970 on and a positive decimal close. The whole file is checked
before anything is written; a bad row is reported with its line number. Prices are not block
data: no undo record holds them, and a rollback or re-attribution leaves them alone.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from indexer.errors import ConfigError
from indexer.reader import IndexReader, day_text, parse_day
from indexer.store import keys
from indexer.store.db import Store

_DECIMAL = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,12})?$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
HEADER = ["date", "close_usd"]


def load_prices(path: Path) -> dict[int, str]:
    """{day: close text} from a prices file; ConfigError naming the line of the first bad row."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as stream:  # a BOM is no header
            rows = list(csv.reader(stream))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{path}: cannot read prices ({exc})") from None
    if not rows or [c.strip().lower() for c in rows[0]] != HEADER:
        raise ConfigError(f"{path} line 1: expected the header date,close_usd")
    prices: dict[int, str] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 2:
            raise ConfigError(f"{path} line {line}: expected 2 fields, got {len(row)}")
        date, close = row[0].strip(), row[1].strip()
        try:
            if not _DATE.match(date):
                raise ValueError(date)
            day = parse_day(date)
        except ValueError:
            raise ConfigError(f"{path} line {line}: {date!r} is not a date YYYY-MM-DD") from None
        if day < 0:
            raise ConfigError(f"{path} line {line}: {date} is before 1970-01-01, and before "
                              f"every block")
        if not _DECIMAL.match(close) or float(close) <= 0:
            raise ConfigError(f"{path} line {line}: close_usd {close!r} is not a positive "
                              f"decimal")
        if day in prices:
            raise ConfigError(f"{path} line {line}: {date} is given twice")
        prices[day] = close
    if not prices:
        raise ConfigError(f"{path}: no prices")
    return prices


def import_prices(store: Store, prices: dict[int, str]) -> None:
    """Add or replace the prices of these days, in one atomic batch."""
    state = store.require_state()
    store.write({keys.price_key(day): keys.pack_price(close) for day, close in prices.items()},
                state)
    store.record_lists()  # where a rebuild finds them to carry over


def price_table(reader: IndexReader) -> dict[int, float]:
    """Every stored price: {day: close USD}."""
    return {keys.day_from_key(key): keys.unpack_price(value)
            for key, value in reader.store.scan(keys.PRICE)}


@dataclass(frozen=True, slots=True)
class PriceSpan:
    first: str
    last: str
    days: int


def has_prices(reader: IndexReader) -> bool:
    return next(iter(reader.store.scan(keys.PRICE)), None) is not None


def price_summary(reader: IndexReader) -> PriceSpan | None:
    """First and last day and count of the stored prices; None without prices."""
    days = [keys.day_from_key(key) for key, _value in reader.store.scan(keys.PRICE)]
    return PriceSpan(day_text(days[0]), day_text(days[-1]), len(days)) if days else None
