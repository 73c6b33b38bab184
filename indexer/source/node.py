"""The active chain as the node sees it: best tip and block hashes over RPC, block bytes from
the node's blk files when they are readable, else over REST or RPC; spent-output values from
rev files, else from `getblock <hash> 3`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from indexer.config import Network
from indexer.errors import ConfigError, SourceError
from indexer.flows.cohorts import SpentValues
from indexer.parse.deserializer import RawBlock, hum, open_block, sha256d
from indexer.source.blkfiles import BlockFiles, Record, RecordLocation
from indexer.source.revfiles import UndoFiles, UndoMissing
from indexer.source.rpc import NodeClient, RpcError

log = logging.getLogger(__name__)


def sats(btc: Decimal | float | int) -> int:
    return int(Decimal(str(btc)) * 100_000_000)


class LocalFiles:
    """Blocks of the node's own blk files, found by hash.

    The node appends new blocks to its newest file, so a hash not seen yet rescans only that
    file and any newer ones, once per hash; blocks it still lacks come over RPC.
    """

    def __init__(self, blocks_dir: Path, network: Network) -> None:
        self.blocks_dir = blocks_dir
        self.network = network
        self.files = BlockFiles(blocks_dir, network.magic)
        self.undo = UndoFiles(blocks_dir, network.magic, self.files.key)
        self.where: dict[bytes, RecordLocation] = {}
        self.missing: set[bytes] = set()
        self.newest_file = 0
        self._scan(0)

    def _scan(self, first_file: int) -> None:
        self.files = BlockFiles(self.blocks_dir, self.network.magic)  # picks up new files
        self.undo = UndoFiles(self.blocks_dir, self.network.magic, self.files.key)
        for item in self.files.scan(first_file):
            if isinstance(item, Record):
                self.where.setdefault(sha256d(item.header), item.location)
                self.newest_file = max(self.newest_file, item.location.file_no)

    def location(self, hash_rev: bytes) -> RecordLocation | None:
        if hash_rev not in self.where and hash_rev not in self.missing:
            self._scan(self.newest_file)
            if hash_rev not in self.where:
                self.missing.add(hash_rev)
        return self.where.get(hash_rev)


@dataclass(frozen=True, slots=True)
class ChainInfo:
    """What `getblockchaininfo` says of the node's chain."""

    chain: str
    tip: int
    best: str
    prune_height: int | None  # the lowest height a pruned node still keeps; None: not pruned


class NodeSource:
    """Chain and blocks of a running node."""

    def __init__(self, client: NodeClient, network: Network,
                 local: LocalFiles | None = None) -> None:
        self.client = client
        self.network = network
        self.local = local
        self.rest: bool | None = None  # unknown until tried

    def info(self) -> ChainInfo:
        """The node's chain, checked to be the network minerflow was told."""
        info = self.client.call("getblockchaininfo")
        if not isinstance(info, dict):
            raise SourceError(f"node at {self.client.url} answered getblockchaininfo with "
                              f"something else")
        chain = info.get("chain")
        if chain != self.network.name:  # getblockchaininfo names chains as minerflow does
            raise ConfigError(f"the node at {self.client.url} runs {chain!r}, not "
                              f"{self.network.name!r}: check --network or --rpc-url")
        pruned = bool(info.get("pruned")) and info.get("pruneheight") is not None
        return ChainInfo(str(chain), int(info["blocks"]), str(info["bestblockhash"]),
                         int(info["pruneheight"]) if pruned else None)

    def tip(self) -> tuple[int, str]:
        info = self.info()
        return info.tip, info.best

    def hashes(self, start: int, stop: int) -> list[bytes]:
        """Hashes (serialized order) of the node's active chain at heights [start, stop)."""
        answers = self.client.batch([("getblockhash", [h]) for h in range(start, stop)])
        return [bytes.fromhex(str(a))[::-1] for a in answers]

    def block(self, hash_rev: bytes) -> RawBlock:
        if self.local is not None:
            loc = self.local.location(hash_rev)
            if loc is not None:
                return open_block(self.local.files.read(loc))
        hash_hum = hum(hash_rev)
        raw: bytes | None = None
        if self.rest is not False:
            raw = self.client.rest_block(hash_hum)
            self.rest = raw is not None
        if raw is None:
            try:
                raw = bytes.fromhex(str(self.client.call("getblock", hash_hum, 0)))
            except RpcError as exc:
                if "pruned" in str(exc):
                    raise ConfigError(f"block {hash_hum}: the node has pruned it ({exc}); "
                                      f"index from a node without -prune") from None
                raise
        block = open_block(raw)
        if block.header.hash_rev != hash_rev:
            raise SourceError(f"the node sent block {hum(block.header.hash_rev)} for {hash_hum}")
        return block

    def spent_values(self, hash_rev: bytes, block: RawBlock, height: int) -> SpentValues:
        cache: list[list[list[int]]] = []

        def values(tx_index: int) -> list[int]:
            if not cache:
                cache.append(self._spent(hash_rev, block, height))
            return cache[0][tx_index - 1]

        return values

    def _spent(self, hash_rev: bytes, block: RawBlock, height: int) -> list[list[int]]:
        if self.local is not None:
            loc = self.local.location(hash_rev)
            if loc is not None:
                try:
                    return self.local.undo.spent_values(loc.file_no, block, height)
                except UndoMissing:
                    pass
        verbose: dict[str, Any] = self.client.call("getblock", hum(hash_rev), 3)
        out = []
        for tx in verbose["tx"][1:]:
            try:
                out.append([sats(txin["prevout"]["value"]) for txin in tx["vin"]])
            except KeyError:
                raise SourceError(f"height {height}: the node's getblock verbosity 3 gives no "
                                  f"prevouts (Bitcoin Core 23 or newer is needed)") from None
        return out
