"""Input from strangers: out-of-range numbers, formula text, damaged or future indexes.

Each case is one a hostile or unlucky user tried: the answer is a 404/422 or one line and a
non-zero exit, never a 500, a traceback or silently wrong data.
"""

from __future__ import annotations

import csv
import io
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from indexer.errors import StoreError
from indexer.store import keys
from indexer.store.db import Store
from indexer.store.leveldb import plyvel
from tests.conftest import LABELS, SAMPLE, cli, dump, load_json

FORMULAS = ("=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)")


@pytest.mark.parametrize("url,status", [
    ("/v1/blocks/99999999999", 404),  # beyond a u32 key
    ("/v1/blocks/4294967296", 404),
    ("/v1/blocks/183", 404),  # one above the tip
    ("/v1/blocks/%C2%B2", 404),  # '²' is a digit to str.isdigit, not a height
    ("/v1/pools/foundryusa/blocks?cursor=99999999999", 200),
    ("/v1/pools/foundryusa/blocks?cursor=-1", 422),
    ("/v1/miners/series?entity=all&level=0&since=99999999999", 200),
    ("/v1/miners/series?entity=all&level=0&since=%C2%B2", 422),
])
def test_out_of_range_numbers_are_a_4xx_or_an_empty_answer(client: TestClient, url: str,
                                                           status: int) -> None:
    response = client.get(url)
    assert response.status_code == status, response.text


def test_a_cursor_beyond_every_height_starts_from_the_newest(client: TestClient) -> None:
    first = client.get("/v1/pools/foundryusa/blocks?limit=3").json()
    beyond = client.get("/v1/pools/foundryusa/blocks?limit=3&cursor=99999999999").json()
    assert beyond["data"] == first["data"] and first["count"] == 3


def test_export_since_beyond_every_height_is_empty(story_index: Path) -> None:
    result = cli("export", "series", "--index", story_index, "--entity", "all", "--level", "0",
                 "--interval", "block", "--since", "99999999999", "--format", "csv")
    assert result.stdout.strip() == ""


def test_csv_cells_from_strangers_cannot_run_as_formulas(tmp_path: Path) -> None:
    pools = load_json(SAMPLE / "pools.json")
    for pool, name in zip(pools, FORMULAS, strict=False):
        pool["name"] = name
    hostile = tmp_path / "pools.json"
    hostile.write_text(json.dumps(pools))
    index = tmp_path / "index"
    cli("reindex", "--datadir", SAMPLE, "--network", "regtest", "--index", index, "--pools",
        hostile, "--labels", LABELS)
    out = cli("export", "blocks", "--index", index, "--format", "csv").stdout
    cells = [cell for row in csv.reader(io.StringIO(out)) for cell in row]
    assert cells, "no rows exported"
    assert not [c for c in cells if c[:1] in ("=", "+", "@") or c.startswith("-2")]
    assert any(c.startswith("'=HYPERLINK") for c in cells)


@pytest.mark.parametrize("found", [1, 99])  # format 1 lacks the per-day totals
def test_an_index_of_another_format_is_refused_in_one_line(story_index: Path, tmp_path: Path,
                                                           found: int) -> None:
    copy = tmp_path / "index"
    shutil.copytree(story_index, copy)
    with Store(copy) as store:
        state = json.loads(store.get(keys.STATE) or b"{}")
        state.update(format=found, a_field_from_the_future=[1, 2])
        store.db.put(keys.STATE, json.dumps(state).encode())
    result = cli("status", "--index", copy, ok=False)
    assert result.exit_code == 1
    assert result.output.strip() == (f"Error: index {copy} has format {found}, this minerflow "
                                     f"reads format {keys.FORMAT_VERSION}: re-index required")


