"""Make the bundled mainnet seeds again from a checkout of graphsense/graphsense-tagpacks.

    pip install pyyaml
    git clone https://github.com/graphsense/graphsense-tagpacks /tmp/tagpacks
    python scripts/refresh_seeds.py /tmp/tagpacks [--out indexer/data/labels]

Reads every TagPack (`packs/**/*.yaml`: a header whose fields each tag inherits, and `tags`)
and the ActorPacks (`actors/*.yaml`), keeps the Bitcoin tags (currency BTC) of the categories
that matter here (`exchange`, and as sentinels against false merges `miner`, `coinjoin`,
`mixing_service`, `wallet_service`, `service`, `market`, `gambling`), and writes:

- `mainnet-seeds.1.csv.gz` to `.3.csv.gz`: `address,entity,category,pack,source` (the header in
  the first), one row an address (its first tag in pack order), `entity` the tag's actor's
  display name, else its label, and `source` only where the tag's own differs from its pack's;
  three gzip members of one file, each under 5 MB, which minerflow joins at first use;
- `packs.csv`: each pack's title, confidence, date and source;
- `LICENSE-graphsense-tagpacks.txt`: the checkout's license, kept beside the data.

Data only: nothing of the packs' code is used. The output is deterministic (sorted packs, a
fixed gzip timestamp), so a refresh that changes nothing changes no byte.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import shutil
from pathlib import Path
from typing import Any

PARTS = 3  # files of under 5 MB each; gzip members of one file, in order
KEPT = ("exchange", "miner", "coinjoin", "mixing_service", "wallet_service", "service", "market",
        "gambling")


def load_yaml(path: Path) -> Any:
    try:
        import yaml  # type: ignore[import-untyped]  # noqa: PLC0415 - a maintainer's tool
    except ImportError:
        raise SystemExit("refresh_seeds.py needs PyYAML: pip install pyyaml") from None
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def actor_names(checkout: Path) -> dict[str, str]:
    """Actor id -> display name, from every ActorPack."""
    names: dict[str, str] = {}
    for path in sorted((checkout / "actors").glob("*.yaml")):
        for actor in (load_yaml(path) or {}).get("actors", []) or []:
            if isinstance(actor, dict) and actor.get("id") and actor.get("label"):
                names.setdefault(str(actor["id"]), str(actor["label"]))
    return names


def pack_rows(checkout: Path, path: Path, actors: dict[str, str],
              packs: list[list[str]]) -> list[list[str]]:
    pack = load_yaml(path) or {}
    name = path.relative_to(checkout).as_posix()
    header = {k: v for k, v in pack.items() if k != "tags"}
    packs.append([name, str(header.get("title", "")), str(header.get("confidence", "")),
                  str(header.get("lastmod", "")), str(header.get("source", ""))])
    rows = []
    for tag in pack.get("tags", []) or []:
        fields = {**header, **tag}
        if str(fields.get("currency", "")).upper() != "BTC":
            continue
        category = str(fields.get("category", "")).strip()
        if category not in KEPT or not fields.get("address"):
            continue
        actor = fields.get("actor")
        entity = actors.get(str(actor), "") if actor else ""
        entity = entity or str(fields.get("label", "")).strip()
        if not entity:
            continue
        own = str(tag.get("source", "")) if tag.get("source") != header.get("source") else ""
        rows.append([str(fields["address"]).strip(), entity, category, name, own])
    return rows


def refresh(checkout: Path, out: Path) -> int:
    """Write the three files; the rows written."""
    actors = actor_names(checkout)
    packs: list[list[str]] = []
    seen: set[str] = set()
    rows: list[list[str]] = []
    for path in sorted((checkout / "packs").rglob("*.yaml")):
        for row in pack_rows(checkout, path, actors, packs):
            if row[0] not in seen:
                seen.add(row[0])
                rows.append(row)
    out.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["address", "entity", "category", "pack", "source"])
    writer.writerows(rows)
    for stale in out.glob("mainnet-seeds.*.csv.gz"):
        stale.unlink()
    lines = text.getvalue().splitlines(keepends=True)
    per_part = -(-len(lines) // PARTS)
    for k in range(PARTS):
        with (out / f"mainnet-seeds.{k + 1}.csv.gz").open("wb") as raw, gzip.GzipFile(
                fileobj=raw, mode="wb", mtime=0, compresslevel=9) as gz:
            gz.write("".join(lines[k * per_part:(k + 1) * per_part]).encode())
    with (out / "packs.csv").open("w", encoding="utf-8", newline="") as f:
        packs_writer = csv.writer(f, lineterminator="\n")
        packs_writer.writerow(["pack", "title", "confidence", "lastmod", "source"])
        packs_writer.writerows(packs)
    license_file = checkout / "LICENSE"
    if license_file.exists():
        shutil.copyfile(license_file, out / "LICENSE-graphsense-tagpacks.txt")
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", type=Path, help="A graphsense-tagpacks checkout.")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent.parent / "indexer" / "data"
                        / "labels")
    args = parser.parse_args()
    print(f"{refresh(args.checkout, args.out)} rows written to {args.out}")


if __name__ == "__main__":
    main()
