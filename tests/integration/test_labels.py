"""Label sets held in the index (one key a script, a fingerprint filter in front), the bundled
mainnet seeds, and `labels derive` on a chain whose owners are known (the exchange world)."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from indexer import fastpath
from indexer.config import get_network
from indexer.errors import LabelsError
from indexer.fingerprints import read_tables, save_tables
from indexer.labels import indexed
from indexer.labels.coinjoin import coinjoin_shape
from indexer.labels.derive import ChainReader, derive, load_seeds
from indexer.labels.indexed import ExchangeLookup
from indexer.labels.labelset import prepare
from indexer.labels.rows import LabelReader, script_text
from indexer.store import keys
from indexer.store.db import Store
from indexer.store.leveldb import plyvel
from scripts.benchkit.exchangeworld import WorldStats, make_world
from tests.conftest import LABELS, POOLS, SAMPLE, cli, dump

REGTEST = get_network("regtest")
MAIN = get_network("main")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, WorldStats]:
    out = tmp_path_factory.mktemp("world")
    return out, make_world(out, blocks=220, seed=11, customers=120)


def csv_rows(text: str) -> list[list[str]]:
    import csv  # noqa: PLC0415
    return [row for row in csv.reader(text.splitlines()) if row and not row[0].startswith("#")]


# -- label files and sets -------------------------------------------------------------------


def test_optional_columns_scripts_without_addresses_and_gzip(tmp_path: Path) -> None:
    p2pk = "21" + "02" * 33 + "ac"
    text = ("# network: regtest\n# derived_height: 5\n"
            "category,address,entity,pack,tier\n"
            "exchange,bcrt1qzk83yqv7pacslhjwwvv3rv3xknkrjqd7vl3ffr,One,packs/a.yaml,core\n"
            f"exchange,script:{p2pk},Two,,\n"
            "miner,bcrt1qfsknp06d99rstlcgdsw2kwe4hq2y4qefv5wwa2,Pool,,\n")
    (tmp_path / "l.csv.gz").write_bytes(gzip.compress(text.encode()))
    reader = LabelReader(tmp_path / "l.csv.gz", REGTEST)
    rows = list(reader)
    assert reader.meta == {"network": "regtest", "derived_height": "5"}
    assert [(r.entity, r.category, r.fields[4], r.tier) for r in rows] == [
        ("One", "exchange", "packs/a.yaml", "core"), ("Two", "exchange", "", ""),
        ("Pool", "miner", "", "")]
    assert rows[1].script == bytes.fromhex(p2pk)
    assert script_text(rows[1].script, REGTEST) == f"script:{p2pk}"
    made = prepare(tmp_path / "l.csv.gz", REGTEST, tmp_path / "out")
    assert made.count == 3 and made.categories == {"exchange": 2, "miner": 1}
    assert made.exchanges == {"One": 1, "Two": 1} and made.meta["derived_height"] == "5"


@pytest.mark.parametrize("text,line,says", [
    ("address,entity\nx,y\n", 1, "lacks category"),
    ("address,entity,category\nbc1qnotregtest,X,exchange\n", 2, "not one of regtest"),
    ("a1,b\n", 1, "expected address,entity,category"),
    ("address,entity,category\nscript:zz,X,exchange\n", 2, "not hex"),
    ("address,entity,category,tier\nscript:0014,X,exchange,hot\n", 2, "tier 'hot'"),
    ("address,entity,category,height\nscript:0014,X,exchange,ten\n", 2, "not a height"),
    ("# network: main\naddress,entity,category\n", 1, "of the 'main' network"),
    ("address,entity,category\nscript:0014, ,exchange\n", 2, "empty address or entity"),
    ("address,entity,category\nscript:0014,X\x00,exchange\n", 2, "control character"),
])
def test_a_malformed_label_file_names_file_and_line_and_leaves_nothing(
        tmp_path: Path, text: str, line: int, says: str) -> None:
    (tmp_path / "bad.csv").write_text(text)
    out = tmp_path / "out"
    with pytest.raises(LabelsError) as raised:
        prepare(tmp_path / "bad.csv", REGTEST, out)
    assert f"bad.csv line {line}" in str(raised.value) and says in str(raised.value)
    assert not out.exists()  # made for the set alone, removed with it


def test_a_label_sets_identity_is_its_sorted_rows(tmp_path: Path) -> None:
    rows = [f"script:0014{k:040x},Ex{k % 3},exchange" for k in range(200)]
    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    (tmp_path / "a.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "b.csv").write_text("\n".join(shuffled) + "\n")
    (tmp_path / "c.csv").write_text("\n".join(rows + [rows[0].replace("Ex0", "Other")]) + "\n")
    a, b, c = (prepare(tmp_path / f"{n}.csv", REGTEST, tmp_path / n) for n in "abc")
    assert a.sha256 == b.sha256 == c.sha256  # c's second row of a script is left out
    assert a.count == 200 and a.exchanges == {"Ex0": 67, "Ex1": 67, "Ex2": 66}
    (tmp_path / "d.csv").write_text("\n".join(rows[:-1]) + "\n")
    assert prepare(tmp_path / "d.csv", REGTEST, tmp_path / "d").sha256 != a.sha256


@pytest.mark.parametrize("spilled", [False, True])
def test_the_canonical_set_is_the_first_row_of_each_script_by_length_then_bytes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spilled: bool) -> None:
    """The canonical text written from first principles (SPEC 5: the first row of a script
    wins; rows ordered by script length, then bytes) is the file `prepare` writes, whether its
    rows were sorted in memory or in runs of a few rows merged two at a time."""
    rng = random.Random(12)
    rows = []
    for k in range(600):
        script = bytes([0x51, rng.randrange(1, 75)]) + rng.randbytes(rng.choice((2, 20, 32)))
        if k % 5 == 4:  # a script listed again, under another exchange
            script = bytes.fromhex(rows[rng.randrange(len(rows))][0][len("script:"):])
        rows.append((f"script:{script.hex()}", f"Ex{rng.randrange(4)}", "exchange"))
    (tmp_path / "rows.csv").write_text("".join(",".join(row) + "\n" for row in rows))
    first: dict[bytes, tuple[str, str, str]] = {}
    for row in rows:
        first.setdefault(bytes.fromhex(row[0][len("script:"):]), row)
    expected = "script,address,entity,category,source,pack,tier,rule,evidence_txid,height,via\n"
    expected += "".join(f"{script.hex()},{','.join(first[script])},,,,,,,\n"
                        for script in sorted(first, key=lambda s: (len(s), s)))
    if spilled:
        import indexer.labels.runsort as runsort  # noqa: PLC0415
        monkeypatch.setattr(runsort, "RUN_BYTES", 300)
        monkeypatch.setattr(runsort, "FAN_IN", 2)
    made = prepare(tmp_path / "rows.csv", REGTEST, tmp_path / "out")
    assert made.file is not None
    assert gzip.decompress(made.file.read_bytes()).decode() == expected
    assert made.sha256 == hashlib.sha256(expected.encode()).hexdigest()
    assert made.count == len(first)
    order = list(dict.fromkeys(row[1] for row in rows if first[bytes.fromhex(row[0][7:])] is row))
    assert list(made.exchange_order) == order
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [made.file.name]


def test_a_rows_columns_order_and_spaces_do_not_change_the_set(tmp_path: Path) -> None:
    """The reader takes a header's columns in any order, trims every field but the entity and
    fills absent columns; whichever way the rows are laid out, the canonical set is one."""
    rows = [(f"script:0014{k:040x}", f"Ex {k % 3}", "exchange", f"src{k}", "core" if k % 2
             else "") for k in range(50)]
    (tmp_path / "plain.csv").write_text("address,entity,category,source,pack,tier\n" + "".join(
        f"{a},{e},{c},{s},,{t}\n" for a, e, c, s, t in rows))
    (tmp_path / "moved.csv").write_text("tier , category,entity,ADDRESS,source\n" + "".join(
        f" {t} ,{c} ,{e}, {a} ,{s}\n" for a, e, c, s, t in rows))
    plain, moved = (prepare(tmp_path / f"{n}.csv", REGTEST, tmp_path / n)
                    for n in ("plain", "moved"))
    assert plain.sha256 == moved.sha256 and plain.count == 50
    assert [row.fields[:6] for row in plain.rows(REGTEST)][:2] == [
        (a, e, c, s, "", t) for a, e, c, s, t in sorted(rows)[:2]]


def test_the_index_holds_a_key_per_label_behind_a_filter_of_under_25_bytes(
        tmp_path: Path) -> None:
    rng = random.Random(5)
    scripts = [b"\x00\x14" + rng.randbytes(20) for _ in range(120_000)]
    lines = ["address,entity,category"] + [
        f"script:{s.hex()},Ex{k % 7},{'exchange' if k % 10 else 'miner'}"
        for k, s in enumerate(scripts)]
    (tmp_path / "big.csv").write_text("\n".join(lines) + "\n")
    index = tmp_path / "index"
    result = cli("labels", "import", tmp_path / "big.csv", "--index", index, "--network",
                 "regtest", "--pools", POOLS)
    assert "120000 labels (108000 exchange scripts of 7 exchanges)" in result.stdout
    with Store(index) as store:
        assert sum(1 for _ in store.scan(keys.LABEL)) == 120_000
        assert sum(1 for _ in store.scan(keys.EXCHANGE_SCRIPT)) == 108_000
        lookup = ExchangeLookup.of(store)
        assert len(lookup) == 108_000
        assert lookup.filter.nbytes / len(lookup) <= 25
        for k in rng.sample(range(len(scripts)), 2_000):
            assert lookup.get(scripts[k]) == (f"Ex{k % 7}" if k % 10 else None)
        assert lookup.get(b"\x00\x14" + rng.randbytes(20)) is None


def test_the_exchange_filter_is_saved_with_its_label_set_and_loaded_once(
        tmp_path: Path) -> None:
    """Writing a label set saves its filter beside the index; a process loads it once (every
    sync of a follower shares it) while it names the index's set, and scans the `x` keys again
    for a file of another set, a damaged one, or none."""
    rng = random.Random(8)
    scripts = [b"\x00\x14" + rng.randbytes(20) for _ in range(3_000)]
    (tmp_path / "a.csv").write_text("".join(f"script:{s.hex()},Ex{k % 3},exchange\n"
                                            for k, s in enumerate(scripts)))
    index = tmp_path / "index"
    cli("labels", "import", tmp_path / "a.csv", "--index", index, "--network", "regtest",
        "--pools", POOLS)
    stranger = b"\x00\x14" + rng.randbytes(20)  # in no label set
    with Store(index) as store:
        saved = store.db_path / indexed.EXCHANGES_FILE
        sha = indexed.stored_summary(store)["sha256"]
        assert _saved_prints(saved, sha) == {fastpath.script_fingerprint(s) for s in scripts}
        first = ExchangeLookup.of(store)
        assert ExchangeLookup.of(store).filter is first.filter  # made once per process
        assert saved.exists() and len(first) == 3_000

        def restart_with(table_sha: str) -> ExchangeLookup:
            """A new process's lookup after the file was replaced by one naming `table_sha`
            whose filter also holds the stranger's print."""
            table = fastpath.Filter()
            for script in scripts:
                table.add(fastpath.script_fingerprint(script))
            table.add(fastpath.script_fingerprint(stranger))
            save_tables(saved, {"labels_sha256": table_sha}, [("exchanges", table)])
            indexed._MADE.clear()
            return ExchangeLookup.of(store)

        loaded = restart_with(sha)
        assert fastpath.script_fingerprint(stranger) in loaded.filter  # the file's, not a scan
        assert loaded.get(stranger) is None  # a print too many costs a read, not an answer
        assert all(loaded.get(s) == f"Ex{k % 3}" for k, s in enumerate(scripts))
        other = restart_with("0" * 64)
        assert fastpath.script_fingerprint(stranger) not in other.filter and len(other) == 3_000
        saved.write_bytes(saved.read_bytes()[:5000])  # damaged: scanned again
        indexed._MADE.clear()
        assert len(ExchangeLookup.of(store)) == 3_000
        saved.unlink()  # none (a write interrupted after its last batch): scanned again
        indexed._MADE.clear()
        assert len(ExchangeLookup.of(store)) == 3_000 and saved.exists()
    (tmp_path / "b.csv").write_text(f"script:{stranger.hex()},Ex9,exchange\n")
    cli("labels", "import", tmp_path / "b.csv", "--index", index)
    with Store(index) as store:
        assert _saved_prints(saved, indexed.stored_summary(store)["sha256"]) == {
            fastpath.script_fingerprint(stranger)}  # replaced with the set
        newer = ExchangeLookup.of(store)
        assert len(newer) == 1 and newer.get(stranger) == "Ex9"
        assert newer.get(scripts[0]) is None


