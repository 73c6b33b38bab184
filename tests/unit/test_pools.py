"""Pools list validation, slugs, and the SPEC 4 matcher rules on synthetic coinbases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexer.attribution.matcher import attribute
from indexer.attribution.pools import compile_pools, load_pools, parse_pools, slugify
from indexer.config import default_pools_path, get_network
from indexer.errors import PoolsError

REGTEST = get_network("regtest")
FOUNDRY_ADDR = "bcrt1qj5tvmgfg3u92u0m7tdjycgqdw5v39qj0t7qcsh"
ANT_ADDR = "mkb9UVKWfG5w4wPDygZGCwct4WMgT7VdHP"


def pools(*entries: dict[str, object]) -> list[dict[str, object]]:
    return [{"addresses": [], "tags": [], "link": "", **e} for e in entries]


def compiled(*entries: dict[str, object]):  # type: ignore[no-untyped-def]
    return compile_pools(parse_pools(pools(*entries), "test"), REGTEST)


def test_slug_rules() -> None:
    assert slugify("Foundry USA") == "foundryusa"
    assert slugify("F2Pool") == "f2pool"
    assert slugify("七彩神仙鱼") == ""
    plist = parse_pools(pools({"id": 3, "name": "Unknown"}, {"id": 1, "name": "A-B"},
                              {"id": 2, "name": "a b"}, {"id": 4, "name": "鱼"},
                              {"id": 5, "name": "ALL"}), "test")
    assert {p.id: p.slug for p in plist.pools} == {
        0: "unknown", 1: "ab", 2: "ab-2", 3: "unknown-3", 4: "pool-4", 5: "all-5"}


def test_bundled_list_loads_with_distinct_slugs() -> None:
    plist = load_pools(default_pools_path())
    assert len(plist.pools) == 169  # 168 pools and unknown
    assert len({p.slug for p in plist.pools}) == 169


@pytest.mark.parametrize("data,message", [
    ({"id": 1}, "expected a JSON array"),
    ([{"id": 1, "name": "a"}, {"id": 1, "name": "b"}], "duplicate id 1"),
    ([{"id": 0, "name": "a"}], "'id' must be an integer from 1 to 65534"),
    ([{"id": 65535, "name": "a"}], "'id' must be an integer from 1 to 65534"),  # `all`'s id
    ([{"id": 70000, "name": "a"}], "'id' must be an integer from 1 to 65534"),  # beyond u16
    ([{"id": 3, "name": "a\ud800"}], "lone surrogate"),
    ([{"id": 2, "name": ""}], "'name' must be a non-empty string"),
    ([{"id": 2, "name": "x", "tags": "abc"}], "'tags' must be a list of strings"),
])
def test_invalid_lists_name_the_problem(data: object, message: str) -> None:
    with pytest.raises(PoolsError, match=message):
        parse_pools(data, "test")


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(PoolsError, match="No such file"):
        load_pools(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("[{")
    with pytest.raises(PoolsError, match="not valid JSON"):
        load_pools(bad)


def test_address_stage_largest_sum_wins_then_lowest_id() -> None:
    from indexer.parse.script import script_for_address

    cp = compiled({"id": 1, "name": "F", "addresses": [FOUNDRY_ADDR], "tags": ["/F/"]},
                  {"id": 2, "name": "A", "addresses": [ANT_ADDR], "tags": ["/A/"]})
    f, a = script_for_address(FOUNDRY_ADDR, REGTEST), script_for_address(ANT_ADDR, REGTEST)
    assert attribute(b"", [(5, f), (6, a)], cp).pool_id == 2
    assert attribute(b"", [(6, f), (6, a)], cp).pool_id == 1  # tie: lowest id
    assert attribute(b"", [(0, a)], cp).method == "address"  # a zero-value match counts
    conflict = attribute(b"xx/A/xx", [(1, f)], cp)
    assert (conflict.pool_id, conflict.method, conflict.tag_pool_id, conflict.conflict) == (
        1, "address", 2, True)
    agree = attribute(b"/F/", [(1, f)], cp)
    assert (agree.tag_pool_id, agree.conflict) == (1, False)


def test_tag_stage_longest_tag_then_lowest_id_case_insensitive_ascii() -> None:
    cp = compiled({"id": 4, "name": "ViaBTC", "tags": ["/ViaBTC/"]},
                  {"id": 5, "name": "TATMAS", "tags": ["/ViaBTC/TATMAS Pool/"]},
                  {"id": 6, "name": "Binance", "tags": ["/Binance/"]},
                  {"id": 3, "name": "F2", "tags": ["七彩神仙鱼"]},
                  {"id": 7, "name": "Twin", "tags": ["/Binance/"]},
                  {"id": 8, "name": "Regex", "tags": ["a.c"]})
    assert attribute(b"\x03\x01\x02/ViaBTC/TATMAS Pool/", [], cp).pool_id == 5
    assert attribute(b"...//viabtc/..", [], cp).pool_id == 4
    assert attribute(b"mined by /BINANCE/", [], cp).pool_id == 6  # tie between 6 and 7
    assert attribute("七彩神仙鱼".encode(), [], cp).pool_id == 3
    assert attribute(b"abc", [], cp).pool_id == 0  # tags are literal, not regular expressions
    assert attribute(b"a.c", [], cp).pool_id == 8
    none = attribute(b"nothing here", [], cp)
    assert (none.pool_id, none.method, none.tag_pool_id) == (0, "none", None)


def test_foreign_addresses_are_skipped_and_counted() -> None:
    plist = load_pools(default_pools_path())
    main_list = compile_pools(plist, REGTEST)
    testnet_style = [a for p in plist.pools for a in p.addresses if a[0] in "mn2" or
                     a.startswith("tb1")]
    listed = sum(len(p.addresses) for p in plist.pools)
    # regtest shares testnet's base58 version bytes but not its bech32 prefix
    base58_testnet = [a for a in testnet_style if not a.startswith("tb1")]
    assert len(main_list.scripts) == len(base58_testnet) == 1
    assert main_list.skipped_addresses == listed - len(base58_testnet)
    assert main_list.tags  # still matches by tag


def test_pools_hash_is_stable_and_content_based(tmp_path: Path) -> None:
    data = pools({"id": 1, "name": "A"})
    one, two = tmp_path / "1.json", tmp_path / "2.json"
    one.write_text(json.dumps(data))
    two.write_text(json.dumps(data, indent=4))
    assert load_pools(one).sha256 == load_pools(two).sha256
    data[0]["tags"] = ["/A/"]
    two.write_text(json.dumps(data))
    assert load_pools(one).sha256 != load_pools(two).sha256
