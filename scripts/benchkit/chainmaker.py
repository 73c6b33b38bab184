"""A deterministic, mainnet-shaped regtest chain for end-to-end benchmarks and scale tests.

Writes what a regtest node would leave on disk: `regtest/blocks/blk*.dat` and `rev*.dat` (128 MiB
files, optionally XOR-obfuscated as Core 28 does), plus the pools list and exchange labels that
describe it. Structure is valid: BIP34 heights, witness commitments, merkle roots, regtest proof
of work, rev records with Core's checksums. Consensus rules the indexer never checks are relaxed:
signatures are random bytes and coinbase outputs are spent after 10 blocks, not 100, so that a
short chain already shows payouts.

The story, per block of `txs_per_block` transactions:
- about 20 pools with tags and payout addresses find the blocks (a few blocks carry no tag);
- each pool pays its customers from matured coinbase coins, fanning out to 20-60 outputs;
- customers keep their coins for a while, then deposit to labeled exchanges or spend onwards,
  sometimes together with coins from elsewhere (which needs the undo data);
- pools sometimes sell directly to an exchange;
- everybody else (most transactions) spends 1-3 coins to 2-3 outputs, P2WPKH, P2TR, P2PKH,
  P2SH-P2WPKH and P2WSH, after delays drawn from a long-tailed distribution.
"""

from __future__ import annotations

import hashlib
import json
import random
import struct
from dataclasses import dataclass, field
from pathlib import Path

from indexer.config import bits_to_target, get_network
from indexer.parse.deserializer import merkle_root, sha256d
from indexer.parse.script import address_of
from indexer.source.blkfiles import xor_at

NETWORK = get_network("regtest")
MAX_FILE_SIZE = 0x8000000  # Core's MAX_BLOCKFILE_SIZE
GENESIS_HEX = (
    "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27a"
    "c72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4adae5494dffff7f2002000000010100000001000000000"
    "0000000000000000000000000000000000000000000000000000000ffffffff4d04ffff001d0104455468652054"
    "696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e"
    "64206261696c6f757420666f722062616e6b73ffffffff0100f2052a01000000434104678afdb0fe5548271967"
    "f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d"
    "578a4c702b6bf11d5fac00000000"
)
MATURITY = 10
SEED_BLOCKS = 20
POOL_NAMES = (
    "Foundry USA", "AntPool", "ViaBTC", "F2Pool", "Binance Pool", "MARA Pool", "SpiderPool",
    "Luxor", "SBI Crypto", "Braiins Pool", "Poolin", "BTC.com", "Ocean", "SECPOOL", "Titan",
    "ULTIMUSPOOL", "Carbon Negative", "WhitePool", "Mining Squared", "KuCoinPool",
)
POOL_WEIGHTS = (28, 19, 12, 10, 9, 5, 4, 3, 2, 2, 1.5, 1.2, 1, 0.8, 0.6, 0.5, 0.4, 0.3, 0.3, 0.2)
EXCHANGES = ("Exchange One", "Exchange Two", "Exchange Three", "Exchange Four", "Exchange Five")
# Output script types of the economy and their shares.
SCRIPT_MIX = (("p2wpkh", 45), ("p2tr", 20), ("p2pkh", 15), ("p2sh", 12), ("p2wsh", 8))


def compact_size(n: int) -> bytes:
    if n < 0xFD:
        return bytes((n,))
    if n <= 0xFFFF:
        return b"\xfd" + struct.pack("<H", n)
    if n <= 0xFFFFFFFF:
        return b"\xfe" + struct.pack("<I", n)
    return b"\xff" + struct.pack("<Q", n)


def core_varint(n: int) -> bytes:
    """Bitcoin Core's VARINT (MSB base-128 with the +1 offset), as in undo records."""
    out = [n & 0x7F]
    n >>= 7
    while n:
        n -= 1
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(reversed(out))


def compress_amount(n: int) -> int:
    """Core's CompressAmount."""
    if n == 0:
        return 0
    e = 0
    while n % 10 == 0 and e < 9:
        n //= 10
        e += 1
    if e < 9:
        d = n % 10
        n //= 10
        return 1 + (n * 9 + d - 1) * 10 + e
    return 1 + (n - 1) * 10 + 9


