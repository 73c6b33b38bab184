"""Networks (magic, genesis, address prefixes, halving interval) and the settings of one run."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from indexer.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Network:
    """Constants of one Bitcoin network as minerflow needs them."""

    name: str
    magic: bytes
    genesis_hash_hum: str
    subdir: str
    p2pkh_prefix: int
    p2sh_prefix: int
    bech32_hrp: str
    halving_interval: int
    pow_limit_bits: int

    @property
    def pow_limit_target(self) -> int:
        return bits_to_target(self.pow_limit_bits)

    def subsidy(self, height: int) -> int:
        """Block subsidy in satoshis at `height` (50 BTC halved every `halving_interval`)."""
        halvings = height // self.halving_interval
        return 0 if halvings >= 64 else (50 * 100_000_000) >> halvings

    def supply(self, height: int) -> int:
        """Satoshis issued by the schedule in blocks 0..height, genesis included (SPEC 5.2):
        the circulating supply analysts quote. 0 below height 0."""
        if height < 0:
            return 0
        interval = self.halving_interval
        total = 0
        for era in range(min(height // interval, 64) + 1):
            blocks = min(height + 1 - era * interval, interval)
            total += blocks * ((50 * 100_000_000) >> era if era < 64 else 0)
        return total


def bits_to_target(bits: int) -> int:
    """Decode a compact difficulty target (nBits)."""
    exponent = bits >> 24
    mantissa = bits & 0x007FFFFF
    if exponent <= 3:
        return mantissa >> (8 * (3 - exponent))
    return mantissa << (8 * (exponent - 3))


NETWORKS: dict[str, Network] = {
    n.name: n
    for n in (
        Network("main", bytes.fromhex("f9beb4d9"),
                "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
                "", 0x00, 0x05, "bc", 210_000, 0x1D00FFFF),
        Network("test", bytes.fromhex("0b110907"),
                "000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943",
                "testnet3", 0x6F, 0xC4, "tb", 210_000, 0x1D00FFFF),
        Network("testnet4", bytes.fromhex("1c163f28"),
                "00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043",
                "testnet4", 0x6F, 0xC4, "tb", 210_000, 0x1D00FFFF),
        Network("signet", bytes.fromhex("0a03cf40"),
                "00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6",
                "signet", 0x6F, 0xC4, "tb", 210_000, 0x1E0377AE),
        Network("regtest", bytes.fromhex("fabfb5da"),
                "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
                "regtest", 0x6F, 0xC4, "bcrt", 150, 0x207FFFFF),
    )
}
NETWORK_ALIASES = {"mainnet": "main", "bitcoin": "main", "testnet": "test", "testnet3": "test"}


def get_network(name: str) -> Network:
    """The network called `name` (bitcoind's names; `mainnet`/`testnet` accepted)."""
    key = NETWORK_ALIASES.get(name.lower(), name.lower())
    try:
        return NETWORKS[key]
    except KeyError:
        choices = ", ".join(NETWORKS)
        raise ConfigError(f"unknown network {name!r}: choose one of {choices}") from None


def blocks_dir(datadir: Path | None, network: Network, blocksdir: Path | None = None) -> Path:
    """The blk*.dat folder, following bitcoind: `<datadir>/<net subdir>/blocks`, or `--blocksdir`.

    As with bitcoind's `-blocksdir`, an explicit blocks dir also gets the network subfolder; a
    folder that already holds blk*.dat files is taken as it is.
    """
    if blocksdir is not None:
        candidates = [blocksdir / network.subdir / "blocks", blocksdir / "blocks", blocksdir]
    elif datadir is not None:
        candidates = [datadir / network.subdir / "blocks"]
        if network.subdir:
            candidates.append(datadir / "blocks")  # datadir given with the subfolder already
    else:
        raise ConfigError("give --datadir (or --blocksdir) to read block files")
    for path in candidates:
        if path.is_dir() and any(path.glob("blk*.dat")):
            return path
    where = blocksdir if blocksdir is not None else datadir
    if where is None or not where.exists():
        raise ConfigError(f"datadir {where} does not exist")
    raise ConfigError(
        f"no blk*.dat files for network {network.name!r} under {where} "
        f"(looked in {', '.join(str(c) for c in candidates)})"
    )


def default_pools_path() -> Path:
    """The bundled mainnet pools list (mempool's pools-v2.json)."""
    return Path(str(resources.files("indexer") / "data" / "pools-v2.json"))


@dataclass(slots=True)
class Settings:
    """Everything one command needs, built once by the CLI and passed down."""

    index: Path
    network: Network | None = None
    datadir: Path | None = None
    blocksdir: Path | None = None
    pools: Path | None = None
    labels: Path | None = None
    reorg_limit: int = 288
    extra: dict[str, str] = field(default_factory=dict)
