"""`status` and `export` while `minerflow serve` holds the index: asked of the server (its
address recorded in the index directory), with the same output as offline, byte for byte;
commands that change the index are refused with what to do, the command itself included."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.store import serving
from tests.conftest import cli
from tests.integration.test_follow_faults import until
from tests.net import free_port

MINERFLOW = [sys.executable, "-c", "from indexer.cli import main; main()"]
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}


@pytest.fixture(scope="module")
def served(story_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of the story index held by a real `minerflow serve`."""
    index = tmp_path_factory.mktemp("served") / "index"
    shutil.copytree(story_index, index)
    port = free_port()
    server = subprocess.Popen([*MINERFLOW, "serve", "--index", str(index), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)

    def up() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return True
        except OSError:
            return False

    try:
        until(up, "the server")
        assert serving.read(index) == f"http://127.0.0.1:{port}"
        yield index
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert serving.read(index) is None and not (index / serving.SERVING).exists()


@pytest.mark.parametrize("args", [
    ("status",), ("status", "--json"),
    ("export", "blocks"), ("export", "blocks", "--format", "csv"),
    ("export", "series", "--entity", "foundryusa", "--level", "0", "--format", "csv"),
    ("export", "series", "--interval", "block", "--since", "100", "--until", "150"),
    ("export", "series", "--derived"),
    ("export", "network", "--pool", "antpool", "--interval", "week"),
    ("export", "network", "--interval", "month", "--format", "csv"),
])
def test_reads_while_serving_print_what_they_print_offline(served: Path, story_index: Path,
                                                           args: tuple[str, ...]) -> None:
    offline = cli(*args[:2], "--index", story_index, *args[2:]) if args[0] == "export" else \
        cli(*args, "--index", story_index)
    online = cli(*args[:2], "--index", served, *args[2:]) if args[0] == "export" else \
        cli(*args, "--index", served)
    assert online.stdout == offline.stdout and offline.stdout


def test_a_bad_export_while_serving_is_the_same_one_line(served: Path,
                                                         story_index: Path) -> None:
    for args in (("--entity", "nosuchpool"), ("--since", "2026-02-30")):
        offline = cli("export", "series", "--index", story_index, *args, ok=False)
        online = cli("export", "series", "--index", served, *args, ok=False)
        assert online.exit_code == offline.exit_code == 1
        assert online.output == offline.output


def test_an_export_to_parquet_while_serving(served: Path, story_index: Path,
                                            tmp_path: Path) -> None:
    import duckdb

    for index, out in ((story_index, tmp_path / "offline"), (served, tmp_path / "online")):
        cli("export", "series", "--index", index, "--interval", "block", "--format", "parquet",
            "--output", out)
    query = "select * from read_parquet('{}/**/*.parquet', hive_partitioning=1) order by height"
    assert duckdb.sql(query.format(tmp_path / "online")).fetchall() == duckdb.sql(
        query.format(tmp_path / "offline")).fetchall()


def test_a_write_while_serving_says_what_to_do(served: Path, tmp_path: Path) -> None:
    prices = tmp_path / "prices.csv"
    prices.write_text("date,close_usd\n2026-03-01,60000\n")
    result = subprocess.run([*MINERFLOW, "prices", "import", "--index", str(served),
                             str(prices)], capture_output=True, text=True, env=ENV)
    assert result.returncode == 1
    url = serving.read(served)
    assert result.stderr == (
        f"Error: index {served} is held by `minerflow serve` at {url}, and this command "
        f"changes it: stop the server, run `minerflow prices import --index {served} "
        f"{prices}`, then start the server again\n")
    status = json.loads(cli("status", "--index", served, "--json").stdout)
    assert status["prices"] == "none"
