"""The benchmark of the README's Performance section.

    python scripts/bench.py [--quick] [--json] [--flagged-share F] [--blocks-dir DIR]

Run from a checkout after `pip install .` (or an editable install): the benchmark kit lives in
scripts/benchkit, and the parse corpus comes from the checkout's tests/data/mainnet/blocks
unless --blocks-dir says otherwise.
"""

from __future__ import annotations

from benchkit.cli import bench

if __name__ == "__main__":
    bench()
