"""The active chain as the node sees it: best tip and block hashes over RPC, block bytes from
the node's blk files when they are readable, else over REST or RPC; spent outputs (values, and
the scripts that may be an exchange's) from rev files, else from `getblock <hash> 3`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from indexer.config import Network
from indexer.errors import ConfigError, DamagedBlockError, ParseError, SourceError
from indexer.fastpath import FingerprintFilter, parse_block_undo
from indexer.flows.cohorts import SpentValues
from indexer.flows.exchanges import SpentScripts
from indexer.parse.deserializer import RawBlock, hum, open_block, sha256d
from indexer.source import answers
from indexer.source.blkfiles import BlockFiles, Record, RecordLocation
from indexer.source.revfiles import UndoFiles, UndoMissing
from indexer.source.rpc import NodeClient, RpcError
from indexer.source.spent import SpentHeld, held_from_scripts, held_from_undo
from indexer.source.verify import check_block

log = logging.getLogger(__name__)


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
class CheckedBlock:
    """A block that passed `check_block`, with what its walk gave the applier."""

    block: RawBlock
    weight: int
    scan: bytes


def checked(data: bytes, hash_rev: bytes, where: str) -> CheckedBlock:
    """`data` checked as block `hash_rev` (DamagedBlockError naming `where` when it is not)."""
    weight, scan = check_block(data, hash_rev, where)
    try:
        block = open_block(data)
    except ParseError as exc:  # a whole block by its merkle walk, but no coinbase first
        raise DamagedBlockError(f"{where}: {exc}") from None
    return CheckedBlock(block, weight, scan)


@dataclass(frozen=True, slots=True)
class ChainInfo:
    """What `getblockchaininfo` says of the node's chain."""

    chain: str
    tip: int
    best: str
    prune_height: int | None  # the lowest height a pruned node still keeps; None: not pruned