def _saved_prints(path: Path, sha: str) -> set[int]:
    """The fingerprints of the exchange filter saved at `path` for the label set `sha`."""
    def of_set(header: dict[str, object]) -> None:
        assert header["labels_sha256"] == sha

    table = read_tables(path, ("exchanges",), of_set)[0]
    data = table.slots(0, table.capacity)
    found = {int.from_bytes(data[k:k + 8], "little") for k in range(0, len(data), 8)}
    return found - {0} | ({0} if 0 in table else set())


def test_an_interrupted_label_write_is_refused_until_written_again(tmp_path: Path) -> None:
    index = tmp_path / "index"
    cli("labels", "import", LABELS, "--index", index, "--network", "regtest", "--pools", POOLS)
    db = plyvel.DB(str(index))
    db.put(keys.LABELS_PENDING, b"f" * 64)
    db.delete(next(iter(db.iterator(prefix=keys.EXCHANGE_SCRIPT, include_value=False))))
    db.close()
    result = cli("reindex", "--datadir", SAMPLE, "--network", "regtest", "--index", index,
                 ok=False)
    assert result.exit_code == 1
    assert "was interrupted: run `minerflow labels import` again" in result.output
    other = tmp_path / "other.csv"
    other.write_text(LABELS.read_text().replace("Exchange One", "Exchange Uno"))
    cli("labels", "import", other, "--index", index)
    cli("reindex", "--datadir", SAMPLE, "--network", "regtest", "--index", index)
    stored = dump(index)
    assert keys.LABELS_PENDING not in stored
    assert sorted({v for k, v in stored.items() if k[:1] == b"x"}) == [b"Exchange Two",
                                                                      b"Exchange Uno"]