def compress_script(script: bytes) -> bytes:
    """Core's script compression: P2PKH and P2SH as 21 bytes, the rest as size+6 and bytes."""
    if len(script) == 25 and script[:3] == b"\x76\xa9\x14" and script[23:] == b"\x88\xac":
        return b"\x00" + script[3:23]
    if len(script) == 23 and script[:2] == b"\xa9\x14" and script[22] == 0x87:
        return b"\x01" + script[2:22]
    return core_varint(len(script) + 6) + script


@dataclass(slots=True)
class Coin:
    txid: bytes
    vout: int
    value: int
    script: bytes
    kind: str  # script type, which decides the shape of the spending input
    height: int
    coinbase: bool


@dataclass(slots=True)
class MadeTx:
    txid: bytes
    wtxid: bytes
    raw: bytes
    spent: list[Coin]
    outputs: list[tuple[int, bytes, str]]


def unlock(kind: str, rng: random.Random) -> tuple[bytes, list[bytes]]:
    """scriptSig and witness items of an input spending a script of `kind` (random
    signatures)."""
    rb = rng.randbytes
    if kind == "p2wpkh":
        return b"", [rb(71), b"\x02" + rb(32)]
    if kind == "p2tr":
        return b"", [rb(64)]
    if kind == "p2pkh":
        return b"\x47" + rb(71) + b"\x21\x02" + rb(32), []
    if kind == "p2sh":  # P2SH-P2WPKH
        return b"\x16\x00\x14" + rb(20), [rb(71), b"\x02" + rb(32)]
    return b"", [b"", rb(71), rb(71), b"\x52" + rb(102) + b"\x53\xae"]  # 2-of-3 P2WSH


def assemble_tx(spent: list[Coin], unlocks: list[tuple[bytes, list[bytes]]],
                outputs: list[tuple[int, bytes, str]]) -> MadeTx:
    """A version-2 transaction spending `spent` with `unlocks` (scriptSig, witness items),
    segwit-serialized when any input has witness items."""
    body = [compact_size(len(spent))]
    witnesses = []
    for coin, (script_sig, items) in zip(spent, unlocks, strict=True):
        body += [coin.txid, struct.pack("<I", coin.vout), compact_size(len(script_sig)),
                 script_sig, b"\xfd\xff\xff\xff"]
        witnesses.append(compact_size(len(items))
                         + b"".join(compact_size(len(i)) + i for i in items))
    body.append(compact_size(len(outputs)))
    for value, script, _kind in outputs:
        body += [struct.pack("<q", value), compact_size(len(script)), script]
    body_bytes = b"".join(body)
    version, lock = b"\x02\x00\x00\x00", b"\x00\x00\x00\x00"
    stripped = version + body_bytes + lock
    txid = sha256d(stripped)
    if any(len(w) > 1 for w in witnesses):
        raw = version + b"\x00\x01" + body_bytes + b"".join(witnesses) + lock
        wtxid = sha256d(raw)
    else:
        raw, wtxid = stripped, txid
    return MadeTx(txid, wtxid, raw, spent, outputs)


def fees_of(txs: list[MadeTx]) -> int:
    return sum(sum(c.value for c in t.spent) - sum(v for v, _s, _k in t.outputs) for t in txs)


def witness_root_of(txs: list[MadeTx]) -> bytes:
    """The witness merkle root of a block whose coinbase is followed by `txs`."""
    return merkle_root([bytes(32)] + [t.wtxid for t in txs])


def mine_block(prev_hash: bytes, time: int, txs: list[MadeTx]) -> tuple[bytes, bytes]:
    """A regtest block of `txs` (the coinbase first) on `prev_hash`: its bytes and its hash."""
    header76 = (struct.pack("<i", 0x20000000) + prev_hash + merkle_root([t.txid for t in txs])
                + struct.pack("<II", time, NETWORK.pow_limit_bits))
    header = grind(header76, NETWORK.pow_limit_target)
    return header + compact_size(len(txs)) + b"".join(t.raw for t in txs), sha256d(header)


@dataclass
class ChainStats:
    blocks: int = 0
    txs: int = 0
    inputs: int = 0
    outputs: int = 0
    block_bytes: int = 0
    files: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    # thin chains: (header time, pools.json id of the pool that found it, bits) per block
    made: list[tuple[int, int, int]] = field(default_factory=list)


