"""SPEC 5.1 as a pure per-block step: a block and what its inputs spend in, exchange flows out.

Exchange coins are not tracked in the index: an input spends exchange X's coin when the script
of the output it spends is X's, and the chain source says what each input spends (the block's
undo record in the rev files, or the node's verbosity-3 answer): `SpentScripts` lists the inputs
whose spent script the exchange filter may hold. The rules are `fastpath.exchange_txs`
(compiled, with `indexer/fastpath/exchange.py` as its executable specification), which decodes
only the transactions with such inputs or whose outputs the filter may hold; a coinbase goes
through the same rule (it spends nothing, so each exchange it pays receives the whole value,
counted in `from_coinbase` too). Entity `all` (id `keys.ALL_ENTITY`) is one entity over every
exchange's scripts, so a transfer between two exchanges is internal to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from indexer import fastpath
from indexer.errors import ParseError
from indexer.fastpath import FingerprintFilter
from indexer.parse.deserializer import RawBlock, hum, read_compact_size
from indexer.store import keys

ALL = keys.ALL_ENTITY

SpentScripts = Callable[[FingerprintFilter],
                        "dict[int, tuple[int, list[tuple[int, bytes, int]]]] | tuple[bytes, bytes]"]
"""Per transaction index of the block, what all its inputs spend and (input index, spent
script, spent value) of every input whose spent script's fingerprint the filter holds (more is
fine: a collision costs a lookup); or the same as (packed, undo record), the hits
`fastpath.pack_block_undo` packed with the filter (`fastpath.exchange_txs` reads them)."""

ExchangeOf = Callable[[bytes], "int | None"]
"""The exchange id of a script, or None; asked only for scripts the filter may hold."""


@dataclass(slots=True)
class ExchangeFlow:
    """Changes of one exchange (or `all`) over a block; `balance` is the change of its
    balance."""

    inflow: int = 0
    outflow: int = 0
    fees: int = 0
    from_coinbase: int = 0
    balance: int = 0


@dataclass(slots=True)
class ExchangeChanges:
    flows: dict[int, ExchangeFlow] = field(default_factory=dict)  # exchange id or ALL


class ExchangeStep:
    """Apply SPEC 5.1 to one block."""

    def __init__(self, scripts: FingerprintFilter, exchange_of: ExchangeOf) -> None:
        self.scripts = scripts  # fingerprints of the exchange scripts
        self.exchange_of = exchange_of

    def run(self, block: RawBlock, spent_scripts: SpentScripts,
            scan: bytes | None = None) -> ExchangeChanges:
        """The block's changes. The cohort step has checked the block's bytes and values
        already; what still does not fit raises ParseError. `scan`, the block's
        `fastpath.scan_table`, leaves only the probes of the filter."""
        out = ExchangeChanges()
        if not len(self.scripts):
            return out
        coinbase: dict[int, list[int]] = {}
        sums: dict[int, list[int]] = {}
        try:
            fastpath.exchange_txs(block.data, read_compact_size(block.data, 80)[1], 0, 1,
                                  self.scripts, self.exchange_of, {}, coinbase)
            held = spent_scripts(self.scripts) if block.tx_count > 1 else {}
            end = fastpath.exchange_txs(block.data, block.next_pos, 1, block.tx_count,
                                        self.scripts, self.exchange_of, held, sums, scan)
        except ValueError as exc:
            raise ParseError(f"block {hum(block.header.hash_rev)}: {exc}") from None
        block.check_end(end)
        for exchange, (inflow, _outflow, _fees, balance) in coinbase.items():
            out.flows[exchange] = ExchangeFlow(inflow, 0, 0, inflow, balance)
        for exchange, (inflow, outflow, fees, balance) in sums.items():
            flow = out.flows.setdefault(exchange, ExchangeFlow())
            flow.inflow += inflow
            flow.outflow += outflow
            flow.fees += fees
            flow.balance += balance
        return out
