"""The derived daily series, checked on hand-made rows against their definitions."""

from __future__ import annotations

from typing import Any

from indexer.derived import DerivedInputs, with_derived
from indexer.reader import day_text

FIRST = 20_000  # 2024-10-04


def rows(balances: list[int], outflows: list[int]) -> list[dict[str, Any]]:
    return [{"day": day_text(FIRST + i), "balance": b, "outflow": o}
            for i, (b, o) in enumerate(zip(balances, outflows, strict=True))]


def test_net_position_change_is_the_30_day_balance_difference() -> None:
    balances = [i * 100_000_000 for i in range(40)]
    out = list(with_derived(iter(rows(balances, [0] * 40))))
    assert all(r["net_position_change_30d"] is None for r in out[:30])
    assert [r["net_position_change_30d"] for r in out[30:]] == [30 * 100_000_000] * 10


def test_outflow_multiple_over_a_365_day_mean() -> None:
    outflows = [10] * 400 + [40]
    out = list(with_derived(iter(rows([0] * 401, outflows))))
    assert out[0]["outflow_multiple"] == 1.0
    assert out[399]["outflow_multiple"] == 1.0
    # the last day: 40 / mean(364 days of 10 and one of 40)
    assert abs(out[400]["outflow_multiple"] - 40 / ((364 * 10 + 40) / 365)) < 1e-12


def test_outflow_multiple_is_null_without_outflows() -> None:
    out = list(with_derived(iter(rows([0, 0], [0, 0]))))
    assert [r["outflow_multiple"] for r in out] == [None, None]


def test_no_price_fields_without_prices() -> None:
    out = list(with_derived(iter(rows([0, 0], [5, 5]))))
    assert not {"puell_multiple", "mpi", "revenue_usd"} & set(out[0])


def test_puell_and_mpi_by_hand() -> None:
    # four days: issuance 2, 2, 1, 1 BTC at closes 100, 200, 300, 400 USD
    issuance = {FIRST + i: sats for i, sats in enumerate((2e8, 2e8, 1e8, 1e8))}
    prices = {FIRST + i: close for i, close in enumerate((100.0, 200.0, 300.0, 400.0))}
    outflows = [1e8, 0, 3e8, 0]  # BTC 1, 0, 3, 0 -> USD 100, 0, 900, 0
    inputs = DerivedInputs(revenue={FIRST + 2: 150_000_000},
                           issuance={d: int(v) for d, v in issuance.items()}, prices=prices)
    out = list(with_derived(iter(rows([0] * 4, [int(o) for o in outflows])), inputs))
    # Puell: issuance USD 200, 400, 300, 400; each over the mean of the days so far
    assert out[0]["puell_multiple"] == 1.0
    assert out[1]["puell_multiple"] == 400 / 300
    assert out[2]["puell_multiple"] == 300 / 300
    assert out[3]["puell_multiple"] == 400 / 325
    # MPI: outflow USD 100, 0, 900, 0; z-score against the population deviation so far
    assert out[0]["mpi"] is None  # one day: no deviation yet
    assert out[1]["mpi"] == (0 - 50) / 50
    mean, sd = 1000 / 3, ((100 - 1000 / 3) ** 2 + (1000 / 3) ** 2 + (900 - 1000 / 3) ** 2) ** .5
    assert abs(out[2]["mpi"] - (900 - mean) / (sd / 3 ** .5)) < 1e-12
    assert out[2]["revenue_usd"] == 1.5 * 300 and out[0]["revenue_usd"] == 0.0


def test_a_day_without_a_price_is_null_not_invented() -> None:
    inputs = DerivedInputs(issuance={FIRST: 100, FIRST + 1: 100}, prices={FIRST: 10.0})
    out = list(with_derived(iter(rows([0, 0], [1, 1])), inputs))
    assert out[1]["puell_multiple"] is None and out[1]["mpi"] is None
    assert out[1]["revenue_usd"] is None and out[0]["puell_multiple"] == 1.0


def test_the_net_position_change_in_usd_is_the_sats_at_the_days_close() -> None:
    balances = [i * 50_000_000 for i in range(35)]
    prices = {FIRST + i: 1000.0 + i for i in range(35) if i != 32}
    out = list(with_derived(iter(rows(balances, [0] * 35)), DerivedInputs(prices=prices)))
    assert out[31]["net_position_change_30d"] == 15 * 100_000_000
    assert out[31]["net_position_change_30d_usd"] == 15 * 100_000_000 * 1031.0 / 1e8
    assert out[32]["net_position_change_30d_usd"] is None  # no close that day
    assert out[29]["net_position_change_30d_usd"] is None  # no change yet
