"""The operator's Docker set-up: the compose file's structure, the minerflow command it runs
(parsed by our own CLI), the Dockerfile's stages and user, and `docker-compose config` (which
`.ci/run` installs) on the compose file."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from indexer.cli import main

ROOT = Path(__file__).parents[2]
DOCKER = ROOT / "docker"


@pytest.fixture(scope="module")
def compose() -> Any:
    return yaml.safe_load((DOCKER / "compose.yml").read_text())


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_minerflow_serves_and_follows_the_node_with_its_datadir_read_only(compose: Any) -> None:
    services = compose["services"]
    node, app = services["bitcoind"], services["minerflow"]
    args = app["command"]
    assert args[0] == "serve" and "--follow" in args
    # the command is one our CLI accepts, option by option
    context = main.commands["serve"].make_context("serve", list(args[1:]))
    assert context.params["follow"] and context.params["host"] == "0.0.0.0"
    datadir = option(args, "--datadir")
    index = option(args, "--index")
    mounts = {m.split(":")[1]: m.split(":") for m in app["volumes"]}
    assert mounts[datadir][2:] == ["ro"], "the node's datadir must be mounted read-only"
    assert mounts[index][2:] == [], "the index is written"
    node_mounts = {m.split(":")[0]: m.split(":")[1] for m in node["volumes"]}
    assert mounts[datadir][0] in node_mounts, "minerflow must see the node's own datadir"
    assert f"-datadir={node_mounts[mounts[datadir][0]]}" in node["command"]
    assert set(compose["volumes"]) >= {mounts[datadir][0], mounts[index][0]}
    # RPC, REST and ZMQ are wired to the node service's ports
    assert option(args, "--rpc-url") == "http://bitcoind:8332"
    zmq_port = option(args, "--zmq").rsplit(":", 1)[1]
    assert f"-zmqpubhashblock=tcp://0.0.0.0:{zmq_port}" in node["command"]
    assert "-rest=1" in node["command"] and "bitcoind" in app["depends_on"]
    # the API is published on the host's loopback only, and checked by the healthcheck
    assert app["ports"] == ["127.0.0.1:8000:8000"]
    assert "/healthz" in " ".join(app["healthcheck"]["test"])  # fails while following is dead
    assert node["user"] == "1000:1000"


def test_the_image_is_multi_stage_non_root_and_runs_minerflow() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert len(stages) >= 2
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert 'ENTRYPOINT ["minerflow"]' in text
    assert "C core not compiled" in text  # the build stage fails without the compiled core
    assert "/healthz" in text.split("HEALTHCHECK", 1)[1]
    for source in re.findall(r"^COPY\s+(?!--from)(\S+)", text, re.M):
        assert (ROOT / source).exists(), source


@pytest.mark.skipif(shutil.which("docker-compose") is None,
                    reason="docker-compose is not installed here (.ci/run installs Debian's)")
def test_docker_compose_accepts_the_file() -> None:
    tool = shutil.which("docker-compose")
    assert tool is not None
    result = subprocess.run([tool, "-f", str(DOCKER / "compose.yml"), "config"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert resolved["services"]["minerflow"]["build"]["dockerfile"].endswith("Dockerfile")
    assert resolved["services"]["bitcoind"]["image"] == "lncm/bitcoind:v28.0"


def test_the_readme_gives_the_three_commands() -> None:
    readme = (DOCKER / "README.md").read_text()
    commands = re.findall(r"^docker-compose .*$", readme, re.M)
    assert len(commands) == 3
    assert "up -d bitcoind" in commands[0] and "reindex" in commands[1]
    assert "up -d minerflow" in commands[2]
