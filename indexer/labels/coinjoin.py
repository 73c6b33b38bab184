"""R0 (SPEC 8): the transaction shapes of CoinJoins, which link nothing.

- BlockSci's rule: at least 2 inputs and 3 outputs, p = ceil(outputs / 2) no more than the
  distinct input scripts, and the most common output value occurring exactly p times and not
  being 546 or 2,730 sats (dust-sized values are change, not a mix).
- Samourai Whirlpool: 5 to 10 inputs and as many outputs, every output one of the pool
  denominations (0.001, 0.01, 0.05, 0.5 BTC).
- Wasabi 1: at least 10 equal outputs of 0.1 BTC ± 0.02 and at least as many inputs.
- Wasabi 2 (WabiSabi): at least 20 inputs, every input script P2WPKH or P2TR, and more than 80 %
  of the outputs at its standard denominations (powers of 2 and of 3, twice the powers of 3,
  powers of 10, twice and five times the powers of 10, from 5,000 sats to 1,343.75 BTC).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from indexer.parse.script import classify

COIN = 100_000_000
WHIRLPOOL_POOLS = frozenset({COIN // 1000, COIN // 100, COIN // 20, COIN // 2})
BLOCKSCI_DUST = frozenset({546, 2_730})
WASABI1_LOW, WASABI1_HIGH = 8_000_000, 12_000_000
WASABI2_MIN, WASABI2_MAX = 5_000, 134_375_000_000


def _wasabi2_denominations() -> frozenset[int]:
    found = {WASABI2_MIN, WASABI2_MAX}
    for base, factors in ((2, (1,)), (3, (1, 2)), (10, (1, 2, 5))):
        power = 1
        while power <= WASABI2_MAX:
            for factor in factors:
                if WASABI2_MIN <= factor * power <= WASABI2_MAX:
                    found.add(factor * power)
            power *= base
    return frozenset(found)


WASABI2_DENOMINATIONS = _wasabi2_denominations()


def coinjoin_shape(input_scripts: Sequence[bytes], output_values: Sequence[int]) -> str | None:
    """The R0 shape a transaction has (`blocksci`, `whirlpool`, `wasabi1`, `wasabi2`), or
    None."""
    n_in, n_out = len(input_scripts), len(output_values)
    if n_in < 2 or n_out < 2:
        return None
    counts = Counter(output_values)
    if 5 <= n_in <= 10 and n_out == n_in and len(counts) == 1 and (
            output_values[0] in WHIRLPOOL_POOLS):
        return "whirlpool"
    if any(count >= 10 and WASABI1_LOW <= value <= WASABI1_HIGH and n_in >= count
           for value, count in counts.items()):
        return "wasabi1"
    if n_in >= 20 and all(classify(script) in ("p2wpkh", "p2tr") for script in input_scripts):
        standard = sum(count for value, count in counts.items()
                       if value in WASABI2_DENOMINATIONS)
        if standard * 5 > n_out * 4:
            return "wasabi2"
    if n_out >= 3:
        p = (n_out + 1) // 2
        common_value, common_count = max(counts.items(), key=lambda item: (item[1], -item[0]))
        if p <= len(set(input_scripts)) and common_count == p and (
                common_value not in BLOCKSCI_DUST):
            return "blocksci"
    return None
