"""The benchmark of the README's Performance section (same as `minerflow bench`).

    python scripts/bench.py [--quick] [--json]
"""

from __future__ import annotations

import sys

from indexer.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