def test_labels_show_lists_every_bundled_exchange_tag() -> None:
    result = cli("labels", "show", "--network", "main", "--category", "exchange", "--format",
                 "csv")
    rows = csv_rows(result.stdout)
    assert rows[0][:3] == ["address", "entity", "category"]
    assert len(rows) - 1 >= 336_000 and {row[2] for row in rows[1:]} == {"exchange"}
    assert sum(1 for row in rows[1:] if row[1] == "BitMEX") == 336_208  # its own reserve list


def test_labels_stats_counts_by_category_and_entity(tmp_path: Path) -> None:
    result = cli("labels", "stats", "--labels", LABELS, "--network", "regtest")
    assert "exchange: 7 scripts, 2 entities" in result.stdout
    assert "        4  Exchange One" in result.stdout
    assert "        3  Exchange Two" in result.stdout
    table = cli("labels", "show", "--labels", LABELS, "--network", "regtest", "--format",
                "table").stdout
    assert len(table.splitlines()) == 8 and "Exchange Two" in table
    assert cli("labels", "show", "--network", "regtest").stdout.count("\n") == 2  # none


# -- derive ----------------------------------------------------------------------------------


def derive_cli(chain: Path, out: Path, *extra: Any, ok: bool = True) -> Any:
    return cli("labels", "derive", "--datadir", chain, "--network", "regtest", "-o", out,
               *extra, ok=ok)


