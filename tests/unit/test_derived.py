"""The derived daily series, checked on hand-made rows against their definitions."""

from __future__ import annotations

from typing import Any

from indexer.series import with_derived


def rows(balances: list[int], outflows: list[int]) -> list[dict[str, Any]]:
    return [{"day": f"d{i}", "balance": b, "outflow": o}
            for i, (b, o) in enumerate(zip(balances, outflows, strict=True))]


def test_net_position_change_is_the_30_day_balance_difference() -> None:
    balances = [i * 100_000_000 for i in range(40)]
    out = list(with_derived(iter(rows(balances, [0] * 40))))
    assert all(r["net_position_change_30d"] is None for r in out[:30])
    assert [r["net_position_change_30d"] for r in out[30:]] == [30.0] * 10


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
