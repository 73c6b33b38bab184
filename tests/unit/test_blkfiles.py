"""Block-file framing on real and hand-damaged files: XOR, padding, junk, torn tails."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from bitcoin.core import CBlock

from indexer.config import get_network
from indexer.errors import SourceError
from indexer.source.blkfiles import BlockFiles, Gap, Record, TornRecord, read_xor_key, xor_at
from indexer.source.chain import find_active_chain
from tests.conftest import DATA, SAMPLE

REGTEST = get_network("regtest")
MAIN = get_network("main")


def records(files: BlockFiles) -> list[Record | TornRecord]:
    return list(files.scan())


def test_xor_is_position_aligned() -> None:
    key = bytes(range(1, 9))
    plain = bytes(range(40))
    stored = bytes(b ^ key[i % 8] for i, b in enumerate(plain))
    assert xor_at(stored, key, 0) == plain
    assert xor_at(stored[13:29], key, 13) == plain[13:29]
    assert xor_at(plain, None, 5) == plain


def test_obfuscated_files_read_like_plain_ones() -> None:
    plain = BlockFiles(SAMPLE / "regtest" / "blocks", REGTEST.magic)
    xored_dir = DATA / "regtest-story-xor" / "regtest" / "blocks"
    xored = BlockFiles(xored_dir, REGTEST.magic)
    assert plain.key is None and xored.key == read_xor_key(xored_dir) is not None
    a = [r for r in records(plain) if not isinstance(r, Gap)]
    b = [r for r in records(xored) if not isinstance(r, Gap)]
    assert len(a) == len(b) == 187  # 183 active blocks and 4 stale ones
    for ra, rb in zip(a, b, strict=True):
        assert isinstance(ra, Record) and isinstance(rb, Record)
        assert ra == rb
        assert plain.read(ra.location) == xored.read(rb.location)


def test_zero_key_means_no_obfuscation(tmp_path: Path) -> None:
    (tmp_path / "xor.dat").write_bytes(bytes(8))
    assert read_xor_key(tmp_path) is None
    (tmp_path / "xor.dat").write_bytes(b"123")
    with pytest.raises(SourceError, match="8 bytes"):
        read_xor_key(tmp_path)


def test_torn_tail_reports_file_offset_and_gap() -> None:
    files = BlockFiles(DATA / "regtest-story-torn" / "regtest" / "blocks", REGTEST.magic)
    torn = [r for r in records(files) if isinstance(r, TornRecord)]
    assert len(torn) == 1
    t = torn[0]
    size = (files.blocks_dir / "blk00002.dat").stat().st_size
    assert t.path.name == "blk00002.dat" and t.offset + 8 + t.present == size
    assert t.gap == t.declared - t.present > 0
    assert "blk00002.dat offset" in t.describe()


def test_junk_between_records_is_skipped(tmp_path: Path) -> None:
    src = (SAMPLE / "regtest" / "blocks" / "blk00000.dat").read_bytes()
    files = BlockFiles(SAMPLE / "regtest" / "blocks", REGTEST.magic)
    locs = [r.location for r in records(files) if isinstance(r, Record) and r.location.file_no == 0]
    cut = locs[1].offset - 8
    damaged = src[:cut] + b"\x00\x00\x07junk\x00" + src[cut:]
    (tmp_path / "blk00000.dat").write_bytes(damaged)
    scanned = records(BlockFiles(tmp_path, REGTEST.magic))
    assert len([r for r in scanned if isinstance(r, Record)]) == len(locs)
    gaps = [r for r in scanned if isinstance(r, Gap)]
    assert [(g.offset, g.length) for g in gaps] == [(cut, 8)]


def test_mainnet_files_give_heights_0_to_599(tmp_path: Path) -> None:
    chain = find_active_chain(BlockFiles(DATA / "mainnet" / "blk", MAIN.magic), MAIN)
    assert chain.tip_height == 599
    assert chain.blocks[0].hash_hum == MAIN.genesis_hash_hum
    files = BlockFiles(DATA / "mainnet" / "blk", MAIN.magic)
    previous = bytes(32)
    for cb in chain.blocks:  # python-bitcoinlib as the oracle for hashes and links
        oracle = CBlock.deserialize(files.read(cb.location))
        assert oracle.GetHash() == cb.hash_rev and oracle.hashPrevBlock == previous
        previous = cb.hash_rev


def test_wrong_network_names_the_missing_genesis(tmp_path: Path) -> None:
    shutil.copy(DATA / "mainnet" / "blk" / "blk00000.dat", tmp_path / "blk00000.dat")
    with pytest.raises(SourceError, match="no blk|genesis"):
        find_active_chain(BlockFiles(tmp_path, get_network("test").magic), get_network("test"))



def test_a_block_file_gone_after_the_scan_is_one_error_naming_it(tmp_path: Path) -> None:
    blocks = tmp_path / "blocks"
    shutil.copytree(SAMPLE / "regtest" / "blocks", blocks)
    files = BlockFiles(blocks, REGTEST.magic)
    first = next(r for r in files.scan() if isinstance(r, Record))
    path = files.path(first.location.file_no)
    path.unlink()
    with pytest.raises(SourceError) as raised:
        files.read(first.location)
    assert str(raised.value) == f"cannot read {path} (No such file or directory)"
