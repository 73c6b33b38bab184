"""`labels derive`: exchange wallets found from the chain (SPEC 8), from seeds to the fixpoint.

A script's value is the set of exchanges that reached it, each at core or deposit tier; rules
only add. The rules are evaluated in two strata, which is what makes the result one fixpoint
whatever the order of processing:

1. R1 (co-spend) alone, to its least fixpoint: a non-CoinJoin transaction (R0) spending a
   core-tier script of X makes every input script core-tier of X. Passes over the blocks in
   chain order repeat until one adds nothing (a pass carries what it learns forward at once,
   so most chains need two or three).
2. R2 (sweep) over that fixpoint, in the pass that added nothing (the core sets were final
   all through it): a non-CoinJoin transaction with at most two outputs, all paying core-tier
   scripts of X, no input being core-tier of X, makes its input scripts deposit-tier of X.
   Deposit tier feeds neither rule.

A script whose set holds two exchanges, or an exchange and a non-exchange seed category, is
written as a `conflict` row and counts for no one. Evidence: a derived row names its tier, rule,
the transaction and height that first added it in this processing order (R1: the pass and
block order above; R2: the first sweep in chain order) and the labeled script that reached it
(`via`): an R1 row's via is an input of that transaction core-tier of the same exchange at that
moment, an R2 row's via one of its outputs. Which transaction is named may differ between runs
in another order; the label sets do not.

One guard (SPEC 8 allows guards that only withhold): R1 is withheld in a transaction whose
input scripts are of more than one standard type, which most PayJoin-shaped deposits are (a
customer's wallet and the exchange's); it costs the links of an exchange that spends two script
types together. docs/labels.md gives the figures.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from indexer import fastpath
from indexer.config import Network
from indexer.errors import DamagedBlockError, LabelsError, SourceError
from indexer.fastpath.labels import undo_tx_scripts
from indexer.fastpath.reference import block_undo_scripts
from indexer.labels.coinjoin import coinjoin_shape
from indexer.labels.rows import (
    CONFLICT,
    EXCHANGE,
    LabelReader,
    csv_line,
    script_of,
    script_text,
    write_header,
)
from indexer.parse.deserializer import parse_block, read_compact_size, read_tx
from indexer.parse.script import classify
from indexer.pipeline import BlockFileSource
from indexer.source.verify import check_block

RULE_VERSION = ("minerflow-derive-1 (R0 blocksci/whirlpool/wasabi1/wasabi2; R1 to its fixpoint, "
                "withheld across script types; R2 over it)")
MAX_PASSES = 64
CORE, DEPOSIT = "core", "deposit"


@dataclass(slots=True)
class Evidence:
    tier: str
    rule: str
    txid: str
    height: int
    via: bytes


@dataclass(slots=True)
class BlockTxs:
    """One block's non-coinbase transactions: (txid, input scripts, output values and
    scripts)."""

    height: int
    hash_hum: str
    txs: list[tuple[str, list[bytes], list[tuple[int, bytes]]]]


@dataclass
class PassReport:
    number: int
    added: dict[str, int] = field(default_factory=dict)  # exchange -> scripts made core
    coinjoins: int = 0
    guarded: int = 0  # co-spends withheld by the script-type guard
    top: list[tuple[int, str, int, str]] = field(default_factory=list)  # (n, txid, height, X)

    @property
    def total(self) -> int:
        return sum(self.added.values())


@dataclass
class Derived:
    """The state of a derive: seed rows, the core and deposit sets (bit masks over `names`),
    the non-exchange seeds (sentinels) and the evidence of every derived (script, exchange)."""

    names: list[str] = field(default_factory=list)
    bit: dict[str, int] = field(default_factory=dict)
    core: dict[bytes, int] = field(default_factory=dict)
    deposit: dict[bytes, int] = field(default_factory=dict)
    sentinel: dict[bytes, str] = field(default_factory=dict)  # script -> "category:entity"
    seeds: dict[bytes, tuple[str, ...]] = field(default_factory=dict)  # script -> its row
    evidence: dict[tuple[bytes, int], Evidence] = field(default_factory=dict)

    filter: Any = field(default_factory=lambda: fastpath.Filter())  # the core scripts' prints

    def add_core(self, script: bytes, bits: int) -> None:
        """`script` joins the exchanges of `bits` at core tier."""
        self.core[script] = self.core.get(script, 0) | bits
        self.filter.add(fastpath.script_fingerprint(script))

    def exchange_bit(self, name: str) -> int:
        found = self.bit.get(name)
        if found is None:
            found = self.bit[name] = 1 << len(self.names)
            self.names.append(name)
        return found

    def names_of(self, mask: int) -> list[str]:
        return [name for k, name in enumerate(self.names) if mask >> k & 1]


def load_seeds(paths: Sequence[Path], network: Network) -> tuple[Derived, list[str], int]:
    """The seeds (and, from an earlier derive's output, its core rows: R1's fixpoint only
    grows with the chain, so they are where this run starts), the files' sha256s, and the
    height an earlier derive reached (-1 when none)."""
    state = Derived()
    shas: list[str] = []
    earlier = -1
    for path in paths:
        shas.append(_file_sha256(path))
        reader = LabelReader(path, network)
        for row in reader:
            if row.script in state.seeds or row.script in state.core or (
                    row.script in state.sentinel):
                continue  # a script listed twice keeps its first row
            tier, rule = row.fields[5], row.fields[6]
            if row.category == EXCHANGE and (not tier or rule in ("", "seed")):
                state.add_core(row.script, state.exchange_bit(row.entity))
                state.seeds[row.script] = row.fields
            elif row.category == EXCHANGE and tier == CORE:
                bit = state.exchange_bit(row.entity)
                state.add_core(row.script, bit)
                state.evidence[(row.script, bit)] = Evidence(
                    CORE, rule, row.fields[7], int(row.fields[8] or 0),
                    _script_from(row.fields[9], network))
            elif row.category == CONFLICT:
                _load_conflict(state, row.script, row.entity, tier, network)
            elif row.category != EXCHANGE and tier != DEPOSIT:
                state.sentinel[row.script] = f"{row.category}:{row.entity}"
                state.seeds[row.script] = row.fields
        if "derived_height" in reader.meta:
            earlier = max(earlier, int(reader.meta["derived_height"]))
    return state, shas, earlier


def _load_conflict(state: Derived, script: bytes, entity: str, tier: str,
                   network: Network) -> None:
    """A conflict row of an earlier derive: its exchanges' core tiers are kept (the deposit
    tiers are found again by R2), its sentinel too."""
    tiers = tier.split("|")
    for k, name in enumerate(entity.split("|")):
        if ":" in name:
            state.sentinel[script] = name
        elif k < len(tiers) and tiers[k] == CORE:
            state.add_core(script, state.exchange_bit(name))


def _script_from(text: str, network: Network) -> bytes:
    return script_of(text, network) if text else b""


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise LabelsError(f"seeds file {path}: cannot read ({exc.strerror or exc})") from None
    return digest.hexdigest()


class ChainReader:
    """The active chain's blocks from 1 to `until`, with the scripts their inputs spend (from
    the rev files); every block is checked as the reindex checks it."""

    def __init__(self, blocks_dir: Path, network: Network, until: int | None) -> None:
        self.source = BlockFileSource(blocks_dir, network)
        chain = self.source.chain()
        self.blocks = chain.blocks
        tip = len(self.blocks) - 1
        if until is not None and until > tip:
            raise LabelsError(f"--until {until}: the block files of {blocks_dir} reach height "
                              f"{tip}")
        self.until = tip if until is None else until
        self.damage: str | None = chain.damage[0] if chain.damage else None
        self.progress: Callable[[int, int], None] | None = None  # (height, bytes) per block
        # with a filter of the core scripts, only the transactions a pass must look at
        # (`fastpath.derive_candidates`); without, every transaction
        self.candidates: Any = None
        self.bytes_read = 0

    @property
    def tip_hash(self) -> str:
        return self.blocks[self.until].hash_hum

    def __iter__(self) -> Iterator[BlockTxs]:
        """The blocks in chain order; a block that fails its check ends the chain at its
        parent (`damage` names it), as a reindex stops there."""
        for cb in self.blocks[1:self.until + 1]:
            data = self.source.read(cb)
            self.bytes_read += len(data)
            if self.progress is not None:
                self.progress(cb.height, len(data))
            try:
                check_block(data, cb.hash_rev, f"{self.source.where(cb.location)}: block "
                                               f"{cb.hash_hum} (height {cb.height})")
            except DamagedBlockError as exc:
                self.damage, self.until = str(exc), cb.height - 1
                return
            tx_count = read_compact_size(data, 80)[0]
            if tx_count < 2:
                yield BlockTxs(cb.height, cb.hash_hum, [])
                continue
            raw = self.source.undo.record_bytes(cb.location.file_no, tx_count, data[4:36],
                                                cb.height)
            if self.candidates is not None:
                yield BlockTxs(cb.height, cb.hash_hum, self._candidates(cb.height, data, raw))
                continue
            block = parse_block(data)
            try:
                spent = block_undo_scripts(raw)
            except ValueError as exc:
                raise SourceError(f"the undo record of height {cb.height} does not decode "
                                  f"({exc})") from None
            txs = []
            for tx, inputs in zip(block.txs[1:], spent, strict=True):
                if len(inputs) != len(tx.inputs):
                    raise SourceError(f"the undo record of height {cb.height} does not match "
                                      f"its block's inputs")
                txs.append((tx.txid_hum, [script for _value, script in inputs],
                            [(out.value, out.script) for out in tx.outputs]))
            yield BlockTxs(cb.height, cb.hash_hum, txs)


    def _candidates(self, height: int, data: bytes, raw: bytes) -> list[
            tuple[str, list[bytes], list[tuple[int, bytes]]]]:
        try:
            found = fastpath.derive_candidates(data, raw, self.candidates)
            txs = []
            for _index, start, undo_start in found:
                tx, _end = read_tx(data, start)
                spent = undo_tx_scripts(raw, undo_start)
                txs.append((tx.txid_hum, [script for _value, script in spent],
                            [(out.value, out.script) for out in tx.outputs]))
        except (ValueError, IndexError) as exc:
            raise SourceError(f"the undo record of height {height} does not match its block "
                              f"({exc})") from None
        return txs


def one_script_type(scripts: list[bytes]) -> bool:
    """Whether every script is of one standard type (the guard on R1)."""
    first = classify(scripts[0])
    return all(classify(script) == first for script in scripts[1:])


def run_pass(blocks: Iterator[BlockTxs], state: Derived, number: int,
             final: bool) -> PassReport:
    """One pass of R1 over the blocks (and, when `final`, R2 as well)."""
    report = PassReport(number)
    core, deposit = state.core, state.deposit
    for block in blocks:
        for txid, ins, outs in block.txs:
            mask = 0
            for script in ins:
                mask |= core.get(script, 0)
            sweep_mask = 0
            if final and len(outs) <= 2:
                sweep_mask = -1
                for _value, script in outs:
                    sweep_mask &= core.get(script, 0)
                sweep_mask &= ~mask
            if not mask and sweep_mask <= 0:
                continue
            if coinjoin_shape(ins, [value for value, _script in outs]) is not None:
                report.coinjoins += 1
                continue
            if mask and not one_script_type(ins):
                report.guarded += 1
            elif mask:
                _co_spend(state, report, block.height, txid, ins, mask)
            if sweep_mask > 0:
                for script in ins:
                    fresh = sweep_mask & ~deposit.get(script, 0) & ~core.get(script, 0)
                    if fresh:
                        deposit[script] = deposit.get(script, 0) | fresh
                        for k in range(len(state.names)):
                            if fresh >> k & 1:
                                state.evidence.setdefault((script, 1 << k), Evidence(
                                    DEPOSIT, "R2", txid, block.height, outs[0][1]))
    return report


def _co_spend(state: Derived, report: PassReport, height: int, txid: str, ins: list[bytes],
              mask: int) -> None:
    core = state.core
    before = [core.get(script, 0) for script in ins]
    added = 0
    for script in ins:
        fresh = mask & ~core.get(script, 0)
        if not fresh:
            continue
        state.add_core(script, fresh)
        added += 1
        for k in range(len(state.names)):
            bit = 1 << k
            if fresh & bit:
                via = next(s for s, had in zip(ins, before, strict=True) if had & bit)
                state.evidence[(script, bit)] = Evidence(CORE, "R1", txid, height, via)
                name = state.names[k]
                report.added[name] = report.added.get(name, 0) + 1
    if added:
        report.top.append((added, txid, height, "|".join(state.names_of(mask))))
        report.top.sort(reverse=True)
        del report.top[5:]


def derive(reader: ChainReader, state: Derived, on_pass: Callable[[PassReport], None],
           on_start: Callable[[int], None] | None = None) -> int:
    """R1 to its fixpoint, then R2 in the pass that adds nothing; the passes it took."""
    if isinstance(reader, ChainReader):
        reader.candidates = state.filter
    for number in range(1, MAX_PASSES + 1):
        if on_start is not None:
            on_start(number)
        core_before = sum(bin(mask).count("1") for mask in state.core.values())
        report = run_pass(iter(reader), state, number, final=True)
        on_pass(report)
        if sum(bin(mask).count("1") for mask in state.core.values()) == core_before:
            return number
        # R2 ran over core sets that were still growing: forget what it found and run again
        state.deposit.clear()
        for key in [k for k, e in state.evidence.items() if e.rule == "R2"]:
            del state.evidence[key]
    raise LabelsError(f"no fixpoint after {MAX_PASSES} passes")


def write_map(state: Derived, network: Network, meta: dict[str, str], output: Path) -> int:
    """The complete map as a labels CSV (atomically: a temporary file renamed at the end);
    the rows written."""
    partial = output.with_name(f".{output.name}.partial")
    rows = 0
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            write_header(out, meta)
            buffer = io.StringIO()
            for script in sorted(set(state.core) | set(state.deposit) | set(state.sentinel),
                                 key=lambda s: (len(s), s)):
                fields = _row(state, script, network)
                if fields is not None:
                    buffer.write(csv_line(fields))
                    rows += 1
                if buffer.tell() > 1 << 20:
                    out.write(buffer.getvalue())
                    buffer = io.StringIO()
            out.write(buffer.getvalue())
        os.replace(partial, output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return rows


def _row(state: Derived, script: bytes, network: Network) -> tuple[str, ...] | None:
    core = state.core.get(script, 0)
    deposit = state.deposit.get(script, 0) & ~core
    names = sorted(state.names_of(core | deposit))
    sentinel = state.sentinel.get(script)
    seed = state.seeds.get(script)
    if not names:  # a non-exchange seed that no rule reached
        if seed is not None:
            return seed
        return _sentinel_row(script, sentinel, network) if sentinel else None
    address = seed[0] if seed is not None else script_text(script, network)
    if len(names) > 1 or sentinel is not None:
        tiers = [CORE if core & state.bit[name] else DEPOSIT for name in names]
        entity = "|".join(names + ([sentinel] if sentinel else []))
        return (address, entity, CONFLICT, "derived", "", "|".join(tiers), "", "", "", "")
    bit = state.bit[names[0]]
    if seed is not None:
        return (*seed[:5], CORE, "seed", "", "", "")
    found = state.evidence[(script, bit)]
    return (address, names[0], EXCHANGE, "derived", "", found.tier, found.rule, found.txid,
            str(found.height), script_text(found.via, network))


def _sentinel_row(script: bytes, sentinel: str, network: Network) -> tuple[str, ...]:
    category, _sep, entity = sentinel.partition(":")
    return (script_text(script, network), entity, category, "", "", "", "", "", "", "")
