"""`python -m indexer` runs the `minerflow` command."""

from indexer.cli import main

main(prog_name="minerflow")
