"""What a block is worth to the network: work, difficulty, subsidy, claimed fees (SPEC 5).

Every figure is a function of a stored block record and the network's constants, so the
applier (which keeps the per-day and whole-chain `Totals`) and the reader (which adds up
partial days) compute them the same way.
"""

from __future__ import annotations

from indexer.config import Network, bits_to_target
from indexer.store.keys import BlockRecord, Totals

SECONDS_PER_DAY = 86_400
_SIGN_BIT = 0x00800000


def block_work(bits: int) -> int:
    """Expected hashes to find a block at this target: 2**256 // (target + 1), as Bitcoin Core's
    GetBlockProof; 0 for a target Core would refuse (negative, zero, or above 2**256)."""
    target = bits_to_target(bits)
    if bits & _SIGN_BIT or target == 0 or target >= 1 << 256:
        return 0
    return (1 << 256) // (target + 1)


def difficulty(bits: int, network: Network) -> float:
    """The network's pow-limit target over the block's target (1.0 at the easiest target)."""
    target = bits_to_target(bits)
    return network.pow_limit_target / target if target else 0.0


def block_totals(record: BlockRecord, network: Network) -> Totals:
    """One block's contribution to the sums: fees are what the coinbase claimed beyond the
    subsidy, so they are negative when a miner claimed less."""
    subsidy = network.subsidy(record.height)
    return Totals(blocks=1, empty_blocks=int(record.tx_count == 1), tx_count=record.tx_count,
                  size=record.size, weight=record.weight, subsidy=subsidy,
                  fees=record.coinbase_value - subsidy, work=block_work(record.bits))


def hashrate(work: int, seconds: int) -> float:
    """Hashes per second that `work` over `seconds` implies."""
    return work / seconds if seconds > 0 else 0.0