def test_a_damaged_table_file_is_one_line_never_wrong_data(story_index: Path,
                                                           tmp_path: Path) -> None:
    copy = tmp_path / "index"
    shutil.copytree(story_index, copy)
    with Store(copy) as store:  # push everything into table files
        store.db.compact_range()
    tables = sorted(copy.glob("*.ldb"), key=lambda p: p.stat().st_size)
    assert tables
    table = tables[-1]
    data = bytearray(table.read_bytes())
    for at in (len(data) // 3, len(data) // 2):
        data[at] ^= 0x41
    table.write_bytes(bytes(data))
    clean = cli("export", "blocks", "--index", story_index, "--format", "jsonl").stdout
    # Every key read back: the flipped block of the table fails its checksum, never passes.
    with pytest.raises(StoreError, match="is damaged"):
        with Store(copy) as store:
            for _key, _value in store.scan(b""):
                pass
    result = cli("export", "blocks", "--index", copy, "--format", "jsonl", ok=False)
    if result.exit_code == 0:  # the damaged table block holds no block record
        assert result.stdout == clean
    else:
        assert result.exit_code == 1
        assert result.output.strip().splitlines()[-1].startswith(f"Error: index {copy}")
        assert "damaged" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("prefix,size", [(keys.COIN, 15), (keys.MEMBER, 3)])
def test_a_damaged_coin_or_membership_is_named_as_the_index_s_damage(
        tmp_path: Path, prefix: bytes, size: int) -> None:
    """Values of the wrong size under tracked coins or cohort scripts, met when a later block
    spends or pays them: one line naming the index (not the block files, whose repair would not
    help), and the index stays at its tip."""
    index = tmp_path / "index"
    lists = ("--pools", SAMPLE / "pools.json", "--labels", LABELS)
    cli("reindex", "--datadir", SAMPLE, "--network", "regtest", "--index", index, *lists)
    cli("rollback", "--index", index, "--to", "60")
    db = plyvel.DB(str(index))
    for key, value in db.iterator(prefix=prefix):
        db.put(key, value[:2] if len(value) != 2 else value[:1])
    db.close()
    result = cli("reindex", "--datadir", SAMPLE, "--network", "regtest", "--index", index,
                 *lists, ok=False)
    assert result.exit_code == 1
    last = result.output.strip().splitlines()[-1]
    assert last.startswith(f"Error: index {index} is damaged (the value of key "), last
    assert f"bytes, not {size})" in last and "block files" not in result.output
    with Store(index) as store:
        assert store.require_state().tip_height == 60


def test_a_full_disk_is_one_line_and_the_index_resumes_exactly(story_index: Path,
                                                               tmp_path: Path) -> None:
    """The index on a 256 KiB tmpfs (the whole index needs about twice that): the pass stops
    with one line at a flushed block, and the same index, moved to a roomy disk, resumes to
    an identical one. Where mounting is not allowed, RLIMIT_FSIZE makes writes fail the same
    way (EFBIG instead of ENOSPC)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)],
                             capture_output=True).returncode == 0

    def limit_file_size() -> None:  # only when no tmpfs could be mounted
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))

    index = disk / "index"
    try:
        run = subprocess.run(
            [sys.executable, "-m", "indexer", "reindex", "--datadir", str(SAMPLE), "--network",
             "regtest", "--index", str(index), "--pools", str(SAMPLE / "pools.json"),
             "--labels", str(LABELS), "--flush-every", "1"],
            capture_output=True, text=True, timeout=300,
            preexec_fn=None if mounted else limit_file_size,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
        moved = tmp_path / "moved"
        shutil.copytree(index, moved)
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], check=True)
    assert run.returncode == 1, run.stdout + run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith(f"Error: index {index}: cannot write (IO error: ")
    assert "Traceback" not in run.stderr
    assert "No space left on device" in last or "File too large" in last
    with Store(moved) as store:
        stopped_at = store.require_state().tip_height
        assert last.endswith(f"the index stays at height {stopped_at}")
        assert 0 < stopped_at < 182
        raw = store.get(keys.block_key(stopped_at))
        assert raw is not None and store.get(keys.block_key(stopped_at + 1)) is None
    cli("reindex", "--datadir", SAMPLE, "--network", "regtest", "--index", moved, "--pools",
        SAMPLE / "pools.json", "--labels", LABELS)
    assert dump(moved) == dump(story_index)


def test_a_truncated_table_file_is_one_line(story_index: Path, tmp_path: Path) -> None:
    copy = tmp_path / "index"
    shutil.copytree(story_index, copy)
    with Store(copy) as store:
        store.db.compact_range()
    table = max(copy.glob("*.ldb"), key=lambda p: p.stat().st_size)
    table.write_bytes(table.read_bytes()[: table.stat().st_size // 2])
    result = cli("export", "blocks", "--index", copy, ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: index {copy}")


def test_a_coinbase_paying_beyond_all_bitcoin_is_refused_naming_the_block(tmp_path: Path) -> None:
    """A block from a stranger whose coinbase pays more than 21M BTC: one ParseError naming the
    block, before anything is written."""
    from indexer.apply import BlockApplier, BlockMeta
    from indexer.attribution.pools import compile_pools, load_pools
    from indexer.config import get_network
    from indexer.errors import ParseError
    from indexer.parse.deserializer import open_block
    from indexer.pipeline import BlockFileSource, open_for_writing
    from indexer.store.batch import WriteBuffer
    from tests.labelsets import load_labels

    regtest = get_network("regtest")
    pools, labels = load_pools(SAMPLE / "pools.json"), load_labels(LABELS, regtest)
    source = BlockFileSource(SAMPLE / "regtest" / "blocks", regtest)
    first = source.chain().blocks[1]
    data = source.read(first)
    paid = open_block(data).coinbase.outputs[0].value
    at = data.index(paid.to_bytes(8, "little"), 81)
    forged = data[:at] + (21_000_000 * 10**8 + 1).to_bytes(8, "little") + data[at + 8:]
    block = open_block(forged)
    store = open_for_writing(tmp_path / "index", regtest, pools, labels)
    try:
        buffer = WriteBuffer(store, 288)
        applier = BlockApplier(store, buffer, compile_pools(pools, regtest))
        with pytest.raises(ParseError, match=f"block {block.header.hash_rev[::-1].hex()}: the "
                                             f"coinbase pays a value outside"):
            applier.apply(BlockMeta(1, first.hash_rev, first.chain_time), block, lambda i: [],
                          lambda scripts: {})
        assert not buffer.overlay
    finally:
        store.close()
