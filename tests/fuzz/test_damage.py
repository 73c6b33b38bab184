"""Damaged block files never give a silently wrong index (a bounded run of the campaign).

Each seed damages a copy of the sample datadir in one way (flip, zero, truncate, duplicate,
reorder; blk and rev files) and reindexes it; `tests/fuzz/damage.py` judges the run against
digests of clean indexes at every height. `scripts/mutate_blocks.py` runs the same campaign
over thousands of seeds (figures in docs/reliability.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.fuzz.damage import GOOD, KINDS, judge, prepare

SEEDS = range(150)


@pytest.mark.slow
def test_no_mutated_datadir_gives_a_silently_wrong_index(tmp_path: Path) -> None:
    clean = prepare(tmp_path)
    verdicts = [judge(clean, tmp_path, seed) for seed in SEEDS]
    failures = [v for v in verdicts if v["verdict"] not in GOOD]
    assert failures == []
    seen = Counter((v["kind"], v["verdict"]) for v in verdicts)
    # the campaign exercises both outcomes: damage that ends the chain, damage that does not
    assert {kind for kind, _verdict in seen} == set(KINDS)
    assert seen[("truncate", "cut")] > 0 and seen[("flip", "cut")] > 0
    assert seen[("reorder", "whole")] > 0 and seen[("duplicate", "whole")] > 0


@pytest.mark.slow
def test_the_reference_core_gives_the_same_index_on_every_mutated_datadir() -> None:
    script = Path(__file__).resolve().parents[2] / "scripts" / "mutate_blocks.py"
    done = subprocess.run([sys.executable, str(script), "--runs", "40", "--first-seed", "700",
                           "--jobs", "2", "--reference"], capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["core"] == "compiled" and result["runs"] == 40
    assert result["reference_disagreements"] == [] and result["failures"] == []
    assert done.returncode == 0, done.stderr
    # the seeds damage something: some runs end short, and both cores agree on where
    assert sum(n for kind, n in result["counts"].items() if kind.endswith(":cut")) > 0
