"""The `minerflow` command: thin click shells over the library.

Settings are built once per command and passed down; domain errors become one line and exit
status 1 at this edge, never a traceback for a user's mistake.
"""

from indexer.cli import data, index, labels, serve  # noqa: F401 - registers the commands
from indexer.cli.common import main
from indexer.cli.serve import sample_dir

__all__ = ["main", "sample_dir"]
