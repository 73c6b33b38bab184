"""Every fuzz target under hypothesis with a fixed budget, and the kept corpus replayed.

The targets (`tests/fuzz/targets.py`) compare the compiled core with its Python reference, or
check that a reader of outside input returns a result or its typed error. Inputs are mutated
real data (`seeds.py`, `mutate.py`) plus raw random bytes. Inputs that ever failed are kept in
`tests/data/fuzz-corpus/<target>/` and replayed here forever. The long runs live in
`scripts/fuzz.py` (figures in docs/reliability.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.mutate import KINDS, mutate
from tests.fuzz.seeds import seeds
from tests.fuzz.targets import TARGETS

CORPUS = Path(__file__).parent.parent / "data" / "fuzz-corpus"
BUDGET = {"blk_reader": 60, "rev_reader": 60, "pools": 60, "labels": 60, "conf": 60,
          "cookie": 40}

mutations = st.lists(st.tuples(st.integers(0, KINDS - 1), st.integers(0, 1 << 20),
                               st.integers(0, 255)), max_size=6)


def inputs(target: str) -> st.SearchStrategy[bytes]:
    mutated = st.builds(mutate, st.sampled_from(seeds(target)), mutations)
    return st.one_of(mutated, mutated, st.binary(max_size=400))


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_target_holds_on_mutated_real_inputs(target: str) -> None:
    @settings(max_examples=BUDGET.get(target, 150), deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck), database=None)
    @given(inputs(target))
    def run(raw: bytes) -> None:
        TARGETS[target](raw)

    run()


def corpus() -> list[tuple[str, Path]]:
    return [(path.parent.name, path) for path in sorted(CORPUS.glob("*/*")) if path.is_file()]


@pytest.mark.parametrize("target,path", corpus(), ids=lambda v: getattr(v, "name", v))
def test_corpus_input_holds(target: str, path: Path) -> None:
    TARGETS[target](path.read_bytes())


def test_the_corpus_is_there() -> None:
    names = {target for target, _path in corpus()}
    assert {"scan_block", "parse_block_undo", "filter"} <= names
