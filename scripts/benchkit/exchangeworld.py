"""A regtest chain of exchanges, their customers, pools and adversaries, with the true owner of
every script: the known truth `scripts/labels_eval.py` measures `labels derive` against.

Exchanges behave the way SPEC 8's sources describe them: a deposit address per customer (reused)
and one-time ones, sweeps of many deposits into the hot wallet, withdrawal batches from the hot
wallet with fresh change, hot-to-cold transfers. One pool is run by an exchange (its coinbases
pay the exchange's hot wallet), pools pay some customers straight into their exchange deposit
addresses and sell to exchanges themselves. The adversaries: CoinJoins of every R0 shape
(Whirlpool, BlockSci-shaped equal outputs, Wasabi 1, Wasabi 2; one with an exchange hot-wallet
input), PayJoin-shaped deposits (a customer's input and an exchange's input in one transaction),
an OTC desk settling straight into hot wallets and a custodial address shared by customers of
two exchanges.

The layout on disk is `make_chain`'s (blk/rev files, pools.json); beside it `truth.json` maps
every script (hex) to its owner (`exchange:<name>`, `customer:<n>`, `pool:<name>`, `otc`,
`custodian`, `merchant`) and `seeds.csv` names a few seeds per exchange (hot and cold wallet
scripts).
"""

from __future__ import annotations

import hashlib
import json
import random
import struct
from dataclasses import dataclass, field
from pathlib import Path

from indexer.parse.deserializer import sha256d
from indexer.parse.script import address_of

from .chainmaker import (
    GENESIS_HEX,
    NETWORK,
    BlockWriter,
    Coin,
    MadeTx,
    assemble_tx,
    compact_size,
    fees_of,
    mine_block,
    undo_record,
    unlock,
    witness_root_of,
)

COIN = 100_000_000
EXCHANGES = ("Alpha Exchange", "Beta Exchange", "Gamma Exchange")
POOLS = ("North Pool", "South Pool", "East Pool", "Alpha Pool")  # Alpha Pool: Alpha's own
EXCHANGE_POOL = {"Alpha Pool": "Alpha Exchange"}
POOL_WEIGHTS = (40, 30, 20, 10)
MATURITY = 10
FEE = 2_000
WHIRLPOOL_DENOMINATION = COIN // 100
WASABI1_DENOMINATION = COIN // 10
WASABI2_DENOMINATIONS = (2**17, 3**11, 2 * 3**10, 10**5, 2 * 10**5, 5 * 10**5, 2**20)


@dataclass
class WorldStats:
    blocks: int = 0
    txs: int = 0
    deposits: int = 0
    payjoins: int = 0
    coinjoins: dict[str, int] = field(default_factory=dict)
    sweeps: int = 0
    withdrawals: int = 0
    coinjoin_txids: set[str] = field(default_factory=set)  # displayed txids
    payjoin_txids: set[str] = field(default_factory=set)


