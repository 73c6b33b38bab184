"""Load and validate a pools list in mempool's pools-v2.json format; assign slugs.

The list is a JSON array of `{id, name, addresses, tags, link}`. Ids must be distinct positive
integers; id 0 is reserved for `unknown`. Slugs follow SPEC 4: ASCII letters lowercased, every
character outside a-z0-9 removed; empty -> `pool-<id>`; `unknown`, `all` or a slug taken by a lower
id get `-<id>` appended.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from indexer.config import Network
from indexer.errors import PoolsError
from indexer.parse.script import AddressError, script_for_address
from indexer.store.keys import MAX_POOL_ID

log = logging.getLogger(__name__)

UNKNOWN_ID = 0
UNKNOWN_SLUG = "unknown"
ALL_SLUG = "all"
_NOT_SLUG = re.compile(r"[^a-z0-9]")


@dataclass(frozen=True, slots=True)
class Pool:
    id: int
    name: str
    slug: str
    addresses: tuple[str, ...]
    tags: tuple[str, ...]
    link: str


UNKNOWN_POOL = Pool(UNKNOWN_ID, "unknown", UNKNOWN_SLUG, (), (), "")


def slugify(name: str) -> str:
    """ASCII letters lowercased, then everything outside a-z0-9 removed."""
    lowered = "".join(c.lower() if c.isascii() else c for c in name)
    return _NOT_SLUG.sub("", lowered)


@dataclass(frozen=True, slots=True)
class PoolsList:
    """A validated pools list: pools by id (unknown included) and by slug, and its content hash."""

    pools: tuple[Pool, ...]  # sorted by id, unknown first
    sha256: str
    source: str

    @property
    def by_id(self) -> dict[int, Pool]:
        return {p.id: p for p in self.pools}

    @property
    def by_slug(self) -> dict[str, Pool]:
        return {p.slug: p for p in self.pools}

    def to_json(self) -> bytes:
        """The list as stored in the index (unknown left out), canonical."""
        rows = [
            {"id": p.id, "name": p.name, "addresses": list(p.addresses), "tags": list(p.tags),
             "link": p.link}
            for p in self.pools if p.id != UNKNOWN_ID
        ]
        return json.dumps(rows, ensure_ascii=False, sort_keys=True).encode()


def load_pools(path: Path) -> PoolsList:
    """Read and validate a pools-v2.json file; PoolsError names the entry at fault."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PoolsError(f"pools file {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # bad JSON or UTF-8, absurd numbers or nesting
        raise PoolsError(f"pools file {path}: not valid JSON ({exc})") from None
    return parse_pools(data, str(path))


def parse_pools(data: object, source: str) -> PoolsList:
    if not isinstance(data, list):
        raise PoolsError(f"pools file {source}: expected a JSON array of pools")
    seen: dict[int, int] = {}
    entries: list[tuple[int, str, tuple[str, ...], tuple[str, ...], str]] = []
    for i, item in enumerate(data):
        where = f"pools file {source}: entry {i}"
        if not isinstance(item, dict):
            raise PoolsError(f"{where}: expected an object")
        pool_id = item.get("id")
        if (not isinstance(pool_id, int) or isinstance(pool_id, bool) or pool_id <= 0
                or pool_id > MAX_POOL_ID):
            raise PoolsError(f"{where}: 'id' must be an integer from 1 to {MAX_POOL_ID}, got "
                             f"{pool_id!r}")
        if pool_id in seen:
            raise PoolsError(f"{where}: duplicate id {pool_id} (also entry {seen[pool_id]})")
        seen[pool_id] = i
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise PoolsError(f"{where} (id {pool_id}): 'name' must be a non-empty string")
        lists: list[tuple[str, ...]] = []
        for fld in ("addresses", "tags"):
            values = item.get(fld, [])
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise PoolsError(f"{where} (id {pool_id}): '{fld}' must be a list of strings")
            lists.append(tuple(v for v in values if v))
        link = item.get("link", "")
        link = link if isinstance(link, str) else ""
        try:
            for text in (name, *lists[0], *lists[1], link):
                text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate, which JSON's \ud800 escape can give
            raise PoolsError(f"{where} (id {pool_id}): text that is not encodable as UTF-8 "
                             f"(a lone surrogate)") from None
        entries.append((pool_id, name, lists[0], lists[1], link))

    entries.sort()
    taken = {UNKNOWN_SLUG}
    pools = [UNKNOWN_POOL]
    for pool_id, name, addresses, tags, link in entries:
        slug = slugify(name)
        if not slug:
            slug = f"pool-{pool_id}"
        elif slug in (UNKNOWN_SLUG, ALL_SLUG) or slug in taken:
            slug = f"{slug}-{pool_id}"
        taken.add(slug)
        pools.append(Pool(pool_id, name, slug, addresses, tags, link))
    canonical = json.dumps(data, ensure_ascii=False, sort_keys=True).encode()
    return PoolsList(tuple(pools), hashlib.sha256(canonical).hexdigest(), source)


@dataclass(frozen=True, slots=True)
class CompiledPools:
    """A pools list ready for matching on one network."""

    scripts: dict[bytes, tuple[int, ...]]  # output script -> ids of the pools listing it
    tags: tuple[tuple[bytes, int], ...]  # (ASCII-lowercased UTF-8 tag, id), longest first
    skipped_addresses: int


def compile_pools(pools: PoolsList, network: Network) -> CompiledPools:
    """Decode each pool's addresses for `network` (others skipped with a warning)."""
    scripts: dict[bytes, list[int]] = {}
    tags: list[tuple[int, int, bytes]] = []
    skipped = 0
    for pool in pools.pools:
        for address in pool.addresses:
            try:
                script = script_for_address(address, network)
            except AddressError as exc:
                skipped += 1
                log.debug("pool %s (id %d): address skipped: %s", pool.name, pool.id, exc)
                continue
            ids = scripts.setdefault(script, [])
            if pool.id not in ids:
                ids.append(pool.id)
        for tag in pool.tags:
            encoded = tag.encode("utf-8").lower()
            tags.append((-len(encoded), pool.id, encoded))
    if skipped:
        log.warning("%d pool addresses do not decode for network %s and were skipped "
                    "(those pools match by tag only)", skipped, network.name)
    tags.sort()
    return CompiledPools(
        {s: tuple(ids) for s, ids in scripts.items()},
        tuple((t, pool_id) for _neg, pool_id, t in tags),
        skipped,
    )
