"""Exchange series of every coin (SPEC 5.1): on the story chain every field, daily and per block,
equals the independent computation in `expected-exchanges.json` (made from the node's
verbosity-3 answers); on the exchange world, where exchanges sweep, withdraw, move coins to
cold storage, pay each other and run a pool, every row equals a plain reference of SPEC 5.1
written here over fully decoded blocks, and every transaction keeps the identity of SPEC 5.1.
The CLI export and the API give the same rows; bad input is one clear line or a 4xx."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from indexer.config import get_network
from indexer.parse.deserializer import parse_block
from indexer.source.blkfiles import BlockFiles
from indexer.source.chain import find_active_chain
from indexer.store.db import Store
from scripts.benchkit.exchangeworld import make_world
from tests.conftest import SAMPLE, STORY, cli, dump, export_jsonl, load_json, reindex_regtest

REGTEST = get_network("regtest")
FIELDS = ("balance", "inflow", "outflow", "netflow", "fees", "from_coinbase")


@pytest.fixture(scope="module")
def want() -> Any:
    return load_json(STORY / "expected-exchanges.json")


def as_expected(row: dict[str, Any], key: str) -> dict[str, Any]:
    """Our row in the fixture's shape (`from_miners` there is a map by level)."""
    return {key: row[key], **{f: row[f] for f in FIELDS},
            "from_miners": {"0": row["from_miners_level0"], "1": row["from_miners_level1"]}}


@pytest.mark.parametrize("slug", ["exchangeone", "exchangetwo", "all"])
@pytest.mark.parametrize("interval,table,key", [("day", "exchange_daily", "day"),
                                                ("block", "exchange_blocks", "height")])
def test_every_field_equals_the_independent_computation(
        story_index: Path, want: Any, slug: str, interval: str, table: str, key: str) -> None:
    rows = export_jsonl("exchanges", "--index", story_index, "--entity", slug,
                        "--interval", interval)
    assert [as_expected(r, key) for r in rows] == [
        {k: w[k] for k in (key, *FIELDS, "from_miners")} for w in want[table][slug]]
    assert rows[-1]["balance"] == want["exchange_final_balance"][slug]
    assert sum(r["from_miners_level1"] for r in rows) > 0  # the story's pools pay exchanges


def test_the_list_names_each_exchange_with_its_id_balance_and_netflows(
        client: TestClient, want: Any) -> None:
    body = client.get("/v1/exchanges").json()
    assert [(x["slug"], x["id"], x["name"]) for x in body["data"]] == [
        *((slug, x["id"], x["name"]) for slug, x in want["exchanges"].items()),
        ("all", None, "All exchanges")]
    assert {x["slug"]: x["balance"] for x in body["data"]} == want["exchange_final_balance"]
    daily = {slug: want["exchange_daily"][slug] for slug in want["exchange_final_balance"]}
    for x in body["data"]:  # the last day holds the tip: its netflow is in every window
        assert x["netflow_30d"] == sum(d["netflow"] for d in daily[x["slug"]])
        assert x["netflow_24h"] <= x["netflow_7d"] <= x["netflow_30d"]  # no exchange spends


def test_export_and_the_api_give_the_same_csv_rows(story_index: Path,
                                                   client: TestClient) -> None:
    for interval in ("day", "week", "block"):
        exported = cli("export", "exchanges", "--index", story_index, "--interval", interval,
                       "--format", "csv").stdout
        answer = client.get(f"/v1/exchanges/all/series?format=csv&interval={interval}")
        assert answer.status_code == 200 and answer.text == exported
        assert len(exported.splitlines()) > 2


