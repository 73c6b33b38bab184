"""The saved membership filters: a restart loads them when they describe the index as it is,
and indexes exactly as a run that scanned; any file that does not match (another tip, flipped
bits, cut short, a foreign header) is set aside for a scan, never trusted."""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import pytest

from indexer import fastpath
from indexer.attribution.pools import load_pools
from indexer.config import get_network
from indexer.fingerprints import CHUNK_SLOTS, FILE, HEADER_MAX, read_tables, save_tables
from indexer.pipeline import BlockFileSource, open_for_writing, reindex
from scripts.benchkit.chainmaker import make_chain
from tests.integration.test_chainmaker import index_items
from tests.labelsets import load_labels

REGTEST = get_network("regtest")


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("chain")
    make_chain(out, blocks=40, txs_per_block=200, seed=4, service_share=0.1)
    return out


def index_to(chain: Path, index: Path, height: int | None = None) -> None:
    pools, labels = load_pools(chain / "pools.json"), load_labels(chain / "exchanges.csv",
                                                                  REGTEST)
    store = open_for_writing(index, REGTEST, pools, labels)
    try:
        reindex(store, BlockFileSource(chain / "regtest" / "blocks", REGTEST), pools, labels,
                stop_height=height)
    finally:
        store.close()


def how_built(caplog: pytest.LogCaptureFixture) -> list[str]:
    return ["loaded" if " loaded in " in r.getMessage() else "scan" for r in caplog.records
            if r.name == "indexer.fingerprints" and r.getMessage().startswith("fingerprints of")]


@pytest.fixture(scope="module")
def fresh(chain: Path, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[bytes, bytes]]:
    index = tmp_path_factory.mktemp("fresh") / "index"
    index_to(chain, index)
    return index_items(index)


def test_a_restart_loads_the_saved_filters_and_indexes_the_same(
        chain: Path, tmp_path: Path, fresh: list[tuple[bytes, bytes]],
        caplog: pytest.LogCaptureFixture) -> None:
    index = tmp_path / "index"
    index_to(chain, index, height=20)
    header = json.loads((index / FILE).read_bytes()[:HEADER_MAX])
    assert header["tip_height"] == 20 and header["coins"]["count"] > 100
    with caplog.at_level(logging.INFO, logger="indexer.fingerprints"):
        index_to(chain, index)
    assert how_built(caplog) == ["loaded"]
    assert index_items(index) == fresh
    assert json.loads((index / FILE).read_bytes()[:HEADER_MAX])["tip_height"] == 40


def flip_a_slot_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[HEADER_MAX + (len(data) - HEADER_MAX) // 2] ^= 0x40
    path.write_bytes(bytes(data))


DAMAGE = {
    "another tip": lambda path: path.write_bytes(path.read_bytes().replace(
        b'"tip_height": 20', b'"tip_height": 19')),
    "a flipped slot": flip_a_slot_byte,
    "cut short": lambda path: path.write_bytes(path.read_bytes()[:-4096]),
    "a foreign header": lambda path: path.write_bytes(b"not json" + path.read_bytes()[8:]),
    "a fewer count": lambda path: path.write_bytes(path.read_bytes().replace(
        b'"count": ', b'"count": 1', 1)),
    "empty": lambda path: path.write_bytes(b""),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_file_that_does_not_match_is_set_aside_for_a_scan(
        chain: Path, tmp_path: Path, fresh: list[tuple[bytes, bytes]], damage: str,
        caplog: pytest.LogCaptureFixture) -> None:
    index = tmp_path / "index"
    index_to(chain, index, height=20)
    DAMAGE[damage](index / FILE)
    with caplog.at_level(logging.INFO, logger="indexer.fingerprints"):
        index_to(chain, index)
    assert how_built(caplog) == ["scan"]
    assert any("not used" in r.getMessage() for r in caplog.records)
    assert index_items(index) == fresh


def test_tables_of_many_chunks_are_saved_and_read_back_slot_for_slot(tmp_path: Path) -> None:
    """A table is written and read in chunks of CHUNK_SLOTS slots, never copied whole: one of
    several chunks (fingerprint 0 included) comes back with the same slots, and a flipped
    byte in a later chunk fails the checksum."""
    rng = random.Random(6)
    table = fastpath.Filter()
    for _ in range(CHUNK_SLOTS * 2):
        table.add(rng.getrandbits(64))
    table.add(0)
    assert table.capacity > CHUNK_SLOTS * 3
    path = tmp_path / "tables.bin"
    save_tables(path, {"what": "test"}, [("t", table)])
    (back,) = read_tables(path, ("t",), lambda header: None)
    assert len(back) == len(table) and 0 in back
    assert back.slots(0, back.capacity) == table.slots(0, table.capacity)
    data = bytearray(path.read_bytes())
    data[HEADER_MAX + 8 * CHUNK_SLOTS * 2 + 5] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError):
        read_tables(path, ("t",), lambda header: None)
