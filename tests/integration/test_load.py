"""Bounded load on a served index (scripts/load.py, in its own process against `minerflow serve`
on a loopback port): 50 concurrent clients for 30 s on the series and pool endpoints answer
without one error, and the server's memory does not grow once warm."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


@pytest.mark.slow
def test_fifty_clients_for_thirty_seconds(story_index: Path) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "load.py"), "--index",
                             str(story_index), "--clients", "50", "--seconds", "30", "--json"],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    print(figures)
    assert figures["errors"] == 0, figures["first_errors"]
    assert figures["requests"] > 50
    growth = figures["rss_after_mib"] - figures["rss_warm_mib"]
    assert growth < max(8.0, 0.1 * figures["rss_warm_mib"]), figures