class ChainMaker:
    """Builds the chain block by block; every choice comes from one seeded generator."""

    def __init__(self, seed: int, txs_per_block: int, service_share: float = 0.0,
                 exchange_share: float = 0.0) -> None:
        self.rng = random.Random(seed)
        # the share of ordinary outputs that pay a labeled exchange script (deposits), whose
        # coins the economy spends on later: what makes a mix exchange-heavy
        self.exchange_share = exchange_share
        self.txs_per_block = txs_per_block
        # the share of ordinary outputs that pay a reused service script which joined a miner
        # cohort early (the pools' payout customers): what makes mainnet's mix miner-heavy
        self.service_share = service_share
        self.service: list[tuple[bytes, str]] = []
        self.counter = 0
        self.pool_scripts = [self._script("p2wpkh" if i % 3 else "p2pkh")
                             for i in range(len(POOL_NAMES))]
        self.customers = [[self._script(self._kind()) for _ in range(150)]
                          for _ in POOL_NAMES]
        self.exchange_scripts = [[self._script(self._kind()) for _ in range(40)]
                                 for _ in EXCHANGES]
        self.reused = [self._script(self._kind()) for _ in range(500)]
        self.pool_coins: list[list[Coin]] = [[] for _ in POOL_NAMES]
        self.customer_coins: list[Coin] = []
        self.economy: list[Coin] = []
        # height at which coins become spendable -> (the list they join, coin)
        self.waiting: dict[int, list[tuple[list[Coin], Coin]]] = {}
        self.pool_index = {script: i for i, (script, _k) in enumerate(self.pool_scripts)}
        self.customer_set = {script for scripts in self.customers for script, _k in scripts}
        self.stats = ChainStats()
        if service_share:  # drawn only then, so that the default chain stays the same
            self.service = [self._script(self._kind()) for _ in range(200)]

    # -- scripts and inputs -----------------------------------------------------------------

    def _kind(self) -> str:
        roll = self.rng.random() * 100
        for kind, share in SCRIPT_MIX:
            if roll < share:
                return kind
            roll -= share
        return SCRIPT_MIX[0][0]

    def _script(self, kind: str) -> tuple[bytes, str]:
        self.counter += 1
        h = hashlib.sha256(self.counter.to_bytes(8, "little")).digest()
        if kind == "p2wpkh":
            return b"\x00\x14" + h[:20], kind
        if kind == "p2tr":
            return b"\x51\x20" + h, kind
        if kind == "p2pkh":
            return b"\x76\xa9\x14" + h[:20] + b"\x88\xac", kind
        if kind == "p2sh":
            return b"\xa9\x14" + h[:20] + b"\x87", kind
        return b"\x00\x20" + h, kind

    # -- transactions -----------------------------------------------------------------------

    def _tx(self, spent: list[Coin], outputs: list[tuple[int, bytes, str]]) -> MadeTx:
        return assemble_tx(spent, [unlock(coin.kind, self.rng) for coin in spent], outputs)

    def _split(self, total: int, n: int) -> list[int]:
        cuts = sorted(self.rng.randrange(1, total) for _ in range(n - 1))
        bounds = [0, *cuts, total]
        return [b - a for a, b in zip(bounds, bounds[1:], strict=False)]

    def _pay(self, spent: list[Coin], scripts: list[tuple[bytes, str]],
             change: tuple[bytes, str] | None = None) -> MadeTx | None:
        total = sum(c.value for c in spent)
        fee = 110 * (len(spent) * 70 + len(scripts) * 35 + 12) // 100
        if change is not None:
            pay_total = (total - fee) * self.rng.randint(20, 80) // 100
            values = self._split(pay_total, len(scripts)) if pay_total > len(scripts) else []
            if len(values) != len(scripts):
                return None
            outs = [(v, s, k) for v, (s, k) in zip(values, scripts, strict=True)]
            outs.append((total - fee - pay_total, change[0], change[1]))
        else:
            if total - fee < len(scripts) * 600:
                return None
            values = self._split(total - fee, len(scripts))
            outs = [(v, s, k) for v, (s, k) in zip(values, scripts, strict=True)]
        if any(v < 546 for v, _s, _k in outs):
            return None
        return self._tx(spent, outs)

    def _take(self, coins: list[Coin]) -> Coin:
        i = self.rng.randrange(len(coins))
        coins[i], coins[-1] = coins[-1], coins[i]
        return coins.pop()

    def _fresh(self) -> tuple[bytes, str]:
        if self.service_share and self.rng.random() < self.service_share:
            return self.rng.choice(self.service)
        if self.exchange_share and self.rng.random() < self.exchange_share:
            return self.rng.choice(self.exchange_scripts[self.rng.randrange(len(EXCHANGES))])
        roll = self.rng.random()
        if roll < 0.03:
            return self.rng.choice(self.exchange_scripts[self.rng.randrange(len(EXCHANGES))])
        if roll < 0.06:
            return self.rng.choice(self.reused)
        return self._script(self._kind())

    def _delay(self) -> int:
        return 1 + int(self.rng.expovariate(1 / 12))

    # -- blocks -----------------------------------------------------------------------------

    def block_txs(self, height: int) -> tuple[int, list[MadeTx]]:
        """The pool that finds block `height` and its non-coinbase transactions."""
        rng = self.rng
        for home, coin in self.waiting.pop(height, []):
            home.append(coin)
        pool = rng.choices(range(len(POOL_NAMES)), POOL_WEIGHTS)[0]
        txs: list[MadeTx] = []
        for p, coins in enumerate(self.pool_coins):
            mature = [c for c in coins if c.height <= height - MATURITY]
            if not mature or rng.random() > 0.5:
                continue
            spend = mature[:rng.randint(1, 3)]
            for c in spend:
                coins.remove(c)
            if rng.random() < 0.1:  # the pool sells: straight to an exchange
                ex = rng.choice(self.exchange_scripts[rng.randrange(len(EXCHANGES))])
                made = self._pay(spend, [ex], self.pool_scripts[p])
            else:  # payout run, change back to the pool's address
                payees = rng.sample(self.customers[p], rng.randint(20, 60))
                if self.service:  # services paid by every pool join its 1-hop cohort early
                    payees += rng.sample(self.service, 5)
                made = self._pay(spend, payees, self.pool_scripts[p])
            if made is not None:
                txs.append(made)
        n_customer = min(len(self.customer_coins), rng.randint(10, 40))
        for _ in range(n_customer):
            spend = [self._take(self.customer_coins)]
            if self.economy and rng.random() < 0.2:
                spend.append(self._take(self.economy))
            if rng.random() < 0.4:
                ex = rng.choice(self.exchange_scripts[rng.randrange(len(EXCHANGES))])
                made = self._pay(spend, [ex, self._script(self._kind())])
            else:
                made = self._pay(spend, [self._fresh() for _ in range(rng.choice((2, 2, 3)))])
            if made is not None:
                txs.append(made)
        while len(txs) < self.txs_per_block - 1 and len(self.economy) >= 3:
            spend = [self._take(self.economy) for _ in range(rng.choices((1, 2, 3), (6, 3, 1))[0])]
            made = self._pay(spend, [self._fresh() for _ in range(rng.choice((2, 2, 2, 3)))])
            if made is not None:
                txs.append(made)
        return pool, txs

    def coinbase(self, height: int, pool: int, fees: int, witness_root: bytes) -> MadeTx:
        subsidy = NETWORK.subsidy(height)
        bip34 = height.to_bytes((height.bit_length() + 8) // 8, "little")
        tagged = self.rng.random() > 0.03
        tag = f"/{POOL_NAMES[pool]}/".encode() if tagged else b""
        script_sig = bytes((len(bip34),)) + bip34 + tag + self.rng.randbytes(8)
        outs: list[tuple[int, bytes, str]] = []
        if height <= SEED_BLOCKS:
            # The economy's first coins: these coinbases pay an exchange's hot wallet, which is
            # in no cohort, so they stand for the untracked coins of a long history.
            n = max(self.txs_per_block, 200)
            share = (subsidy + fees) // n
            hot = self.exchange_scripts[0]
            outs += [(share, *hot[i % len(hot)]) for i in range(n - 1)]
            outs.append((subsidy + fees - share * (n - 1), *self.pool_scripts[pool]))
        else:
            outs.append((subsidy + fees, *self.pool_scripts[pool]))
        commitment = sha256d(witness_root + bytes(32))
        outs.append((0, b"\x6a\x24\xaa\x21\xa9\xed" + commitment, "op_return"))
        body = (b"\x01" + bytes(32) + b"\xff\xff\xff\xff" + compact_size(len(script_sig))
                + script_sig + b"\xff\xff\xff\xff" + compact_size(len(outs))
                + b"".join(struct.pack("<q", v) + compact_size(len(s)) + s for v, s, _k in outs))
        version, lock = b"\x02\x00\x00\x00", b"\x00\x00\x00\x00"
        txid = sha256d(version + body + lock)
        raw = version + b"\x00\x01" + body + b"\x01\x20" + bytes(32) + lock
        return MadeTx(txid, bytes(32), raw, [], outs)

    def settle(self, height: int, txs: list[MadeTx]) -> None:
        """Put the new outputs where later blocks will spend them from, after a delay."""
        for made in txs:
            for vout, (value, script, kind) in enumerate(made.outputs):
                if kind == "op_return":
                    continue
                coin = Coin(made.txid, vout, value, script, kind, height, not made.spent)
                pool = self.pool_index.get(script)
                if pool is not None:  # coinbase payouts and payout change stay with the pool
                    self.pool_coins[pool].append(coin)
                    continue
                home = self.customer_coins if script in self.customer_set else self.economy
                self.waiting.setdefault(height + self._delay(), []).append((home, coin))


def undo_record(txs: list[MadeTx]) -> bytes:
    """CBlockUndo of a block: per non-coinbase transaction, the coins its inputs spent."""
    parts = [compact_size(len(txs) - 1)]
    for made in txs[1:]:
        parts.append(compact_size(len(made.spent)))
        for coin in made.spent:
            parts.append(core_varint(coin.height * 2 + coin.coinbase))
            if coin.height > 0:
                parts.append(b"\x00")  # the dummy version Core still writes
            parts.append(core_varint(compress_amount(coin.value)))
            parts.append(compress_script(coin.script))
    return b"".join(parts)


def grind(header76: bytes, target: int) -> bytes:
    """The 80-byte header with the first nonce that meets `target` (regtest: about 2 tries)."""
    nonce = 0
    while True:
        header = header76 + struct.pack("<I", nonce)
        if int.from_bytes(sha256d(header), "little") <= target:
            return header
        nonce += 1


class BlockWriter:
    """Appends blocks and their undo records to blk/rev files the way Core lays them out."""

    def __init__(self, blocks_dir: Path, xor_key: bytes | None,
                 magic: bytes = NETWORK.magic) -> None:
        self.dir = blocks_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.key = xor_key
        self.magic = magic
        if xor_key is not None:
            (self.dir / "xor.dat").write_bytes(xor_key)
        self.file_no = -1
        self.blk_size = self.rev_size = MAX_FILE_SIZE
        self.files = 0

    def _append(self, name: str, offset: int, data: bytes) -> None:
        with (self.dir / name).open("ab") as f:
            f.write(xor_at(data, self.key, offset))

    @property
    def blk_paths(self) -> list[Path]:
        return [self.dir / f"blk{n:05d}.dat" for n in range(self.file_no + 1)]

    def write(self, block: bytes, undo: bytes | None = None, prev_hash: bytes = b"") -> None:
        """Append a block, and its undo record (checksummed with the parent's hash) if given."""
        if self.blk_size + len(block) + 8 > MAX_FILE_SIZE:
            self.file_no += 1
            self.files += 1
            self.blk_size = self.rev_size = 0
        record = self.magic + struct.pack("<I", len(block)) + block
        self._append(f"blk{self.file_no:05d}.dat", self.blk_size, record)
        self.blk_size += len(record)
        if undo is not None:
            rev = (self.magic + struct.pack("<I", len(undo)) + undo
                   + sha256d(prev_hash + undo))
            self._append(f"rev{self.file_no:05d}.dat", self.rev_size, rev)
            self.rev_size += len(rev)


def make_chain(out: Path, blocks: int, txs_per_block: int = 2000, seed: int = 1,
               xor: bool = True, service_share: float = 0.0,
               exchange_share: float = 0.0) -> ChainStats:
    """Write a chain of `blocks` blocks after genesis, with its pools list and labels, to `out`;
    `service_share` of ordinary outputs pay cohort scripts (0: the default, light mix),
    `exchange_share` more of them a labeled exchange's (0: the default's 3 %)."""
    maker = ChainMaker(seed, txs_per_block, service_share, exchange_share)
    writer = BlockWriter(out / "regtest" / "blocks",
                         bytes(random.Random(seed).randbytes(8)) if xor else None)
    genesis = bytes.fromhex(GENESIS_HEX)
    writer.write(genesis)
    prev_hash = sha256d(genesis[:80])
    stats = maker.stats
    time = 1_296_688_602
    for height in range(1, blocks + 1):
        pool, txs = maker.block_txs(height)
        coinbase = maker.coinbase(height, pool, fees_of(txs), witness_root_of(txs))
        all_txs = [coinbase, *txs]
        time += 300 + maker.rng.randrange(600)
        block, block_hash = mine_block(prev_hash, time, all_txs)
        writer.write(block, undo_record(all_txs), prev_hash)
        maker.settle(height, all_txs)
        prev_hash = block_hash
        stats.blocks += 1
        stats.txs += len(all_txs)
        stats.inputs += sum(len(t.spent) for t in txs) + 1
        stats.outputs += sum(len(t.outputs) for t in all_txs)
        stats.block_bytes += len(block)
        for t in all_txs:
            for _v, _s, kind in t.outputs:
                stats.kinds[kind] = stats.kinds.get(kind, 0) + 1
    stats.files = writer.files
    write_pools(out / "pools.json", maker)
    write_labels(out / "exchanges.csv", maker)
    return stats


HARDER_BITS = 0x203FFFFF  # half regtest's pow-limit target: difficulty 2
RETARGET_INTERVAL = 2016


def make_thin_chain(out: Path, blocks: int, seed: int = 1, gap_every: int = 5000) -> ChainStats:
    """A long chain of coinbase-only blocks for read-side scale tests: the pools of
    `make_chain`, 5-15 minutes apart with a three-day gap every `gap_every` blocks, and a target
    that alternates between regtest's pow limit and half of it at every multiple of 2016."""
    maker = ChainMaker(seed, 1)
    writer = BlockWriter(out / "regtest" / "blocks", None)
    genesis = bytes.fromhex(GENESIS_HEX)
    writer.write(genesis)
    prev_hash = sha256d(genesis[:80])
    stats = maker.stats
    witness_root = merkle_root([bytes(32)])
    time = 1_296_688_602
    rng = maker.rng
    for height in range(1, blocks + 1):
        pool = rng.choices(range(len(POOL_NAMES)), POOL_WEIGHTS)[0]
        coinbase = maker.coinbase(height, pool, 0, witness_root)
        time += 300 + rng.randrange(600) + (3 * 86_400 if height % gap_every == 0 else 0)
        bits = HARDER_BITS if (height // RETARGET_INTERVAL) % 2 else NETWORK.pow_limit_bits
        header76 = (struct.pack("<i", 0x20000000) + prev_hash + coinbase.txid
                    + struct.pack("<II", time, bits))
        header = grind(header76, bits_to_target(bits))
        block = header + b"\x01" + coinbase.raw
        writer.write(block, undo_record([coinbase]), prev_hash)
        prev_hash = sha256d(header)
        stats.made.append((time, pool + 1, bits))
        stats.blocks += 1
        stats.txs += 1
        stats.block_bytes += len(block)
    stats.files = writer.files
    write_pools(out / "pools.json", maker)
    write_labels(out / "exchanges.csv", maker)
    return stats


def write_pools(path: Path, maker: ChainMaker) -> None:
    rows = [{"id": i + 1, "name": name, "addresses": [address_of(maker.pool_scripts[i][0],
                                                                  NETWORK)],
             "tags": [f"/{name}/"], "link": ""} for i, name in enumerate(POOL_NAMES)]
    path.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")


def write_labels(path: Path, maker: ChainMaker) -> None:
    lines = ["address,entity,category"]
    for name, scripts in zip(EXCHANGES, maker.exchange_scripts, strict=True):
        lines += [f"{address_of(s, NETWORK)},{name},exchange" for s, _k in scripts]
    path.write_text("\n".join(lines) + "\n")
