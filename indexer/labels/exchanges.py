"""The exchanges of a label set as series entities (SPEC 5.1): ids 1..N in the order of each
exchange's first row in the imported file, and slugs by section 4's rule in their own
namespace (a pool may share one); `all` is the entity over every exchange's scripts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from indexer.attribution.pools import ALL_SLUG, UNKNOWN_SLUG, slugify
from indexer.errors import LabelsError
from indexer.store import keys

ALL_EXCHANGES_NAME = "All exchanges"


@dataclass(frozen=True, slots=True)
class Exchange:
    id: int  # keys.ALL_ENTITY for `all`
    name: str  # the labels' entity text, verbatim
    slug: str
    scripts: int  # scripts the label set holds for it (every exchange's for `all`)


def exchanges_of(summary: dict[str, Any]) -> list[Exchange]:
    """The exchanges of a label set's summary in id order, `all` last."""
    order = [str(name) for name in summary.get("exchange_order", [])]
    counts = summary.get("exchanges", {})
    if len(order) > keys.MAX_POOL_ID:
        raise LabelsError(f"the label set names {len(order):,} exchanges; series keys hold "
                          f"{keys.MAX_POOL_ID:,} at most")
    taken = {UNKNOWN_SLUG}
    out = []
    for number, name in enumerate(order, start=1):
        slug = slugify(name)
        if not slug:
            slug = f"pool-{number}"  # section 4's rule, word for word
        elif slug in (UNKNOWN_SLUG, ALL_SLUG) or slug in taken:
            slug = f"{slug}-{number}"
        taken.add(slug)
        out.append(Exchange(number, name, slug, int(counts.get(name, 0))))
    out.append(Exchange(keys.ALL_ENTITY, ALL_EXCHANGES_NAME, ALL_SLUG,
                        sum(x.scripts for x in out)))
    return out


def exchange_ids(summary: dict[str, Any]) -> dict[str, int]:
    """Exchange name -> id, `all` left out."""
    return {x.name: x.id for x in exchanges_of(summary) if x.id != keys.ALL_ENTITY}