class World:
    """Every wallet's coins and every script's owner; one seeded generator decides all."""

    def __init__(self, seed: int, customers: int, arbitrage: bool = False) -> None:
        self.rng = random.Random(seed)
        self.arbitrage = arbitrage  # some withdrawals pay the customer's deposit elsewhere
        self.counter = seed << 32
        self.owner: dict[bytes, str] = {}
        self.wallet_kind: dict[str, str] = {}
        self.kind: dict[bytes, str] = {}
        self.coins: dict[str, list[Coin]] = {}
        self.stats = WorldStats()
        self.hot = {x: [self.new(f"exchange:{x}") for _ in range(2)] for x in EXCHANGES}
        self.cold = {x: self.new(f"exchange:{x}") for x in EXCHANGES}
        self.pool_script = {p: self.new(f"pool:{p}") for p in POOLS}
        self.customers = [f"customer:{n}" for n in range(customers)]
        # each customer has an account at one or two exchanges: a reused deposit address each
        self.accounts: dict[str, dict[str, bytes]] = {}
        for c in self.customers:
            chosen = self.rng.sample(EXCHANGES, self.rng.choice((1, 1, 2)))
            self.accounts[c] = {x: self.new(f"exchange:{x}") for x in chosen}
        # a pool's payout list: its customers' own scripts or their exchange deposit addresses
        self.payees = {p: self._payees() for p in POOLS if p not in EXCHANGE_POOL}
        self.custodian = self.new("custodian", "p2wpkh")
        self.otc = self.new("otc", "p2wpkh")
        self.merchants = [self.new("merchant") for _ in range(20)]
        self.pool_accounts: dict[str, bytes] = {}
        self.deposit_scripts = {script for accounts in self.accounts.values()
                                for script in accounts.values()}
        self.reserved: set[bytes] = set()  # premix scripts, spent only by their mix
        self.whirlpool_next: list[tuple[list[Coin], list[tuple[int, bytes]]]] = []
        self.pending_deposits: dict[str, list[Coin]] = {x: [] for x in EXCHANGES}
        self.withdrawal_queue: dict[str, list[tuple[bytes, int]]] = {x: [] for x in EXCHANGES}

    # -- scripts, coins, transactions ----------------------------------------------------------

    def new(self, owner: str, kind: str | None = None) -> bytes:
        """A fresh script of `owner`, of the script type its wallet uses."""
        self.counter += 1
        h = hashlib.sha256(self.counter.to_bytes(12, "little")).digest()
        if kind is None:
            kind = self.wallet_kind.get(owner)
            if kind is None:
                kind = self.wallet_kind[owner] = self.rng.choice(
                    ("p2wpkh", "p2wpkh", "p2tr", "p2pkh", "p2sh"))
        script = {"p2wpkh": b"\x00\x14" + h[:20], "p2tr": b"\x51\x20" + h,
                  "p2pkh": b"\x76\xa9\x14" + h[:20] + b"\x88\xac",
                  "p2sh": b"\xa9\x14" + h[:20] + b"\x87"}[kind]
        self.owner[script] = owner
        self.kind[script] = kind
        return script

    def new_deposit(self, exchange: str) -> bytes:
        script = self.new(f"exchange:{exchange}")
        self.deposit_scripts.add(script)
        return script

    def single_coin(self, owner: str, height: int, at_least: int,
                    kinds: tuple[str, ...] | None = None) -> Coin | None:
        """One spendable coin of `owner` worth `at_least` (of a script kind among `kinds`)."""
        for coin in self.wallet(owner):
            if coin.value >= at_least and coin.height <= height - (
                    MATURITY if coin.coinbase else 1) and (
                    kinds is None or self.kind.get(coin.script) in kinds):
                self.wallet(owner).remove(coin)
                return coin
        return None

    def _payees(self) -> list[bytes]:
        out = []
        for c in self.rng.sample(self.customers, 25):
            if self.rng.random() < 0.3:  # paid straight into the customer's exchange account
                out.append(self.rng.choice(list(self.accounts[c].values())))
            else:
                out.append(self.new(c))
        return out

    def wallet(self, owner: str) -> list[Coin]:
        return self.coins.setdefault(owner, [])

    def take(self, owner: str, n: int, height: int, at_least: int = 0) -> list[Coin]:
        """Up to `n` spendable coins of `owner` (at least `at_least` in value when possible)."""
        coins = [c for c in self.wallet(owner) if c.height <= height - (
            MATURITY if c.coinbase else 1)]
        self.rng.shuffle(coins)
        picked: list[Coin] = []
        for coin in coins:
            if len(picked) >= n and sum(c.value for c in picked) >= at_least:
                break
            picked.append(coin)
        for coin in picked:
            self.wallet(owner).remove(coin)
        return picked

    def tx(self, spent: list[Coin], outputs: list[tuple[int, bytes]]) -> MadeTx:
        unlocks = [unlock(self.kind.get(coin.script, "p2wpkh"), self.rng) for coin in spent]
        return assemble_tx(spent, unlocks, [(v, s, self.kind.get(s, "")) for v, s in outputs])

    def split(self, total: int, n: int) -> list[int]:
        cuts = sorted(self.rng.randrange(1, total) for _ in range(n - 1))
        return [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]

    # -- behaviours: each returns the transactions it made -----------------------------------

    def pool_payout(self, pool: str, height: int) -> list[MadeTx]:
        spent = self.take(f"pool:{pool}", 2, height)
        total = sum(c.value for c in spent) - FEE
        if total < 1_000_000:
            self.wallet(f"pool:{pool}").extend(spent)
            return []
        if self.rng.random() < 0.15:  # the pool sells: to its own account at an exchange
            exchange = EXCHANGES[POOLS.index(pool) % len(EXCHANGES)]
            deposit = self.pool_accounts.get(pool)
            if deposit is None:
                deposit = self.pool_accounts[pool] = self.new_deposit(exchange)
            sold = total // 2
            return [self.tx(spent, [(sold, deposit), (total - sold, self.pool_script[pool])])]
        payees = self.rng.sample(self.payees[pool], self.rng.randint(8, 20))
        values = self.split(total * 9 // 10, len(payees))
        outs = [(v, s) for v, s in zip(values, payees, strict=True)]
        outs.append((total - sum(values), self.pool_script[pool]))
        return [self.tx(spent, outs)]

    def customer_move(self, customer: str, height: int) -> list[MadeTx]:
        spent = self.take(customer, self.rng.choice((1, 1, 2, 3)), height)
        if not spent:
            return []
        total = sum(c.value for c in spent) - FEE
        if total < 20_000:
            self.wallet(customer).extend(spent)
            return []
        roll = self.rng.random()
        change = self.new(customer)
        if roll < 0.45 and self.accounts[customer]:  # a deposit
            exchange = self.rng.choice(list(self.accounts[customer]))
            deposit = self.accounts[customer][exchange] if self.rng.random() < 0.7 else (
                self.new_deposit(exchange))  # a one-time deposit address
            amount = total * self.rng.randint(30, 100) // 100
            self.stats.deposits += 1
            if self.rng.random() < 0.008:  # PayJoin-shaped: the exchange adds a coin of its own
                extra = self.take(f"exchange:{exchange}:hot", 1, height)
                if extra:
                    self.stats.payjoins += 1
                    outs = [(amount + extra[0].value, deposit)]
                    if total - amount > 1_000:
                        outs.append((total - amount, change))
                    made = self.tx(spent + extra, outs)
                    self.stats.payjoin_txids.add(made.txid[::-1].hex())
                    return [made]
            outs = [(amount, deposit)] + ([(total - amount, change)] if total - amount > 1_000
                                           else [])
            return [self.tx(spent, outs)]
        if roll < 0.6 and self.accounts[customer]:  # asks an exchange for a withdrawal
            exchange = self.rng.choice(list(self.accounts[customer]))
            others = [x for x in self.accounts[customer] if x != exchange]
            # to their own wallet, or (arbitrage) to their deposit address at another exchange
            to = self.accounts[customer][others[0]] if (
                self.arbitrage and others and roll > 0.57) else self.new(customer)
            self.withdrawal_queue[exchange].append((to, self.rng.randint(200_000, 5_000_000)))
            self.wallet(customer).extend(spent)
            return []
        if roll < 0.7:  # pays the custodial service (used by customers of two exchanges)
            return [self.tx(spent, [(total, self.custodian)])]
        payee = self.rng.choice(self.merchants) if roll < 0.85 else self.new(
            self.rng.choice(self.customers))
        amount = total * self.rng.randint(10, 90) // 100
        return [self.tx(spent, [(amount, payee), (total - amount, change)])]

    def sweep(self, exchange: str, height: int) -> list[MadeTx]:
        ready = [c for c in self.pending_deposits[exchange] if c.height < height]
        if len(ready) < 3:
            return []
        batch = ready[:self.rng.randint(3, 25)]
        for coin in batch:
            self.pending_deposits[exchange].remove(coin)
        total = sum(c.value for c in batch) - FEE * 2
        self.stats.sweeps += 1
        hot = self.rng.choice(self.hot[exchange])
        if self.rng.random() < 0.2:  # part straight to cold storage
            cold = total // 3
            return [self.tx(batch, [(total - cold, hot), (cold, self.cold[exchange])])]
        return [self.tx(batch, [(total, hot)])]

    def withdrawals(self, exchange: str, height: int) -> list[MadeTx]:
        queue = self.withdrawal_queue[exchange]
        if len(queue) < 2:
            return []
        batch, self.withdrawal_queue[exchange] = queue[:30], queue[30:]
        need = sum(v for _s, v in batch) + FEE * 3
        spent = self.take(f"exchange:{exchange}:hot", 1, height, at_least=need)
        if sum(c.value for c in spent) < need:
            self.wallet(f"exchange:{exchange}:hot").extend(spent)
            self.withdrawal_queue[exchange] = batch + self.withdrawal_queue[exchange]
            return []
        self.stats.withdrawals += 1
        change = self.new(f"exchange:{exchange}")  # fresh change, as exchanges do
        total = sum(c.value for c in spent) - FEE * 3
        outs = [(v, s) for s, v in batch] + [(total - sum(v for _s, v in batch), change)]
        return [self.tx(spent, outs)]

    def to_cold(self, exchange: str, height: int) -> list[MadeTx]:
        spent = self.take(f"exchange:{exchange}:hot", 2, height)
        if not spent:
            return []
        total = sum(c.value for c in spent) - FEE
        keep = total // 2
        return [self.tx(spent, [(total - keep, self.cold[exchange]),
                                (keep, self.rng.choice(self.hot[exchange]))])]

    def otc_settle(self, height: int) -> list[MadeTx]:
        """The OTC desk buys from customers and settles straight into a hot wallet."""
        spent = self.take("otc", 2, height)
        if not spent:
            return []
        exchange = self.rng.choice(EXCHANGES)
        return [self.tx(spent, [(sum(c.value for c in spent) - FEE,
                                 self.rng.choice(self.hot[exchange]))])]

    def custodian_settle(self, height: int) -> list[MadeTx]:
        spent = self.take("custodian", 3, height)
        if not spent:
            return []
        exchange = EXCHANGES[height % 2]  # two exchanges, alternately
        return [self.tx(spent, [(sum(c.value for c in spent) - FEE,
                                 self.rng.choice(self.hot[exchange]))])]

    def coinjoin(self, shape: str, height: int, with_exchange: bool = False) -> list[MadeTx]:
        """One CoinJoin of an R0 shape among customers (and an exchange's hot coin)."""
        rng = self.rng
        if shape == "whirlpool":
            n, denom = 5, WHIRLPOOL_DENOMINATION
        elif shape == "wasabi1":
            n, denom = 12, WASABI1_DENOMINATION
        elif shape == "wasabi2":
            n, denom = 22, 0
        else:
            n, denom = 4, rng.choice((1_000_000, 2_500_000, 5_000_000))
        wanted = max(denom, 300_000) + 5 * FEE
        kinds = ("p2wpkh", "p2tr") if shape == "wasabi2" else None
        people = [f"exchange:{EXCHANGES[0]}"] if with_exchange else []
        people += rng.sample(self.customers, len(self.customers))
        chosen: list[tuple[str, Coin]] = []
        for person in people:
            owner = f"{person}:hot" if person.startswith("exchange:") else person
            coin = self.single_coin(owner, height, wanted, kinds)
            if coin is not None:
                chosen.append((person, coin))
                if len(chosen) == n:
                    break
        if len(chosen) < n:
            for _person, coin in chosen:
                self.wallet(self._wallet_of(coin)).append(coin)
            return []
        spent: list[Coin] = []
        outs: list[tuple[int, bytes]] = []
        for person, coin in chosen:
            kind = self.kind[coin.script] if shape == "wasabi2" else None
            spent.append(coin)
            left = coin.value - FEE
            if shape == "wasabi2":
                for d in sorted(WASABI2_DENOMINATIONS, reverse=True):
                    while left >= d and len(outs) < 200:
                        outs.append((d, self.new(person, kind)))
                        left -= d
                if left > 1_000:
                    outs.append((left, self.new(person, kind)))
                continue
            if shape == "whirlpool":
                outs.append((denom, self.new(person)))
                continue
            outs.append((denom, self.new(person)))
            if left - denom > 1_000:
                outs.append((left - denom, self.new(person)))
        if shape == "whirlpool":  # premix coins are cut to size: give the rest back first
            spent_exact = []
            made: list[MadeTx] = []
            for coin, (_v, _s) in zip(spent, outs, strict=True):
                person = self.owner.get(coin.script, "")
                premix = self.new(person)
                self.reserved.add(premix)
                cut = self.tx([coin], [(denom + FEE, premix),
                                       (coin.value - denom - 2 * FEE, self.new(person))])
                made.append(cut)
                spent_exact.append(Coin(cut.txid, 0, denom + FEE, premix, "", height, False))
            # the premix coins are spent in the next block (their creation settles there)
            self.whirlpool_next.append((spent_exact, outs))
            return made
        rng.shuffle(outs)
        return [self._mix(shape, spent, outs)]

    def _mix(self, shape: str, spent: list[Coin], outs: list[tuple[int, bytes]]) -> MadeTx:
        self.stats.coinjoins[shape] = self.stats.coinjoins.get(shape, 0) + 1
        made = self.tx(spent, outs)
        self.stats.coinjoin_txids.add(made.txid[::-1].hex())
        return made

    def whirlpool_mix(self) -> list[MadeTx]:
        made = []
        for spent, outs in self.whirlpool_next:
            made.append(self._mix("whirlpool", spent, outs))
        self.whirlpool_next = []
        return made

    # -- blocks ---------------------------------------------------------------------------------

    def block_txs(self, height: int) -> tuple[str, list[MadeTx]]:
        rng = self.rng
        pool = rng.choices(POOLS, POOL_WEIGHTS)[0]
        txs = self.whirlpool_mix()
        for p in POOLS:
            if p not in EXCHANGE_POOL and rng.random() < 0.4:
                txs += self.pool_payout(p, height)
        for customer in rng.sample(self.customers, min(40, len(self.customers))):
            txs += self.customer_move(customer, height)
        for exchange in EXCHANGES:
            if rng.random() < 0.3:
                txs += self.sweep(exchange, height)
            if rng.random() < 0.3:
                txs += self.withdrawals(exchange, height)
            if rng.random() < 0.03:
                txs += self.to_cold(exchange, height)
        if rng.random() < 0.05:
            txs += self.otc_settle(height)
        if rng.random() < 0.1:
            txs += self.custodian_settle(height)
        if height > 40 and rng.random() < 0.25:
            shape = rng.choice(("whirlpool", "blocksci", "wasabi1", "wasabi2"))
            txs += self.coinjoin(shape, height, with_exchange=height % 97 == 0)
        return pool, txs

    def coinbase(self, height: int, pool: str, fees: int, witness_root: bytes) -> MadeTx:
        subsidy = NETWORK.subsidy(height)
        bip34 = height.to_bytes((height.bit_length() + 8) // 8, "little")
        script_sig = bytes((len(bip34),)) + bip34 + f"/{pool}/".encode() + self.rng.randbytes(8)
        outs: list[tuple[int, bytes]] = []
        if height <= 30:  # the economy's first coins: customers, the OTC desk, the hot wallets
            owners = self.customers + ["otc"] + [f"exchange:{x}" for x in EXCHANGES]
            n = 60
            for k in range(n):
                owner = owners[(height * n + k) % len(owners)]
                script = self.new(owner) if not owner.startswith("exchange") else (
                    self.hot[owner.split(":", 1)[1]][0])
                outs.append(((subsidy + fees) // (n + 1), script))
        payee = self.hot[EXCHANGE_POOL[pool]][0] if pool in EXCHANGE_POOL else (
            self.pool_script[pool])
        outs.append((subsidy + fees - sum(v for v, _s in outs), payee))
        commitment = sha256d(witness_root + bytes(32))
        outs.append((0, b"\x6a\x24\xaa\x21\xa9\xed" + commitment))
        body = (b"\x01" + bytes(32) + b"\xff\xff\xff\xff" + compact_size(len(script_sig))
                + script_sig + b"\xff\xff\xff\xff" + compact_size(len(outs))
                + b"".join(struct.pack("<q", v) + compact_size(len(s)) + s for v, s in outs))
        txid = sha256d(b"\x02\x00\x00\x00" + body + bytes(4))
        raw = b"\x02\x00\x00\x00\x00\x01" + body + b"\x01\x20" + bytes(32) + bytes(4)
        return MadeTx(txid, bytes(32), raw, [], [(v, s, "") for v, s in outs])

    def settle(self, height: int, txs: list[MadeTx]) -> None:
        """Every new output joins its owner's wallet; deposits wait for their sweep."""
        for made in txs:
            for vout, (value, script, _kind) in enumerate(made.outputs):
                owner = self.owner.get(script)
                if owner is None or value == 0 or script in self.reserved:
                    continue
                coin = Coin(made.txid, vout, value, script, "", height, not made.spent)
                if owner.startswith("exchange:") and script in self.deposit_scripts:
                    self.pending_deposits[owner.split(":", 1)[1]].append(coin)
                else:
                    self.wallet(self._wallet_of(coin)).append(coin)

    def _wallet_of(self, coin: Coin) -> str:
        """Where a coin is kept: an exchange's non-deposit coins are its hot wallet's."""
        owner = self.owner[coin.script]
        return f"{owner}:hot" if owner.startswith("exchange:") else owner


def make_world(out: Path, blocks: int = 600, seed: int = 7, customers: int = 300,
               arbitrage: bool = False) -> WorldStats:
    """Write the chain, its pools list, its truth and its seeds under `out`; with `arbitrage`,
    some withdrawals go straight to the customer's deposit address at another exchange."""
    world = World(seed, customers, arbitrage)
    writer = BlockWriter(out / "regtest" / "blocks", None)
    genesis = bytes.fromhex(GENESIS_HEX)
    writer.write(genesis)
    prev_hash = sha256d(genesis[:80])
    time = 1_296_688_602
    for height in range(1, blocks + 1):
        pool, txs = world.block_txs(height)
        coinbase = world.coinbase(height, pool, fees_of(txs), witness_root_of(txs))
        all_txs = [coinbase, *txs]
        time += 300 + world.rng.randrange(600)
        block, block_hash = mine_block(prev_hash, time, all_txs)
        writer.write(block, undo_record(all_txs), prev_hash)
        world.settle(height, all_txs)
        prev_hash = block_hash
        world.stats.blocks += 1
        world.stats.txs += len(all_txs)
    pools = [{"id": i + 1, "name": name, "addresses": [address_of(world.pool_script[name],
                                                                   NETWORK)],
              "tags": [f"/{name}/"], "link": ""} for i, name in enumerate(POOLS)]
    (out / "pools.json").write_text(json.dumps(pools, indent=1) + "\n")
    (out / "truth.json").write_text(json.dumps({s.hex(): o for s, o in world.owner.items()}))
    seeds = ["address,entity,category,source"]
    for exchange in EXCHANGES:
        for script in [world.hot[exchange][0], world.cold[exchange]]:
            seeds.append(f"{address_of(script, NETWORK)},{exchange},exchange,eval seed")
    (out / "seeds.csv").write_text("\n".join(seeds) + "\n")
    return world.stats