def transactions(chain: Path) -> dict[str, tuple[int, list[bytes], list[tuple[int, bytes]]]]:
    return {txid: (block.height, ins, outs)
            for block in ChainReader(chain / "regtest" / "blocks", REGTEST, None)
            for txid, ins, outs in block.txs}


def test_derive_writes_the_map_with_its_evidence(world: tuple[Path, WorldStats],
                                                 tmp_path: Path) -> None:
    chain, stats = world
    out = tmp_path / "map.csv"
    result = derive_cli(chain, out, "--seeds", chain / "seeds.csv")
    assert "fixpoint after" in result.stdout and "pass 1: +" in result.stdout
    text = out.read_text()
    seeds_sha = hashlib.sha256((chain / "seeds.csv").read_bytes()).hexdigest()
    assert f"# seeds_sha256: {seeds_sha}\n" in text and "# derived_height: 220\n" in text
    assert "# rule_version: minerflow-derive-1" in text
    reader = LabelReader(out, REGTEST)
    rows = list(reader)
    assert reader.meta["derived_hash"] == ChainReader(chain / "regtest" / "blocks", REGTEST,
                                                      None).tip_hash
    labeled = {row.script: row for row in rows}
    txs = transactions(chain)
    derived = [row for row in rows if row.fields[6] in ("R1", "R2")]
    assert len(derived) > 100
    for row in derived:
        txid, height, via = row.fields[7], int(row.fields[8]), labeled_script(row.fields[9])
        found_height, ins, outs = txs[txid]
        assert found_height == height and row.script in ins
        assert via in labeled and row.entity in labeled[via].entity.split("|")
        if row.fields[6] == "R1":
            assert row.tier == "core" and via in ins
        else:
            assert row.tier == "deposit" and via in [script for _v, script in outs]
            assert len(outs) <= 2
        assert txid not in stats.coinjoin_txids
    truth = json.loads((chain / "truth.json").read_text())
    exchange_rows = [row for row in rows if row.category == "exchange"]
    right = sum(truth.get(row.script.hex()) == f"exchange:{row.entity}" for row in exchange_rows)
    assert right / len(exchange_rows) > 0.9


