"""Label sets for tests: a labels file made canonical once per file and process, in a
directory removed when the test process ends."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from indexer.config import Network
from indexer.labels.labelset import LabelSet, prepare

_DIR = Path(tempfile.mkdtemp(prefix="minerflow-test-labels-"))
atexit.register(shutil.rmtree, _DIR, True)
_MADE: dict[tuple[Path, str], LabelSet] = {}


def load_labels(path: Path, network: Network) -> LabelSet:
    """The canonical label set of `path` (LabelsError for a malformed file)."""
    key = (Path(path).resolve(), network.name)
    if key not in _MADE:
        _MADE[key] = prepare(Path(path), network, _DIR)
    return _MADE[key]
