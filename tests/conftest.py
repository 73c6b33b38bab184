"""Shared paths and indexes built once per session from the real fixture chains."""

from __future__ import annotations

import atexit
import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from api.main import create_app
from indexer.cli import main, sample_dir
from indexer.store.db import Store
from indexer.store.leveldb import plyvel

# canonical label sets made once per test session (the bundled mainnet seeds take seconds),
# in a directory of the session's own rather than the user's cache; subprocesses inherit it
if "MINERFLOW_CACHE" not in os.environ:
    os.environ["MINERFLOW_CACHE"] = tempfile.mkdtemp(prefix="minerflow-test-cache-")
    atexit.register(shutil.rmtree, os.environ["MINERFLOW_CACHE"], True)

DATA = Path(__file__).parent / "data"
SAMPLE = sample_dir()
STORY = DATA / "regtest-story"
POOLS = SAMPLE / "pools.json"
LABELS = SAMPLE / "exchanges.csv"


def load_json(path: Path) -> Any:
    return json.loads(path.read_text())


def schedule_supply(height: int, interval: int = 150) -> int:
    """SPEC 5.2 read literally: Σ over heights 0..height of (50·10^8) >> halvings."""
    return sum((50 * 10**8) >> (h // interval) if h // interval < 64 else 0
               for h in range(height + 1))


AGE_FIELDS = ("to_exchange_age_days", "to_exchange_by_age")


def with_supply_share(rows: list[dict[str, Any]], blocks: list[dict[str, Any]],
                      entity: str | None = None, level: int = 1) -> list[dict[str, Any]]:
    """Daily miner rows of `expected.json` (SPEC 5) as they are served: with SPEC 5.2's
    `balance_share_of_supply`, the balance over the schedule's supply at the day's last block
    (carried over days without blocks), and `partial` on the tip's day, still open; from the
    blocks' heights and UTC days. With `entity`, also SPEC 5.3's fields of that entity and
    level, from `expected-exchanges.json`'s independent computation on the story chain."""
    last: dict[str, int] = {}
    for block in blocks:
        day = dt.datetime.fromtimestamp(block["time"], dt.UTC).date().isoformat()
        last[day] = max(last.get(day, 0), block["height"])
    carried = 0
    out = []
    for row in rows:
        carried = last.get(row["day"], carried)
        out.append({**row, "balance_share_of_supply": row["balance"] / schedule_supply(carried),
                    **(story_ages(entity, level, row["day"]) if entity else {}),
                    "partial": row["day"] == max(last)})
    return out


def story_ages(entity: str, level: int, day: str) -> dict[str, Any]:
    """SPEC 5.3's fields of an entity's day on the story chain (expected-exchanges.json)."""
    rows = load_json(STORY / "expected-exchanges.json")["miner_daily"][entity][f"level{level}"]
    row = next(r for r in rows if r["day"] == day)
    return {field: row[field] for field in AGE_FIELDS}


def without_ages(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in AGE_FIELDS} for row in rows]


def cli(*args: str, ok: bool = True) -> Any:
    """Run the `minerflow` command in-process; returns click's result."""
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def dump(index: Path) -> dict[bytes, bytes]:
    """Every key and value of an index, read with plyvel directly."""
    db = plyvel.DB(str(index))
    try:
        return dict(db.iterator())
    finally:
        db.close()


def reindex_regtest(datadir: Path, index: Path, *extra: str) -> Any:
    return cli("reindex", "--datadir", datadir, "--network", "regtest", "--index", index,
               "--pools", POOLS, "--labels", LABELS, *extra)


def export_jsonl(*args: str) -> list[dict[str, Any]]:
    result = cli("export", *args)
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="session")
def expected() -> Any:
    return load_json(STORY / "expected.json")


@pytest.fixture(scope="module")
def client(story_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The API over a copy of the story index, owned by the app as `minerflow serve` owns it
    (the CLI goes on reading the original)."""
    copy = tmp_path_factory.mktemp("api") / "index"
    shutil.copytree(story_index, copy)
    store = Store(copy)
    with TestClient(create_app(store)) as test_client:
        yield test_client
    store.close()


@pytest.fixture(scope="session")
def story_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled regtest-story chain, indexed once for the session (read-only use)."""
    index = tmp_path_factory.mktemp("story") / "index"
    reindex_regtest(SAMPLE, index)
    return index