def labeled_script(text: str) -> bytes:
    from indexer.labels.rows import script_of  # noqa: PLC0415
    return script_of(text, REGTEST)


def test_no_coinjoin_shape_ever_links(world: tuple[Path, WorldStats]) -> None:
    chain, stats = world
    txs = transactions(chain)
    assert len(stats.coinjoin_txids) >= 10 and set(stats.coinjoins) == {
        "whirlpool", "blocksci", "wasabi1", "wasabi2"}
    for txid in stats.coinjoin_txids:
        _height, ins, outs = txs[txid]
        assert coinjoin_shape(ins, [value for value, _s in outs]) is not None
    state, _shas, _h = load_seeds([chain / "seeds.csv"], REGTEST)
    # every CoinJoin's inputs as seeds of one exchange: R1 would link every participant
    for txid in stats.coinjoin_txids:
        for script in txs[txid][1][:1]:
            state.core[script] = state.core.get(script, 0) | state.exchange_bit("Mixer Bait")
    derive(ChainReader(chain / "regtest" / "blocks", REGTEST, None), state, lambda r: None)
    for txid in stats.coinjoin_txids:
        for script in txs[txid][1][1:]:
            bit = state.bit["Mixer Bait"]
            found = state.evidence.get((script, bit))
            assert found is None or found.txid not in stats.coinjoin_txids


class Blocks:
    """The chain's blocks in a fixed other order, read once."""

    def __init__(self, blocks: list[Any], until: int) -> None:
        self.blocks, self.until, self.bytes_read = blocks, until, 0

    def __iter__(self) -> Any:
        return iter(self.blocks)


def sets(state: Any) -> tuple[dict[bytes, frozenset[str]], dict[bytes, frozenset[str]]]:
    return ({s: frozenset(state.names_of(m)) for s, m in state.core.items()},
            {s: frozenset(state.names_of(m)) for s, m in state.deposit.items()})


def test_the_fixpoint_does_not_depend_on_the_order(world: tuple[Path, WorldStats]) -> None:
    chain, _stats = world
    reader = ChainReader(chain / "regtest" / "blocks", REGTEST, None)
    blocks = list(reader)
    results = []
    for order in ("chain", "reversed", "shuffled"):
        ordered = blocks[::-1] if order == "reversed" else blocks[:]
        if order == "shuffled":
            random.Random(3).shuffle(ordered)
        state, _shas, _h = load_seeds([chain / "seeds.csv"], REGTEST)
        passes = derive(Blocks(ordered, reader.until), state,  # type: ignore[arg-type]
                        lambda r: None)
        results.append((sets(state), passes))
    assert results[0][0] == results[1][0] == results[2][0]
    assert len(results[0][0][0]) > 20 and len(results[0][0][1]) > 100


