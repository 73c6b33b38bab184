"""`python scripts/bench.py`: the throughput figures of the README's Performance section."""

from __future__ import annotations

from pathlib import Path

import click

from indexer.cli.common import one_line_errors

REPO_BLOCKS = Path(__file__).resolve().parents[2] / "tests" / "data" / "mainnet" / "blocks"


@click.command()
@click.option("--quick", is_flag=True, help="Small corpora, fewer runs: under a minute.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the figures as one JSON line (the table goes to stderr).")
@click.option("--blocks-dir", type=click.Path(path_type=Path, file_okay=False),
              default=REPO_BLOCKS, show_default=True,
              help="Mainnet blocks (HEIGHT-HASH.bin) for the parse corpus.")
@click.option("--workdir", type=click.Path(path_type=Path, file_okay=False, exists=True),
              help="Where the temporary corpora go (default: the system's temp dir).")
@click.option("--flagged-share", type=click.FloatRange(0.0, 1.0),
              help="Measure end to end on one chain at about this share of transactions that "
              "touch miner coins (default: the default mix, about 10% and about 30%).")
@one_line_errors
def bench(quick: bool, as_json: bool, blocks_dir: Path, workdir: Path | None,
          flagged_share: float | None) -> None:
    """Measure parse and end-to-end throughput on corpora built from the repository's data.

    Example: python scripts/bench.py --quick --json --flagged-share 0.3
    """
    from .run import FULL, QUICK, dumps, run_bench, service_share_for, table

    if flagged_share is not None:
        service_share_for(flagged_share)  # out of the calibrated range: say so before measuring

    if not blocks_dir.is_dir():
        raise click.ClickException(f"{blocks_dir}: no such directory (run from a checkout, or "
                                   f"give --blocks-dir)")
    result = run_bench(QUICK if quick else FULL, blocks_dir, workdir,
                       say=lambda line: click.echo(line, err=True), flagged_share=flagged_share)
    if as_json:  # the table for people on stderr, one JSON line for programs on stdout
        click.echo(table(result), err=True)
        click.echo(dumps(result))
    else:
        click.echo(table(result))
