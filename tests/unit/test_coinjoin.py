"""R0's CoinJoin shapes (SPEC 8), each with the smallest transaction that has it and the
nearest one that does not."""

from __future__ import annotations

import pytest

from indexer.labels.coinjoin import WASABI2_DENOMINATIONS, coinjoin_shape

P2WPKH = [b"\x00\x14" + bytes([k]) * 20 for k in range(40)]
P2PKH = [b"\x76\xa9\x14" + bytes([k]) * 20 + b"\x88\xac" for k in range(40)]
COIN = 100_000_000


def test_whirlpool() -> None:
    for pool in (COIN // 1000, COIN // 100, COIN // 20, COIN // 2):
        assert coinjoin_shape(P2WPKH[:5], [pool] * 5) == "whirlpool"
    assert coinjoin_shape(P2WPKH[:10], [COIN // 100] * 10) == "whirlpool"
    assert coinjoin_shape(P2WPKH[:5], [COIN // 100] * 4 + [COIN // 100 + 1]) != "whirlpool"
    assert coinjoin_shape(P2WPKH[:11], [COIN // 100] * 11) != "whirlpool"  # BlockSci's, though


def test_wasabi1() -> None:
    outs = [10_000_000] * 10 + [3_333, 4_444]
    assert coinjoin_shape(P2PKH[:10], outs) == "wasabi1"
    assert coinjoin_shape(P2PKH[:10], [12_000_000] * 10) == "wasabi1"  # 0.1 + 0.02
    assert coinjoin_shape(P2PKH[:9], outs) is None  # fewer inputs than equal outputs
    assert coinjoin_shape(P2PKH[:10], [12_000_001] * 10 + [5]) is None  # outside 0.1 ± 0.02


def test_wasabi2() -> None:
    denominations = sorted(WASABI2_DENOMINATIONS)
    assert 5_000 in denominations and 2**20 in denominations and 3**11 in denominations
    assert 2 * 3**10 in denominations and 5 * 10**5 in denominations
    assert 7_000 not in denominations
    outs = [denominations[k % 30 + 3] for k in range(45)] + [7_001, 7_002]
    assert coinjoin_shape(P2WPKH[:20], outs) == "wasabi2"
    assert coinjoin_shape(P2WPKH[:19], outs) is None  # fewer than 20 inputs
    assert coinjoin_shape(P2WPKH[:19] + P2PKH[:1], outs) is None  # a legacy input
    mostly_odd = outs[:10] + [7_003 + k for k in range(10)]
    assert coinjoin_shape(P2WPKH[:20], mostly_odd) is None  # 50 % standard, not > 80 %


@pytest.mark.parametrize("common", [546, 2_730])
def test_blocksci_leaves_dust_values_out(common: int) -> None:
    assert coinjoin_shape(P2PKH[:2], [common, common, 9_999]) is None


def test_blocksci() -> None:
    # 4 outputs: p = 2 distinct input scripts at least, the most common value exactly twice
    assert coinjoin_shape(P2PKH[:2], [50_000, 50_000, 1_234, 5_678]) == "blocksci"
    assert coinjoin_shape(P2PKH[:1] * 2, [50_000, 50_000, 1_234, 5_678]) is None  # one script
    assert coinjoin_shape(P2PKH[:2], [50_000, 50_000, 50_000, 5_678]) is None  # 3 times
    assert coinjoin_shape(P2PKH[:2], [50_000, 40_000, 30_000]) is None  # no value twice
    assert coinjoin_shape(P2PKH[:1], [50_000, 50_000, 1]) is None  # one input
    # a payment with change is never one
    assert coinjoin_shape(P2PKH[:3], [50_000, 12_345]) is None