def test_an_incremental_derive_ends_where_a_full_one_does(world: tuple[Path, WorldStats],
                                                          tmp_path: Path) -> None:
    chain, _stats = world
    derive_cli(chain, tmp_path / "full.csv", "--seeds", chain / "seeds.csv")
    derive_cli(chain, tmp_path / "half.csv", "--seeds", chain / "seeds.csv", "--until", 110)
    assert "# derived_height: 110\n" in (tmp_path / "half.csv").read_text()
    derive_cli(chain, tmp_path / "more.csv", "--seeds", tmp_path / "half.csv")

    def labels(path: Path) -> set[tuple[str, ...]]:
        return {(row.address, row.entity, row.category, row.tier)
                for row in LabelReader(path, REGTEST)}
    assert labels(tmp_path / "more.csv") == labels(tmp_path / "full.csv")
    assert labels(tmp_path / "half.csv") != labels(tmp_path / "full.csv")
    result = derive_cli(chain, tmp_path / "x.csv", "--seeds", tmp_path / "full.csv", "--until",
                        100, ok=False)
    assert result.exit_code == 1 and "derived to height 220, beyond --until 100" in (
        result.output)


def test_derived_labels_imported_restate_the_series(world: tuple[Path, WorldStats],
                                                    tmp_path: Path) -> None:
    chain, _stats = world
    derive_cli(chain, tmp_path / "map.csv", "--seeds", chain / "seeds.csv")
    index = tmp_path / "index"
    common = ["--datadir", chain, "--network", "regtest", "--index", index, "--pools",
              chain / "pools.json"]
    cli("reindex", *common, "--labels", chain / "seeds.csv")
    before = total_to_exchange(index)
    result = cli("labels", "import", tmp_path / "map.csv", "--index", index)
    assert "derived to height 220" in result.stdout and "stale" in result.stdout
    cli("rebuild", "--index", index, "--datadir", chain)
    after = total_to_exchange(index)
    assert after > before * 1.2
    status = json.loads(cli("status", "--index", index, "--json").stdout)
    assert status["labels"]["name"] == "map.csv" and status["labels"]["derived_height"] == 220
    assert status["labels"]["exchange_scripts"] > 100
    with TestClient(create_app(Store(index), close_store=True)) as client:
        assert client.get("/v1/status").json()["labels"] == status["labels"]
        page = client.get("/").text
        assert '<span id="labels-map">map.csv</span>' in page
        assert '<span id="labels-height">220</span>' in page


def total_to_exchange(index: Path) -> int:
    rows = [json.loads(line) for line in cli("export", "series", "--index", index, "--entity",
                                             "all", "--level", "1", "--format",
                                             "jsonl").stdout.splitlines()]
    return sum(row["to_exchange"] for row in rows)


@pytest.mark.parametrize("seeds,says", [
    ("address,entity,category\nnot-an-address,X,exchange\n", "seeds.csv line 2"),
    ("address,entity,category\n1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2,X,exchange\n",
     "seeds.csv line 2"),
    ("# network: main\naddress,entity,category\n", "of the 'main' network"),
])
def test_derive_refuses_bad_seeds_and_writes_nothing(world: tuple[Path, WorldStats],
                                                     tmp_path: Path, seeds: str,
                                                     says: str) -> None:
    chain, _stats = world
    (tmp_path / "seeds.csv").write_text(seeds)
    result = derive_cli(chain, tmp_path / "out.csv", "--seeds", tmp_path / "seeds.csv", ok=False)
    assert result.exit_code == 1 and says in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out.csv").exists() and list(tmp_path.iterdir()) == [
        tmp_path / "seeds.csv"]


def test_derive_beyond_the_files_or_without_rev_files_writes_nothing(
        world: tuple[Path, WorldStats], tmp_path: Path) -> None:
    chain, _stats = world
    result = derive_cli(chain, tmp_path / "out.csv", "--seeds", chain / "seeds.csv", "--until",
                        999, ok=False)
    assert result.exit_code == 1 and "reach height 220" in result.output
    copy = tmp_path / "chain"
    shutil.copytree(chain, copy)
    (copy / "regtest" / "blocks" / "rev00000.dat").unlink()
    result = derive_cli(copy, tmp_path / "out.csv", "--seeds", chain / "seeds.csv", ok=False)
    assert result.exit_code == 1 and "rev00000.dat holds no undo record" in result.output
    assert not (tmp_path / "out.csv").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_derive_stops_at_a_damaged_block(world: tuple[Path, WorldStats], tmp_path: Path) -> None:
    chain, _stats = world
    copy = tmp_path / "chain"
    shutil.copytree(chain, copy)
    blocks = ChainReader(copy / "regtest" / "blocks", REGTEST, None)
    victim = blocks.blocks[150]
    path = copy / "regtest" / "blocks" / "blk00000.dat"
    data = bytearray(path.read_bytes())
    data[victim.location.offset + 200] ^= 0xFF  # inside its transactions: the merkle root fails
    path.write_bytes(bytes(data))
    result = derive_cli(copy, tmp_path / "out.csv", "--seeds", chain / "seeds.csv", ok=False)
    assert result.exit_code == 1 and "height 150" in result.output
    assert "derived to height 149" in result.output
    assert "# derived_height: 149\n" in (tmp_path / "out.csv").read_text()