def test_weeks_and_months_sum_their_days(client: TestClient) -> None:
    def rows(interval: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = client.get(
            f"/v1/exchanges/exchangetwo/series?interval={interval}").json()["data"]
        return found

    days = rows("day")
    for interval in ("week", "month"):
        buckets = rows(interval)
        assert sum(b["inflow"] for b in buckets) == sum(d["inflow"] for d in days)
        assert buckets[-1]["balance"] == days[-1]["balance"] and buckets[-1]["partial"]


def test_paging_walks_every_row_once(client: TestClient) -> None:
    whole = client.get("/v1/exchanges/all/series?interval=block").json()["data"]
    got: list[dict[str, Any]] = []
    url = "/v1/exchanges/all/series?interval=block&limit=50"
    while True:
        body = client.get(url).json()
        got += body["data"]
        if body["next_cursor"] is None:
            break
        url = f"/v1/exchanges/all/series?interval=block&limit=50&cursor={body['next_cursor']}"
    assert got == whole and len(whole) == 182


def test_bad_input_is_a_4xx_or_one_line(client: TestClient, story_index: Path) -> None:
    answer = client.get("/v1/exchanges/binance/series")
    assert answer.status_code == 404
    assert "exchangeone, exchangetwo, all" in answer.json()["detail"]
    assert client.get("/v1/exchanges/all/series?interval=hour").status_code == 422
    assert client.get("/v1/exchanges/all/series?since=yesterday").status_code == 422
    failed = cli("export", "exchanges", "--index", story_index, "--entity", "binance", ok=False)
    lines = failed.stderr.strip().splitlines()
    assert failed.exit_code != 0 and len(lines) == 1
    assert "exchangeone, exchangetwo, all" in lines[0]


# -- the exchange world: exchanges that spend ---------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[bytes, str]]:
    """The world chain, indexed with its true exchange map (file order: first row per exchange
    decides the ids), and that map."""
    out = tmp_path_factory.mktemp("xworld")
    make_world(out, blocks=160, seed=5, customers=80, arbitrage=True)
    truth = {bytes.fromhex(k): v.split(":", 1)[1] for k, v in
             json.loads((out / "truth.json").read_text()).items() if v.startswith("exchange:")}
    from indexer.labels.rows import script_text  # noqa: PLC0415
    lines = ["address,entity,category"]
    lines += [f"{script_text(s, REGTEST)},{x},exchange" for s, x in truth.items()]
    (out / "truth.csv").write_text("\n".join(lines) + "\n")
    index = out / "index"
    cli("reindex", "--datadir", out, "--network", "regtest", "--index", index,
        "--pools", out / "pools.json", "--labels", out / "truth.csv")
    return out, index, truth


def blocks_of(chain: Path) -> Iterator[tuple[int, Any]]:
    files = BlockFiles(chain / "regtest" / "blocks", REGTEST.magic)
    for cb in find_active_chain(files, REGTEST).blocks:
        yield cb.height, parse_block(files.read(cb.location))


Sums = dict[str, dict[str, int]]  # exchange (or "all") -> field -> sats


def reference(chain: Path, truth: dict[bytes, str]) -> tuple[dict[int, Sums], list[int]]:
    """SPEC 5.1 over every transaction of every block, decoded whole, with every output kept:
    per height the flows of each exchange and `all` (and in `bound`, the sum over the
    transactions that moved it of their outputs + 1), and the slack of the identity of every
    (transaction, exchange) pair that moved."""
    utxo: dict[tuple[bytes, int], tuple[int, bytes]] = {}
    per_height: dict[int, Sums] = {}
    slacks: list[int] = []
    for height, block in blocks_of(chain):
        sums: Sums = {}
        for tx in block.txs:
            coinbase = tx.is_coinbase
            spent = [] if coinbase else [utxo.pop((i.prev_txid_rev, i.prev_vout))
                                         for i in tx.inputs]
            if height > 0:
                for vout, o in enumerate(tx.outputs):
                    utxo[(tx.txid_rev, vout)] = (o.value, o.script)
            if height == 0:
                continue
            total_in = sum(v for v, _s in spent)
            fee = total_in - sum(o.value for o in tx.outputs) if not coinbase else 0
            for name in {*truth.values(), "all"}:
                def ours(script: bytes, name: str = name) -> bool:
                    return script in truth and (name == "all" or truth[script] == name)
                held = sum(v for v, s in spent if ours(s))
                if not held and not any(ours(o.script) for o in tx.outputs):
                    continue
                f = sums.setdefault(name, dict.fromkeys(
                    ("inflow", "outflow", "fees", "from_coinbase", "delta", "bound"), 0))
                f["bound"] += len(tx.outputs) + 1
                inflow = outflow = 0
                for o in tx.outputs:
                    share = o.value * held // total_in if held else 0
                    if ours(o.script):
                        inflow += o.value - share
                    else:
                        outflow += share
                fees = fee * held // total_in if held else 0
                delta = sum(o.value for o in tx.outputs if ours(o.script)) - held
                f["inflow"] += inflow
                f["outflow"] += outflow
                f["fees"] += fees
                f["delta"] += delta
                if coinbase:
                    f["from_coinbase"] += inflow
                else:
                    slacks.append((inflow - outflow - fees) - delta)
                    assert 0 <= slacks[-1] <= len(tx.outputs) + 1
        per_height[height] = sums
    return per_height, slacks


def test_world_rows_equal_a_plain_reference_of_spec_5_1(
        world: tuple[Path, Path, dict[bytes, str]]) -> None:
    chain, index, truth = world
    per_height, slacks = reference(chain, truth)
    body = json.loads(cli("export", "exchanges", "--index", index, "--entity", "all",
                          "--interval", "day", "--format", "jsonl").stdout.splitlines()[0])
    assert "balance" in body
    listed = {x["name"]: x["slug"] for x in export_list(index)}
    assert set(listed) == {*truth.values(), "All exchanges"}
    for name, slug in listed.items():
        key = "all" if slug == "all" else name
        rows = export_jsonl("exchanges", "--index", index, "--entity", slug,
                            "--interval", "block")
        balance = 0
        for row in rows:
            f = per_height[row["height"]].get(key)
            if f is None:
                f = dict.fromkeys(("inflow", "outflow", "fees", "from_coinbase", "delta",
                                   "bound"), 0)
            # SPEC 5.1's identity, on our rows: flows floored per transaction
            slack = (row["inflow"] - row["outflow"] - row["fees"]) - (row["balance"] - balance)
            assert 0 <= slack <= f["bound"], (name, row["height"], slack)
            balance += f["delta"]
            assert (row["inflow"], row["outflow"], row["fees"], row["from_coinbase"],
                    row["balance"], row["netflow"]) == (
                f["inflow"], f["outflow"], f["fees"], f["from_coinbase"], balance,
                f["inflow"] - f["outflow"]), (name, row["height"])
    moved = [r for r in export_jsonl("exchanges", "--index", index, "--entity", "all",
                                     "--interval", "block") if r["outflow"]]
    assert moved and len(slacks) > 200  # exchanges spend: outflow and fee shares are exercised


def export_list(index: Path) -> list[dict[str, Any]]:
    with Store(index) as store, TestClient(create_app(store)) as client:
        data: list[dict[str, Any]] = client.get("/v1/exchanges").json()["data"]
    return data


def test_all_is_one_entity_so_transfers_between_exchanges_are_internal(
        world: tuple[Path, Path, dict[bytes, str]]) -> None:
    chain, index, truth = world
    between = 0  # transactions spending one exchange's coins into another's scripts
    utxo: dict[tuple[bytes, int], bytes] = {}
    for _height, block in blocks_of(chain):
        for tx in block.txs:
            spent = [] if tx.is_coinbase else [utxo.pop((i.prev_txid_rev, i.prev_vout), b"")
                                                for i in tx.inputs]
            for vout, o in enumerate(tx.outputs):
                utxo[(tx.txid_rev, vout)] = o.script
            senders = {truth[s] for s in spent if s in truth}
            between += any(truth.get(o.script) not in (None, *senders) for o in tx.outputs) \
                and bool(senders)
    assert between > 0
    total = {slug: sum(r["inflow"] for r in export_jsonl(
        "exchanges", "--index", index, "--entity", slug, "--interval", "month"))
        for slug in [x["slug"] for x in export_list(index)]}
    assert total["all"] < sum(v for k, v in total.items() if k != "all")


def test_rollback_and_reindex_give_the_same_exchange_keys(
        world: tuple[Path, Path, dict[bytes, str]], tmp_path: Path) -> None:
    chain, index, _truth = world
    copy = tmp_path / "index"
    shutil.copytree(index, copy)
    cli("rollback", "--index", copy, "--to", "100")
    cli("reindex", "--datadir", chain, "--network", "regtest", "--index", copy,
        "--pools", chain / "pools.json", "--labels", chain / "truth.csv")
    ours = {k: v for k, v in dump(copy).items() if k[:1] in b"XY"}
    fresh = {k: v for k, v in dump(index).items() if k[:1] in b"XY"}
    assert ours == fresh and sum(k[:1] == b"X" for k in fresh) > 100


def test_without_rev_files_the_funding_outputs_give_the_same_rows(
        story_index: Path, tmp_path: Path) -> None:
    datadir = tmp_path / "datadir"
    shutil.copytree(SAMPLE / "regtest", datadir / "regtest")
    for rev in (datadir / "regtest" / "blocks").glob("rev*.dat"):
        rev.unlink()
    reindex_regtest(datadir, tmp_path / "index")
    ours = {k: v for k, v in dump(tmp_path / "index").items() if k[:1] in b"XY"}
    assert ours and ours == {k: v for k, v in dump(story_index).items() if k[:1] in b"XY"}


# -- how long miners held what they sent to exchanges (SPEC 5.3) -------------------------------


@pytest.mark.parametrize("interval,table,key", [("day", "miner_daily", "day"),
                                                ("block", "miner_blocks", "height")])
def test_ages_of_what_miners_sent_equal_the_independent_computation(
        story_index: Path, want: Any, interval: str, table: str, key: str) -> None:
    aged = 0
    for slug, levels in want[table].items():
        for level, expected_rows in levels.items():
            rows = export_jsonl("series", "--index", story_index, "--entity", slug,
                                "--level", level[-1], "--interval", interval)
            assert [(r[key], r["to_exchange"], r["to_exchange_age_days"],
                     r["to_exchange_by_age"]) for r in rows] == [
                (w[key], w["to_exchange"], w["to_exchange_age_days"], w["to_exchange_by_age"])
                for w in expected_rows], (slug, level)
            aged += sum(r["to_exchange_age_days"] is not None for r in rows)
    assert aged >= 22  # the story's pools send coins of every age bucket but the oldest


def test_weeks_pool_the_ages_of_their_days_and_the_api_names_the_buckets(
        client: TestClient, want: Any) -> None:
    days = client.get("/v1/miners/series?entity=all&level=1").json()["data"]
    weeks = client.get("/v1/miners/series?entity=all&level=1&interval=week").json()["data"]
    assert list(days[0]["to_exchange_by_age"]) == ["lt_1d", "1d_1w", "1w_1m", "1m_1y", "ge_1y"]
    assert [(d["day"], d["to_exchange_age_days"]) for d in days] == [
        (w["day"], w["to_exchange_age_days"]) for w in want["miner_daily"]["all"]["level1"]]
    for week in weeks:
        inside = [d for d in days if week["day"] <= d["day"] < _plus_days(week["day"], 7)]
        for bucket, value in week["to_exchange_by_age"].items():
            assert value == sum(d["to_exchange_by_age"][bucket] for d in inside)
        sent = sum(d["to_exchange"] for d in inside)
        if sent == 0:
            assert week["to_exchange_age_days"] is None
        else:  # the pooled mean of its days' (each rounded once: hence approx)
            assert week["to_exchange_age_days"] == pytest.approx(sum(
                d["to_exchange_age_days"] * d["to_exchange"] for d in inside if d["to_exchange"])
                / sent, rel=1e-12)
    csv_text = client.get("/v1/miners/series?entity=all&level=1&format=csv").text
    header = csv_text.splitlines()[0].split(",")
    assert [h for h in header if h.startswith("to_exchange_by_age.")] == [
        "to_exchange_by_age.lt_1d", "to_exchange_by_age.1d_1w", "to_exchange_by_age.1w_1m",
        "to_exchange_by_age.1m_1y", "to_exchange_by_age.ge_1y"]


def _plus_days(day: str, n: int) -> str:
    import datetime as dt  # noqa: PLC0415
    return (dt.date.fromisoformat(day) + dt.timedelta(days=n)).isoformat()
