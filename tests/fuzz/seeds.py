"""Seed inputs for every fuzz target, built from the repository's real data.

Seeds are whole, valid inputs (real regtest and mainnet blocks, real undo records, the bundled
pools list and labels); the fuzzers and the hypothesis strategies mutate them, so most inputs are
nearly valid and reach deep into the code rather than failing on the first byte.
"""

from __future__ import annotations

import struct
from functools import cache
from pathlib import Path

from indexer.cli import sample_dir
from indexer.parse.deserializer import open_block, sha256d
from tests.fuzz.targets import _UNDO_BLOCK

DATA = Path(__file__).parent.parent / "data"
SAMPLE_BLOCKS = sample_dir() / "regtest" / "blocks"
REGTEST_MAGIC = bytes.fromhex("fabfb5da")
SMALL_MAINNET = ("100000-", "670718-", "482683-")


def records(path: Path, limit: int) -> list[bytes]:
    """The first `limit` record bodies of a plain blk or rev file."""
    data = path.read_bytes()
    out: list[bytes] = []
    pos = 0
    while pos + 8 <= len(data) and len(out) < limit:
        magic, size = struct.unpack_from("<4sI", data, pos)
        if magic != REGTEST_MAGIC:
            break
        out.append(data[pos + 8:pos + 8 + size])
        pos += 8 + size + (32 if path.name.startswith("rev") else 0)
    return out


@cache
def blocks() -> tuple[bytes, ...]:
    found = records(SAMPLE_BLOCKS / "blk00000.dat", 40)
    found += records(SAMPLE_BLOCKS / "blk00001.dat", 40)[::4]
    for path in sorted((DATA / "mainnet" / "blocks").glob("*.bin")):
        if path.name.startswith(SMALL_MAINNET):
            found.append(path.read_bytes())
    return tuple(found)


@cache
def undo_records() -> tuple[bytes, ...]:
    return tuple(records(SAMPLE_BLOCKS / "rev00000.dat", 30)
                 + records(SAMPLE_BLOCKS / "rev00001.dat", 30))


def spending_blocks() -> tuple[bytes, ...]:
    """Blocks of transactions that spend and pay: the sample's of `block_undo_pairs` and a
    mainnet block of a few dozen."""
    return tuple(pair[5:5 + struct.unpack_from("<I", pair)[0]] for pair in block_undo_pairs()
                 ) + tuple(path.read_bytes() for path in sorted(
                     (DATA / "mainnet" / "blocks").glob("169482-*.bin")))


@cache
def undo_held_seeds() -> tuple[bytes, ...]:
    """Sample undo records of two transactions or more packed with a filter of about a third
    of the scripts they spend (the packed length first, as the target reads them)."""
    from indexer.fastpath import reference, script_fingerprint  # noqa: PLC0415

    out: list[bytes] = []
    for pair in block_undo_pairs():
        size = struct.unpack_from("<I", pair)[0]
        undo = pair[5 + size:]
        scripts = reference.Filter()
        spent = [s for tx in reference.block_undo_scripts(undo) for _v, s in tx]
        for k, script in enumerate(spent):
            if k % 3 == len(out) % 3:
                scripts.add(script_fingerprint(script))
        packed = reference.pack_block_undo(undo, scripts)
        out.append(struct.pack("<I", len(packed)) + packed + undo)
    return tuple(out)


@cache
def block_undo_pairs() -> tuple[bytes, ...]:
    """Sample blocks of two transactions or more, each with its undo record (the block's length
    first, as the target reads them), the filter picking about two scripts in five."""
    from indexer.config import get_network  # noqa: PLC0415
    from indexer.pipeline import BlockFileSource  # noqa: PLC0415

    source = BlockFileSource(SAMPLE_BLOCKS, get_network("regtest"))
    out: list[bytes] = []
    for cb in source.chain().blocks[1:]:
        block = source.read(cb)
        tx_count = open_block(block).tx_count
        if tx_count < 2:
            continue
        undo = source.undo.record_bytes(cb.location.file_no, tx_count, block[4:36], cb.height)
        out.append(struct.pack("<I", len(block)) + bytes([len(out) % 256]) + block + undo)
    return tuple(out[::3])