def test_the_seeds_refresh_keeps_btc_tags_of_the_kept_categories(tmp_path: Path) -> None:
    from scripts.refresh_seeds import refresh  # noqa: PLC0415
    checkout = tmp_path / "tagpacks"
    (checkout / "packs" / "sub").mkdir(parents=True)
    (checkout / "actors").mkdir()
    (checkout / "LICENSE").write_text("MIT License\n")
    (checkout / "actors" / "actors.yaml").write_text(
        "title: actors\ncreator: x\nactors:\n- id: binance\n  label: Binance\n")
    (checkout / "packs" / "a.yaml").write_text(
        "title: A pack\ncreator: x\ncategory: exchange\ncurrency: BTC\nsource: https://a\n"
        "confidence: service_data\nlastmod: 2020-01-01\nactor: binance\ntags:\n"
        "- address: 1NDyJtNTjmwk5xPNhjgAMu4HDHigtobu1s\n  label: binance hot\n"
        "- address: 0xdeadbeef\n  currency: ETH\n"
        "- address: 3CTPRyUbCKkByGmAVvDV6ReZXT1WfV3UPd\n  label: b2\n  source: https://own\n")
    (checkout / "packs" / "sub" / "b.yaml").write_text(
        "title: B pack\ncreator: x\ncurrency: BTC\nsource: https://b\ntags:\n"
        "- address: 1NDyJtNTjmwk5xPNhjgAMu4HDHigtobu1s\n  label: again\n  category: exchange\n"
        "- address: 3NDzzVxiLBUs1WPvVGRfCYDTAD2Ua2PvW4\n  label: Mixer\n"
        "  category: mixing_service\n"
        "- address: 1CKVszDdUp4ymGceAZpGzYEFr4RPNHYqaM\n  label: Shop\n  category: merchant\n")
    out = tmp_path / "out"
    assert refresh(checkout, out) == 3
    joined = out / "joined.csv.gz"  # the parts are gzip members of one file
    joined.write_bytes(b"".join((out / f"mainnet-seeds.{k}.csv.gz").read_bytes()
                                for k in (1, 2, 3)))
    rows = [(r.address, r.entity, r.category, r.fields[4], r.fields[3])
            for r in LabelReader(joined, MAIN)]
    assert rows == [
        ("1NDyJtNTjmwk5xPNhjgAMu4HDHigtobu1s", "Binance", "exchange", "packs/a.yaml", ""),
        ("3CTPRyUbCKkByGmAVvDV6ReZXT1WfV3UPd", "Binance", "exchange", "packs/a.yaml",
         "https://own"),
        ("3NDzzVxiLBUs1WPvVGRfCYDTAD2Ua2PvW4", "Mixer", "mixing_service", "packs/sub/b.yaml",
         "")]
    assert (out / "packs.csv").read_text().splitlines()[1] == (
        "packs/a.yaml,A pack,service_data,2020-01-01,https://a")
    assert (out / "LICENSE-graphsense-tagpacks.txt").read_text() == "MIT License\n"
    first = joined.read_bytes()
    refresh(checkout, out)
    assert b"".join((out / f"mainnet-seeds.{k}.csv.gz").read_bytes()
                    for k in (1, 2, 3)) == first  # deterministic


