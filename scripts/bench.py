"""The benchmark of the README's Performance section (same as `minerflow bench`).

    python scripts/bench.py [--quick] [--json] [--flagged-share F]

Run from a checkout after `pip install .` (or an editable install): the parse corpus comes from
the checkout's tests/data/mainnet/blocks unless --blocks-dir says otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

from indexer.cli import main

BLOCKS = Path(__file__).resolve().parents[1] / "tests" / "data" / "mainnet" / "blocks"

if __name__ == "__main__":
    args = sys.argv[1:]
    if not any(a == "--blocks-dir" or a.startswith("--blocks-dir=") for a in args):
        args += ["--blocks-dir", str(BLOCKS)]
    sys.exit(main(["bench", *args]))