@dataclass(frozen=True, slots=True)
class Spent:
    """What a block's inputs spend: per transaction after the coinbase, the values and (from
    the node's answer) the scripts; or the undo record both are read from."""

    values: list[list[int]]
    scripts: list[list[bytes]]
    record: bytes | None


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
        url, what = self.client.url, "getblockchaininfo"
        info = answers.obj(self.client.call("getblockchaininfo"), what, url)
        chain = answers.field(info, "chain", what, url)
        if chain != self.network.name:  # getblockchaininfo names chains as minerflow does
            raise ConfigError(f"the node at {self.client.url} runs {answers.show(chain)}, not "
                              f"{self.network.name!r}: check --network or --rpc-url")
        tip = answers.height(answers.field(info, "blocks", what, url), what, url)
        best = answers.block_hash(answers.field(info, "bestblockhash", what, url), what, url)
        prune_height = None
        if info.get("pruned") is True and info.get("pruneheight") is not None:
            prune_height = answers.height(info["pruneheight"], f"{what} pruneheight", url)
        return ChainInfo(str(chain), tip, hum(best), prune_height)

    def tip(self) -> tuple[int, str]:
        info = self.info()
        return info.tip, info.best

    def hashes(self, start: int, stop: int) -> list[bytes]:
        """Hashes (serialized order) of the node's active chain at heights [start, stop)."""
        found = self.client.batch([("getblockhash", [h]) for h in range(start, stop)])
        return [answers.block_hash(a, f"getblockhash {h}", self.client.url)
                for h, a in zip(range(start, stop), found, strict=True)]

    def block(self, hash_rev: bytes, height: int) -> CheckedBlock:
        """The block `hash_rev` at `height`, checked (`check_block`: header hash, merkle root,
        witness commitment) whichever way it came: the node's blk file first, else REST, else
        `getblock`. A local copy that fails is passed over for the node's own answer; a block
        that fails from every source raises DamagedBlockError naming it and where it came from.
        """
        what = f"block {hum(hash_rev)} (height {height})"
        local_fault: DamagedBlockError | None = None
        if self.local is not None:
            loc = self.local.location(hash_rev)
            if loc is not None:
                name = f"{self.local.files.path(loc.file_no).name} offset {loc.offset - 8}"
                data = self.local.files.read(loc)
                try:
                    return checked(data, hash_rev, f"{name}: {what}")
                except DamagedBlockError as exc:
                    log.warning("%s; asking the node for it", exc)
                    local_fault = exc
        data, via = self._fetch(hash_rev)
        try:
            return checked(data, hash_rev, f"{what} as the node at {self.client.url} sent it "
                                           f"({via})")
        except DamagedBlockError as exc:
            if local_fault is None:
                raise
            raise DamagedBlockError(f"{exc}; the node's blk file holds a damaged copy too "
                                    f"({local_fault})") from None

    def _fetch(self, hash_rev: bytes) -> tuple[bytes, str]:
        """The block's bytes over REST (when the node has -rest) or `getblock`, and which."""
        hash_hum = hum(hash_rev)
        if self.rest is not False:
            raw = self.client.rest_block(hash_hum)
            self.rest = raw is not None
            if raw is not None:
                return raw, "REST"
        try:
            answer = self.client.call("getblock", hash_hum, 0)
        except RpcError as exc:
            if "pruned" in str(exc):
                raise ConfigError(f"block {hash_hum}: the node has pruned it ({exc}); "
                                  f"index from a node without -prune") from None
            raise
        return answers.hex_bytes(answer, f"getblock {hash_hum} 0", self.client.url), "getblock"

    def spent(self, hash_rev: bytes, block: RawBlock,
              height: int) -> tuple[SpentValues, SpentScripts]:
        """What the block's inputs spend: the values (SPEC 5) and the scripts that may be an
        exchange's (SPEC 5.1), read once, when first asked for: from the node's rev file when
        it is readable, else from `getblock <hash> 3`."""
        cache: list[Spent] = []

        def answer() -> Spent:
            if not cache:
                cache.append(self._spent(hash_rev, block, height))
            return cache[0]

        def values(tx_index: int) -> list[int]:
            return answer().values[tx_index - 1]

        def scripts(exchange_scripts: FingerprintFilter) -> SpentHeld:
            found = answer()
            if found.record is not None:
                try:
                    return held_from_undo(found.record, exchange_scripts)
                except ValueError as exc:
                    raise SourceError(f"height {height}: the node's undo record does not "
                                      f"decode ({exc})") from None
            return held_from_scripts(zip(found.scripts, found.values, strict=True),
                                     exchange_scripts)

        return values, scripts

    def _spent(self, hash_rev: bytes, block: RawBlock, height: int) -> Spent:
        if self.local is not None:
            loc = self.local.location(hash_rev)
            if loc is not None:
                try:
                    record = self.local.undo.record_bytes(loc.file_no, block.tx_count,
                                                          block.header.prev_hash_rev, height)
                except UndoMissing:
                    pass
                else:
                    try:
                        spent_values = parse_block_undo(record)
                    except ValueError as exc:
                        raise SourceError(f"height {height}: the node's undo record does not "
                                          f"decode ({exc})") from None
                    return Spent(spent_values, [], record)
        url, what = self.client.url, f"getblock {hum(hash_rev)} 3"
        verbose = answers.obj(self.client.call("getblock", hum(hash_rev), 3), what, url)
        txs = answers.field(verbose, "tx", what, url)
        if not isinstance(txs, list) or len(txs) != block.tx_count:
            raise answers.MalformedAnswer(f"node at {url} answered {what} with other "
                                          f"transactions than the block's {block.tx_count}")
        values_out: list[list[int]] = []
        scripts_out: list[list[bytes]] = []
        for tx in txs[1:]:
            vin = answers.field(answers.obj(tx, what, url), "vin", what, url)
            if not isinstance(vin, list):
                raise answers.MalformedAnswer(f"node at {url} answered {what} with a vin that "
                                              f"is not a list")
            values = []
            scripts = []
            for txin in vin:
                prevout = answers.obj(txin, what, url).get("prevout")
                if prevout is None:
                    raise SourceError(f"height {height}: the node's getblock verbosity 3 gives "
                                      f"no prevouts (Bitcoin Core 23 or newer is needed)")
                prevout = answers.obj(prevout, what, url)
                value = answers.field(prevout, "value", what, url)
                values.append(answers.sats(value, what, url))
                spk = answers.obj(answers.field(prevout, "scriptPubKey", what, url), what, url)
                scripts.append(answers.hex_bytes(answers.field(spk, "hex", what, url), what, url))
            values_out.append(values)
            scripts_out.append(scripts)
        return Spent(values_out, scripts_out, None)