def _rev_file_for_undo_block() -> bytes:
    """A rev record that UndoFiles matches to `_UNDO_BLOCK` (right count and checksum)."""
    body = bytes([1, 1, 0x02, 0x31, 0x06])  # 1 tx, 1 input: code 2, amount, script size 6
    prev = open_block(_UNDO_BLOCK).header.prev_hash_rev
    return REGTEST_MAGIC + struct.pack("<I", len(body)) + body + sha256d(prev + body)


@cache
@cache
def address_seeds() -> tuple[bytes, ...]:
    """Addresses of every kind on each network the target picks (its first byte), made from
    the outputs of the sample's blocks and from scripts of every witness version."""
    from indexer.config import get_network  # noqa: PLC0415
    from indexer.parse.deserializer import parse_block  # noqa: PLC0415
    from indexer.parse.script import address_of  # noqa: PLC0415

    scripts = [out.script for block in blocks()[:40] for tx in parse_block(block).txs
               for out in tx.outputs]
    scripts += [bytes([0x50 + v, 2 + v]) + bytes(range(2 + v)) for v in range(1, 17)]
    scripts += [b"\x76\xa9\x14" + bytes(20) + b"\x88\xac", b"\xa9\x14" + bytes(20) + b"\x87"]
    out: list[bytes] = []
    for k, name in enumerate(("main", "test", "regtest")):
        for script in dict.fromkeys(scripts):
            address = address_of(script, get_network(name))
            if address is not None:
                out.append(bytes([k]) + address.encode())
    upper = [seed[:1] + seed[1:].upper() for seed in out if seed[1:3] == b"bc"][:2]
    return tuple(out[::3] + upper)


def seeds(target: str) -> tuple[bytes, ...]:
    if target == "scan_block":
        return tuple(bytes(16) + b for b in blocks())
    if target in ("step_txs", "exchange_txs"):
        # the blocks that spend first (hypothesis draws early seeds more), each under
        # parameters of every byte drawn
        drawn = tuple(bytes((i * 131 + k * 71 + i * k * 29) % 256 for k in range(24)) + b
                      for i, b in enumerate(spending_blocks() * 4))
        return drawn + tuple(bytes([0, 0, i, i * 7 % 256, 0, 0, 0, 0, 0, 0, i * 37 % 256,
                                    i * 11 % 256]) + bytes(12) + b
                             for i, b in enumerate(blocks()))
    if target in ("merkle_root", "block_weight", "block_check", "deserializer", "scan_table"):
        return blocks()
    if target == "parse_block_undo":
        return undo_records()
    if target == "pack_block_undo":  # and records with scripts a filter picks from
        return undo_records() + tuple(pair[5 + struct.unpack_from("<I", pair)[0]:]
                                      for pair in block_undo_pairs())
    if target == "undo_held":
        return undo_held_seeds()
    if target == "undo_hits":
        return tuple(bytes([0, i, i * 7 % 256, 3, 0, 0, 0, 0]) + u
                     for i, u in enumerate(undo_records()))
    if target == "derive_candidates":
        return block_undo_pairs()
    if target == "decode_address":
        return address_seeds()
    if target == "xor_at":
        return (bytes(1) + bytes(range(8)) + bytes(8) + blocks()[1][:200],)
    if target in ("get_coin", "put_coins"):  # parameters only: every byte chooses something
        return (bytes(64), bytes(range(1, 65)), bytes(range(255, 127, -2)) * 2)
    if target == "filter":
        return (bytes(range(90)), bytes(9) * 4 + b"\x08" + bytes(8))
    if target == "blk_reader":
        data = (SAMPLE_BLOCKS / "blk00000.dat").read_bytes()
        rev = (SAMPLE_BLOCKS / "rev00000.dat").read_bytes()[:600]  # the undo of those blocks
        return (b"\x01" + bytes([len(rev) // 8]) + rev + data[:3000],
                b"\x00" + bytes(range(8)) + b"\x00" + data[:2000])
    if target == "rev_reader":
        return (_rev_file_for_undo_block(), (SAMPLE_BLOCKS / "rev00000.dat").read_bytes()[:600])
    if target == "pools":
        return ((sample_dir() / "pools.json").read_bytes(),)
    if target == "labels":
        return ((sample_dir() / "exchanges.csv").read_bytes(),)
    if target == "conf":
        return (b"server=1\nrpcuser=u\nrpcpassword=p\n[regtest]\nrpcport=18443\n"
                b"regtest.zmqpubhashblock=tcp://0.0.0.0:28332\n",)
    if target == "cookie":
        return (b"__cookie__:0123456789abcdef\n",)
    raise KeyError(target)
