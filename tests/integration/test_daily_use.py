"""Daily use by an operator: an export to a path that cannot be written is one line; Ctrl-C
during `reindex` keeps what was applied, says where it stopped, and a rerun resumes to the
same index; a mistyped --datadir never replaces an index's chain; the demo leaves nothing
behind; a port in use is said before anything is served."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from indexer.store import generations
from tests.conftest import LABELS, POOLS, SAMPLE, cli, dump, reindex_regtest
from tests.integration.test_follow_faults import until

MINERFLOW = [sys.executable, "-c", "from indexer.cli import main; main()"]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_an_export_to_an_unwritable_path_is_one_line(story_index: Path, tmp_path: Path,
                                                     fmt: str) -> None:
    missing = tmp_path / "no-such-dir" / "out"
    if fmt != "parquet":  # (parquet writes a new directory, its parents made as needed)
        result = cli("export", "blocks", "--index", story_index, "--format", fmt, "--output",
                     missing, ok=False)
        assert result.output == (f"Error: --output {missing}: cannot write (its directory "
                                 f"{missing.parent} does not exist)\n")
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    inside = a_file / "out"  # a path through a file: not a directory
    result = cli("export", "series", "--index", story_index, "--format", fmt, "--output",
                 inside, ok=False)
    assert result.exit_code == 1 and result.output.startswith(f"Error: --output {inside}: ")
    assert len(result.output.splitlines()) == 1 and "Traceback" not in result.output


def test_ctrl_c_in_reindex_keeps_what_was_applied_and_resumes(story_index: Path,
                                                              tmp_path: Path) -> None:
    index = tmp_path / "index"
    run = subprocess.Popen(
        [*MINERFLOW, "reindex", "--datadir", str(SAMPLE), "--network", "regtest", "--index",
         str(index), "--pools", str(POOLS), "--labels", str(LABELS), "--flush-every", "10",
         "--throttle", "0.02"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    try:
        until(lambda: (generations.read_tip(index) or 0) >= 30, "some blocks flushed")
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, err
    stopped = [line for line in err.splitlines() if "stopped on SIGINT" in line]
    assert len(stopped) == 1, err
    height = int(stopped[0].split("the index is at height ")[1].split(":")[0])
    assert stopped[0].endswith(": run the same command again to resume")
    assert 30 <= height < 182 and f"tip {height} " in out
    assert generations.read_tip(index) == height
    resumed = reindex_regtest(SAMPLE, index)
    assert f"indexed {182 - height} block(s)" in resumed.stdout
    assert dump(index) == dump(story_index)


def test_a_mistyped_datadir_never_replaces_the_chain(story_index: Path, tmp_path: Path) -> None:
    from scripts.benchkit.chainmaker import make_thin_chain

    index = tmp_path / "index"
    cli("reindex", "--datadir", SAMPLE, "--network", "regtest", "--index", index, "--pools",
        POOLS, "--labels", LABELS)
    other = tmp_path / "other"  # another regtest chain: the same genesis, other blocks
    make_thin_chain(other, 40)
    tip = dump(index)
    result = cli("reindex", "--datadir", other, "--network", "regtest", "--index", index,
                 "--pools", POOLS, "--labels", LABELS, ok=False)
    state_hash = [line for line in cli("status", "--index", index).stdout.splitlines()
                  if line.startswith("tip_hash")][0].split()[1]
    assert result.output == (
        f"Error: the block files of {other / 'regtest' / 'blocks'} do not hold the index's "
        f"tip, block {state_hash} (height 182): they are another chain's; give the datadir "
        f"this index was built from, or a new --index\n")
    assert dump(index) == tip == dump(story_index)


def test_the_demo_removes_its_temporary_index(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path),
           "PYTHONPATH": str(Path(__file__).parents[2])}
    result = subprocess.run([*MINERFLOW, "demo", "--no-serve"], capture_output=True,
                            text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "indexed 183 block(s)" in result.stdout
    assert "removed on exit" in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing left in the temporary directory
    assert tempfile.gettempdir() != str(tmp_path)  # (the test's own process is untouched)


def test_a_port_in_use_is_one_line_before_serving(story_index: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", "--index", story_index, "--port", port, ok=False)
    assert result.output.startswith(f"Error: cannot listen on 127.0.0.1:{port} (")
    assert result.output.endswith("choose another --port\n")
    assert "serving" not in result.output and len(result.output.splitlines()) == 1