def test_a_refused_label_set_leaves_no_rows_file_behind(tmp_path: Path) -> None:
    index = tmp_path / "index"
    common = ["--datadir", SAMPLE, "--network", "regtest", "--index", index, "--pools", POOLS]
    cli("reindex", *common, "--labels", LABELS)
    before = sorted(p.name for p in index.glob("labels-*.csv.gz"))
    other = tmp_path / "other.csv"
    other.write_text(LABELS.read_text().replace("Exchange One", "Exchange Uno"))
    result = cli("reindex", *common, "--labels", other, ok=False)
    assert result.exit_code == 1 and "another exchange labels" in result.output
    assert sorted(p.name for p in index.glob("labels-*.csv.gz")) == before and len(before) == 1


def test_a_map_of_another_chain_or_height_is_refused(world: tuple[Path, WorldStats],
                                                     tmp_path: Path) -> None:
    chain, _stats = world
    derive_cli(chain, tmp_path / "early.csv", "--seeds", chain / "seeds.csv", "--until", 100)
    derive_cli(chain, tmp_path / "late.csv", "--seeds", chain / "seeds.csv")
    index = tmp_path / "index"  # the sample chain: 183 blocks of another chain
    cli("reindex", "--datadir", SAMPLE, "--network", "regtest", "--index", index, "--pools",
        POOLS, "--labels", LABELS)
    before = dump(index)
    other = cli("labels", "import", tmp_path / "early.csv", "--index", index, ok=False)
    assert other.exit_code == 1 and "holds another block there" in other.output
    beyond = cli("labels", "import", tmp_path / "late.csv", "--index", index, ok=False)
    assert beyond.exit_code == 1 and "derived to height 220, index" in beyond.output
    assert "reaches 182: sync it first" in beyond.output
    assert dump(index) == before and len(list(index.glob("labels-*.csv.gz"))) == 1


@pytest.mark.parametrize("flush_bytes", [indexed._FLUSH_BYTES, 1 << 16])
def test_a_label_set_is_written_into_tables_of_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flush_bytes: int) -> None:
    """The `l` and `x` keys of an import land in tables that hold keys of one prefix: a table
    spanning into the keys the blocks write (`m`, `o` between `l` and `x`; the upper-case
    records before `l`) would be rewritten by every compaction of theirs. With the memtable
    flushed every 64 KiB (dozens of flushes beside the writes), every row is there."""
    monkeypatch.setattr(indexed, "_FLUSH_BYTES", flush_bytes)
    rng = random.Random(12)
    rows = [f"script:0014{rng.randbytes(20).hex()},Ex{k % 5},exchange\n" for k in range(20_000)]
    rows += [f"script:a914{rng.randbytes(20).hex()}87,Miner{k},miner\n" for k in range(500)]
    (tmp_path / "set.csv").write_text("".join(rows))
    index = tmp_path / "index"
    cli("labels", "import", tmp_path / "set.csv", "--index", index, "--network", "regtest",
        "--pools", POOLS)
    with Store(index) as store:
        tables = store.db.get_property(b"leveldb.sstables").decode("latin-1")
        assert sum(1 for _ in store.scan(keys.LABEL)) == len(rows)
        assert sum(1 for _ in store.scan(keys.EXCHANGE_SCRIPT)) == 20_000
    spans = [line.split("['", 1)[1] for line in tables.splitlines() if "['" in line]
    holding = [span for span in spans if span[0] in "lx" or span.split(" .. '")[1][0] in "lx"]
    assert holding, tables
    for span in holding:
        assert span[0] == span.split(" .. '")[1][0], span  # one prefix from first to last key


def test_a_sort_that_cannot_write_its_runs_is_one_line_and_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk while the rows are sorted: one LabelsError naming the file and the place,
    and the directory made for the set is gone."""
    import errno  # noqa: PLC0415

    import indexer.labels.runsort as runsort  # noqa: PLC0415

    def full(run: list[bytes], path: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runsort, "RUN_BYTES", 200)
    monkeypatch.setattr(runsort, "_write_run", full)
    (tmp_path / "rows.csv").write_text("".join(
        f"script:0014{k:040x},Ex,exchange\n" for k in range(50)))
    out = tmp_path / "out"
    with pytest.raises(LabelsError) as raised:
        prepare(tmp_path / "rows.csv", REGTEST, out)
    assert str(raised.value) == (f"labels file {tmp_path / 'rows.csv'}: cannot write its sorted "
                                 f"rows in {out} (No space left on device)")
    assert not out.exists()
