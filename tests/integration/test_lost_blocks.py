"""Blocks of the node's chain lost from the blk files are told apart by the rev files.

The sample chain's newest blk file holds the 4-block stale branch (heights 175-178) first, then
the chain's own blocks 175-182. When some of those are cut off or zeroed, what is left can end
on the stale branch, which then looks like the best chain. The rev file still holds the undo
records of the lost blocks, each checksummed with its parent's hash: the run says so and ends
below the fork, where the index equals a clean one. A lost *stale* block changes nothing.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
from pathlib import Path
from typing import Any

from indexer.config import get_network
from indexer.source.blkfiles import BlockFiles, Record
from indexer.source.chain import find_active_chain
from indexer.source.undo_evidence import find_lost_children
from tests.conftest import LABELS, POOLS, SAMPLE, cli, export_jsonl

MAGIC = get_network("regtest").magic
FORK = 174  # the highest block both branches share


def newest_records(blocks: Path, expected: Any) -> list[tuple[int, int, int | None]]:
    """(start, end, height or None for a stale block) of each record in blk00002.dat."""
    heights = {row["hash"]: row["height"] for row in expected["blocks"]}
    data = (blocks / "blk00002.dat").read_bytes()
    found, pos = [], 0
    while pos + 8 <= len(data) and data[pos:pos + 4] == MAGIC:
        size = struct.unpack_from("<I", data, pos + 4)[0]
        header = data[pos + 8:pos + 88]
        block_hash = hashlib.sha256(hashlib.sha256(header).digest()).digest()[::-1].hex()
        found.append((pos, pos + 8 + size, heights.get(block_hash)))
        pos += 8 + size
    return found


def copy_sample(tmp_path: Path) -> Path:
    datadir = tmp_path / "datadir"
    shutil.copytree(SAMPLE, datadir)
    return datadir / "regtest" / "blocks"


def reindex_damaged(datadir: Path, index: Path) -> Any:
    return cli("reindex", "--datadir", str(datadir), "--network", "regtest", "--index",
               str(index), "--pools", str(POOLS), "--labels", str(LABELS), ok=False)


def exported_hashes(index: Path) -> list[str]:
    return [row["hash"] for row in export_jsonl("blocks", "--index", str(index))]


def test_every_undo_record_of_the_clean_sample_belongs_to_a_stored_block() -> None:
    files = BlockFiles(SAMPLE / "regtest" / "blocks", MAGIC)
    assert find_active_chain(files, get_network("regtest")).damage == []
    stored: dict[int, list[tuple[bytes, bytes]]] = {}
    for item in files.scan():
        assert isinstance(item, Record)
        block_hash = hashlib.sha256(hashlib.sha256(item.header).digest()).digest()
        stored.setdefault(item.location.file_no, []).append((block_hash, item.header[4:36]))
    lost = find_lost_children(files.blocks_dir, MAGIC, None, stored, files.paths)
    assert lost.unverified == 0 and not lost.by_parent
    # with no block stored, no record verifies: 182 blocks above genesis and 4 stale ones
    none = find_lost_children(files.blocks_dir, MAGIC, None, {}, files.paths)
    assert none.unverified == 182 + 4 and not none.by_parent


def test_a_cut_newest_file_ending_on_the_stale_branch_ends_below_the_fork(
        tmp_path: Path, expected: Any) -> None:
    blocks = copy_sample(tmp_path)
    records = newest_records(blocks, expected)
    stale = [r for r in records if r[2] is None]
    assert len(stale) == 4  # the fixture's story
    cut = next(end for _start, end, height in records if height == FORK + 2)
    path = blocks / "blk00002.dat"
    path.write_bytes(path.read_bytes()[:cut])  # on a record boundary: no torn record says so
    result = reindex_damaged(tmp_path / "datadir", tmp_path / "index")
    assert result.exit_code == 1
    assert f"tip {FORK}" in result.stdout
    assert "damaged: rev00002.dat offset" in result.stderr
    assert f"the usable chain ends at height {FORK}" in result.stderr
    want = [row["hash"] for row in expected["blocks"][:FORK + 1]]
    assert exported_hashes(tmp_path / "index") == want


def test_a_zeroed_run_of_the_chains_blocks_beside_the_stale_branch_ends_below_the_fork(
        tmp_path: Path, expected: Any) -> None:
    blocks = copy_sample(tmp_path)
    records = newest_records(blocks, expected)
    start = next(s for s, _e, height in records if height == FORK + 1)
    end = next(e for _s, e, height in records if height == FORK + 2)
    path = blocks / "blk00002.dat"
    data = bytearray(path.read_bytes())
    data[start:end] = bytes(end - start)  # the chain's 175 and 176 gone; 177-182 left
    path.write_bytes(bytes(data))
    result = reindex_damaged(tmp_path / "datadir", tmp_path / "index")
    assert result.exit_code == 1
    assert f"tip {FORK}" in result.stdout
    assert f"the usable chain ends at height {FORK}" in result.stderr
    want = [row["hash"] for row in expected["blocks"][:FORK + 1]]
    assert exported_hashes(tmp_path / "index") == want


def test_a_lost_stale_block_leaves_the_chain_whole(tmp_path: Path, expected: Any) -> None:
    blocks = copy_sample(tmp_path)
    records = newest_records(blocks, expected)
    start, end, _height = [r for r in records if r[2] is None][1]  # the stale branch's second
    path = blocks / "blk00002.dat"
    data = bytearray(path.read_bytes())
    data[start:end] = bytes(end - start)
    path.write_bytes(bytes(data))
    result = reindex_damaged(tmp_path / "datadir", tmp_path / "index")
    assert result.exit_code == 0, result.output
    assert "tip 182" in result.stdout
    assert "a lost stale block" in result.stderr
    assert exported_hashes(tmp_path / "index") == [row["hash"] for row in expected["blocks"]]


def test_blocks_lost_above_the_tip_are_named(tmp_path: Path, expected: Any) -> None:
    blocks = copy_sample(tmp_path)
    records = newest_records(blocks, expected)
    cut = next(end for _start, end, height in records if height == 179)
    path = blocks / "blk00002.dat"
    path.write_bytes(path.read_bytes()[:cut])  # 180-182 were stored after 179
    result = reindex_damaged(tmp_path / "datadir", tmp_path / "index")
    assert "tip 179" in result.stdout
    assert "warning: rev00002.dat offset" in result.stderr
    assert "the undo record of a block at height 180, which no blk file holds" in result.stderr
    assert exported_hashes(tmp_path / "index") == [row["hash"] for row in
                                                  expected["blocks"][:180]]


def test_an_unreadable_rev_file_is_one_line(tmp_path: Path) -> None:
    blocks = copy_sample(tmp_path)
    (blocks / "rev00002.dat").unlink()
    (blocks / "rev00002.dat").mkdir()  # unreadable as a file, even for root
    result = reindex_damaged(tmp_path / "datadir", tmp_path / "index")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [f"Error: cannot read {blocks / 'rev00002.dat'} (Is a directory)"]
