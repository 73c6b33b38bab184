"""Derived daily miner series and USD values (README "What the numbers mean").

Coin-terms ratios need only the index; the USD values and the price-based indicators need
imported prices (`minerflow prices import`) and are left out without them: nothing here
invents a price.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from indexer.reader import parse_day

USD_FIELDS = ("balance", "mined", "inflow", "outflow", "fees", "to_exchange")
WINDOW_DAYS = 365


def with_usd(rows: Iterator[dict[str, Any]], prices: dict[int, float],
             day_of: Callable[[dict[str, Any]], int]) -> Iterator[dict[str, Any]]:
    """Rows with `<field>_usd` (sats x the close of the row's day / 1e8; null without that
    day's price) when there are prices at all; the rows unchanged otherwise."""
    if not prices:
        yield from rows
        return
    for row in rows:
        price = prices.get(day_of(row))
        yield {**row, **{f"{f}_usd": in_usd(row[f], price) for f in USD_FIELDS}}


@dataclass(frozen=True, slots=True)
class DerivedInputs:
    """Per day number: the entity's revenue and the network's issuance (sats), and prices."""

    revenue: dict[int, int] = field(default_factory=dict)
    issuance: dict[int, int] = field(default_factory=dict)
    prices: dict[int, float] = field(default_factory=dict)


def _window(values: list[float | None]) -> list[float]:
    return [v for v in values[-WINDOW_DAYS:] if v is not None]


def with_derived(rows: Iterator[dict[str, Any]],
                 inputs: DerivedInputs | None = None) -> Iterator[dict[str, Any]]:
    """Daily rows plus the derived fields:

    - `net_position_change_30d`: balance(d) − balance(d − 30 days) in sats, Glassnode's Miner
      Net Position Change; null for the first 30 days of the series.
    - `outflow_multiple`: outflow(d) / mean(outflow over the 365 days ending at d), Glassnode's
      Miner Outflow Multiple; the mean is over the days present when the series is younger than
      365 days, and the value is null while that mean is zero.
    - `outflow_revenue_ratio`: outflow(d) / revenue(d), both in sats, where revenue is subsidy
      plus claimed fees of the blocks the entity found that day (the network's for `all`):
      Coin Metrics' Miner Outflow Multiple of Revenue in coin terms; null on days without revenue.

    With prices, also:
    - `net_position_change_30d_usd`: the change x close(d) / 1e8.
    - `revenue_usd`: revenue(d) x close(d) / 1e8.
    - `puell_multiple`: issuance_usd(d) / mean(issuance_usd over the 365 days ending at d), the
      network's daily subsidy in USD (Puell's definition, as Glassnode computes it).
    - `mpi`: Miners' Position Index, (outflow_usd(d) − mean) / standard deviation of the
      entity's outflow in USD over the 365 days ending at d (CryptoQuant's definition; the
      population deviation; null while it is zero).
    The 365-day windows run over the days present with a price while the series is younger.
    """
    inputs = inputs or DerivedInputs()
    priced = bool(inputs.prices)
    balances: list[int] = []
    outflows: list[int] = []
    issuance_usd: list[float | None] = []
    outflow_usd: list[float | None] = []
    window_sum = 0
    for row in rows:
        day = parse_day(row["day"])
        balances.append(int(row["balance"]))
        outflows.append(int(row["outflow"]))
        window_sum += outflows[-1]
        if len(outflows) > WINDOW_DAYS:
            window_sum -= outflows[-WINDOW_DAYS - 1]
        days = min(len(outflows), WINDOW_DAYS)
        change = balances[-1] - balances[-31] if len(balances) > 30 else None
        revenue = inputs.revenue.get(day, 0)
        out = {
            **row,
            "net_position_change_30d": change,
            "outflow_multiple": outflows[-1] * days / window_sum if window_sum else None,
            "outflow_revenue_ratio": outflows[-1] / revenue if revenue else None,
        }
        if priced:
            price = inputs.prices.get(day)
            issuance_usd.append(in_usd(inputs.issuance.get(day, 0), price))
            outflow_usd.append(in_usd(outflows[-1], price))
            out["net_position_change_30d_usd"] = (None if change is None
                                                  else in_usd(change, price))
            out["revenue_usd"] = in_usd(revenue, price)
            out["puell_multiple"] = _puell(issuance_usd)
            out["mpi"] = _mpi(outflow_usd)
        yield out


def in_usd(sats: int, price: float | None) -> float | None:
    return None if price is None else sats * price / 1e8


def _puell(issuance_usd: list[float | None]) -> float | None:
    today, window = issuance_usd[-1], _window(issuance_usd)
    mean = statistics.fmean(window) if window else 0.0
    return None if today is None or not mean else today / mean


def _mpi(outflow_usd: list[float | None]) -> float | None:
    today, window = outflow_usd[-1], _window(outflow_usd)
    if today is None or len(window) < 2:
        return None
    deviation = statistics.pstdev(window)
    return None if not deviation else (today - statistics.fmean(window)) / deviation
