"""Spent-output values without undo data: look the funding transactions up in the block files.

The fallback for block files whose rev*.dat records are missing (copied without them, or test
data). It hashes the transactions of the active chain up to the block at hand, once, keeping
txid -> output values (and the outputs that may pay an exchange, with their scripts) in memory,
so it is meant for small chains or short gaps, not mainnet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from indexer import fastpath
from indexer.errors import SourceError
from indexer.fastpath import FingerprintFilter
from indexer.parse.deserializer import Block, RawBlock, parse_block
from indexer.source.chain import ChainBlock
from indexer.source.spent import Held

log = logging.getLogger(__name__)


class FundingLookup:
    """txid -> output values of active-chain transactions, filled on demand in height order."""

    def __init__(self, chain: list[ChainBlock], read: Callable[[ChainBlock], bytes]) -> None:
        self.chain = chain
        self.read = read
        self.outputs: dict[bytes, list[int]] = {}
        # (txid, vout) -> script of the outputs whose script `scripts` holds, once it is set
        self.scripts: FingerprintFilter | None = None
        self.paid: dict[tuple[bytes, int], bytes] = {}
        self._decoded: tuple[bytes, Block] | None = None  # the block asked about last
        self.next_height = 0
        self.warned = False

    def spent_values(self, height: int, raw: RawBlock, tx_index: int) -> list[int]:
        """Values spent by the inputs of the block's transaction `tx_index` at `height`."""
        block = self._below(height, raw)
        in_block = {tx.txid_rev: [o.value for o in tx.outputs] for tx in block.txs[:tx_index]}
        values = []
        for txin in block.txs[tx_index].inputs:
            funding = in_block.get(txin.prev_txid_rev) or self.outputs.get(txin.prev_txid_rev)
            if funding is None or txin.prev_vout >= len(funding):
                raise SourceError(
                    f"height {height}: input spends {txin.prev_txid_rev[::-1].hex()}:"
                    f"{txin.prev_vout}, which no active-chain block below holds"
                )
            values.append(funding[txin.prev_vout])
        return values

    def held(self, height: int, raw: RawBlock, scripts: FingerprintFilter) -> Held:
        """The inputs of the block at `height` whose spent script `scripts` may hold (see
        `source.spent`). `scripts` must be the filter set before the first block was read:
        the outputs of the blocks below are kept only when it holds their script."""
        if scripts is not self.scripts:
            raise SourceError(f"height {height}: the exchange filter is not the one the "
                              f"funding outputs were kept with")
        block = self._below(height, raw)
        fingerprint = fastpath.script_fingerprint
        in_block: dict[tuple[bytes, int], bytes] = {}
        held: Held = {}
        for index, tx in enumerate(block.txs[1:], start=1):
            hits = []
            for at, txin in enumerate(tx.inputs):
                outpoint = (txin.prev_txid_rev, txin.prev_vout)
                script = in_block.get(outpoint) or self.paid.get(outpoint)
                if script is not None:
                    hits.append((at, script))
            if hits:
                values = self.spent_values(height, raw, index)
                held[index] = (sum(values), [(at, s, values[at]) for at, s in hits])
            for vout, o in enumerate(tx.outputs):
                if fingerprint(o.script) in scripts:
                    in_block[(tx.txid_rev, vout)] = o.script
        return held

    def _below(self, height: int, raw: RawBlock) -> Block:
        """The block `raw` at `height`, decoded, after every block below it is read."""
        if not self.warned:
            log.warning("height %d: no undo record in the rev files; reading spent outputs "
                        "from the block files instead (slower, holds every txid in memory)",
                        height)
            self.warned = True
        while self.next_height < height:
            self._add(parse_block(self.read(self.chain[self.next_height])))
            self.next_height += 1
        if self._decoded is None or self._decoded[0] is not raw.data:
            self._decoded = (raw.data, parse_block(raw.data))
        return self._decoded[1]

    def _add(self, block: Block) -> None:
        scripts = self.scripts
        for tx in block.txs:
            self.outputs[tx.txid_rev] = [o.value for o in tx.outputs]
            if scripts is not None:
                for vout, o in enumerate(tx.outputs):
                    if fastpath.script_fingerprint(o.script) in scripts:
                        self.paid[(tx.txid_rev, vout)] = o.script
