"""SPEC 5.1's exchange series as the user asks for them: per block, day, week or month over a
day or height range, and the list of exchanges with their balances and recent netflows.

Rows are stored sparsely (`X` keys: only blocks that changed an exchange); this module fills
the gaps as the miner series do: flows zero, balances carried over. `from_miners` is flat,
`from_miners_level0` and `from_miners_level1`, so CSV and JSON rows have the same fields.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from indexer.errors import NotFound, StoreError
from indexer.labels.exchanges import Exchange, exchanges_of
from indexer.labels.indexed import stored_summary
from indexer.mining_series import bucket_start, window_totals
from indexer.reader import IndexReader, day_text, parse_day
from indexer.series import check_interval, day_range, height_range
from indexer.store import keys

FLOWS = ("inflow", "outflow", "netflow", "fees", "from_miners_level0", "from_miners_level1",
         "from_coinbase")
NETFLOW_WINDOWS = (("netflow_24h", "24h"), ("netflow_7d", "1w"), ("netflow_30d", "1m"))


def exchanges(reader: IndexReader) -> list[Exchange]:
    """The exchanges of the index's label set in id order, `all` last. StoreError when the
    series were built with another set (after `labels import`): an exchange's id is its place
    in the set, so its rows could be another exchange's until `minerflow rebuild`."""
    state = reader.state
    if state.series_labels_sha256 not in (None, state.labels_sha256):
        raise StoreError(f"the exchange series were built with labels "
                         f"{str(state.series_labels_sha256)[:12]}, the index now holds "
                         f"{state.labels_sha256[:12]}: `minerflow rebuild` brings them up to "
                         f"date")
    return exchanges_of(stored_summary(reader.store))


def exchange(reader: IndexReader, slug: str) -> Exchange:
    known = exchanges(reader)
    for x in known:
        if x.slug == slug:
            return x
    raise NotFound(f"unknown exchange {slug!r}: known are {', '.join(x.slug for x in known)}")


def _fields(row: keys.ExchangeRow | None) -> dict[str, int]:
    if row is None:
        return dict.fromkeys(FLOWS, 0)
    return {"inflow": row.inflow, "outflow": row.outflow, "netflow": row.inflow - row.outflow,
            "fees": row.fees, "from_miners_level0": row.from_miners_0,
            "from_miners_level1": row.from_miners_1, "from_coinbase": row.from_coinbase}


def stored_rows(reader: IndexReader, exchange_id: int, start: int,
                stop: int) -> tuple[int, Iterator[tuple[int, keys.ExchangeRow]]]:
    """The balance before `start`, then the stored rows with start <= height < stop."""
    prefix = keys.exchange_series_prefix(exchange_id)
    before = 0
    for _key, value in reader.store.scan(prefix, reverse=True, start=prefix,
                                         stop=keys.exchange_series_key(exchange_id, start)):
        before = keys.unpack_exchange_row(value).balance
        break

    def rows() -> Iterator[tuple[int, keys.ExchangeRow]]:
        for key, value in reader.store.scan(
                prefix, start=keys.exchange_series_key(exchange_id, start),
                stop=keys.exchange_series_key(exchange_id, min(stop, keys.MAX_HEIGHT))):
            yield keys.height_from_exchange_series_key(key), keys.unpack_exchange_row(value)

    return before, rows()


def block_rows(reader: IndexReader, exchange_id: int, start: int = 1,
               stop: int | None = None) -> Iterator[dict[str, Any]]:
    """One row per block from `start` (at least 1) below `stop`."""
    start = max(start, 1)
    stop = reader.tip_height + 1 if stop is None else min(stop, reader.tip_height + 1)
    balance, rows = stored_rows(reader, exchange_id, start, stop)
    pending = next(rows, None)
    for r in reader.blocks(start, stop):
        stored = None
        if pending is not None and pending[0] == r.height:
            stored = pending[1]
            balance = stored.balance
            pending = next(rows, None)
        yield {"height": r.height, "hash": r.hash_hum, "time": r.chain_time, "balance": balance,
               **_fields(stored)}


def daily_rows(reader: IndexReader, exchange_id: int, since_day: int | None = None,
               until_day: int | None = None) -> Iterator[dict[str, Any]]:
    """One row per UTC day from the day of block 1 to the tip's, days without blocks included;
    the tip's day, still open, is `partial`."""
    span_of = reader.series_span(since_day, until_day)
    if span_of is None:
        return
    spans = span_of.spans
    balance, rows = stored_rows(reader, exchange_id, span_of.start, span_of.stop)
    pending = next(rows, None)
    tip_day = span_of.days[-1][0]
    for day in range(span_of.first_day, span_of.last_day + 1):
        totals = dict.fromkeys(FLOWS, 0)
        span = spans.get(day)
        while span is not None and pending is not None and pending[0] <= span[1]:
            for name, value in _fields(pending[1]).items():
                totals[name] += value
            balance = pending[1].balance
            pending = next(rows, None)
        yield {"day": day_text(day), "balance": balance, **totals, "partial": day == tip_day}


def exchange_series(reader: IndexReader, slug: str, interval: str, since: str | None = None,
                    until: str | None = None) -> Iterator[dict[str, Any]]:
    """The rows of one exchange (or `all`) per block, day, week or month (a week or month row:
    the balance at its last block, flows summed over its days in the range, labelled by its
    first day)."""
    check_interval(interval)
    x = exchange(reader, slug)
    if interval == "block":
        start, stop = height_range(reader, since, until)
        return block_rows(reader, x.id, start, stop)
    since_day, until_day = day_range(reader, since, until)
    days = daily_rows(reader, x.id, since_day, until_day)
    return days if interval == "day" else _buckets(days, interval)


def _buckets(days: Iterator[dict[str, Any]], bucket: str) -> Iterator[dict[str, Any]]:
    current: dict[str, Any] | None = None
    for row in days:
        start = day_text(bucket_start(parse_day(row["day"]), bucket))
        if current is not None and current["day"] != start:
            yield current
            current = None
        if current is None:
            current = {**row, "day": start}
            continue
        current["balance"] = row["balance"]
        current["partial"] = row["partial"]
        for name in FLOWS:
            current[name] += row[name]
    if current is not None:
        yield current


def overview(reader: IndexReader) -> list[dict[str, Any]]:
    """Every exchange (`all` last) with its balance at the tip and its netflow over the last
    24 hours, 7 and 30 days (windows as the pools list's: blocks whose chain time is later than
    the tip's minus the window)."""
    starts = {name: window_totals(reader, window, ()).from_height
              for name, window in NETFLOW_WINDOWS}
    first = min(starts.values(), default=1)
    out = []
    for x in exchanges(reader):
        balance, rows = stored_rows(reader, x.id, max(first, 1), reader.tip_height + 1)
        netflows = dict.fromkeys(starts, 0)
        for height, row in rows:
            balance = row.balance
            for name, start in starts.items():
                if height >= start:
                    netflows[name] += row.inflow - row.outflow
        out.append({"slug": x.slug, "name": x.name, "id": None if x.id == keys.ALL_ENTITY
                    else x.id, "scripts": x.scripts, "balance": balance, **netflows})
    return out
