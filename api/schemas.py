"""Response models, separate from storage types."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Window = Literal["24h", "3d", "1w", "1m", "3m", "6m", "1y", "all"]
Interval = Literal["day", "week", "month", "block"]  # indexer.series.INTERVALS


ROWS = "The rows of this page."
COUNT = "How many rows this page holds."
TIP_HEIGHT = "Height of the index's tip when the answer was made."
NEXT_CURSOR = "Pass as `cursor` for the next page; null on the last."
WINDOW = "The window: ending at the tip's chain time (24h ... 1y), or all."
STALE = ("The miner series (and balances) were built with other lists than the index's now; "
         "see stale_reason.")
STALE_REASON = "Why, and what brings them up to date (`minerflow rebuild`)."


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="Where: e.g. [\"query\", \"since\"].")
    msg: str = Field(description="What is wrong with it.")
    type: str = Field(description="Pydantic's error type, e.g. int_parsing.")


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer: one line for people, the fields at fault for programs."""

    detail: str = Field(description="What is wrong, in one line.")
    errors: list[FieldError] = Field(default_factory=list, description="The fields at fault "
                                     "(empty when the fault is not one field's).")


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorBody, "description": "No such block, pool or entity."},
    422: {"model": ErrorBody, "description": "A parameter is malformed or out of range."},
    503: {"model": ErrorBody, "description": "The index cannot be read now."},
}


class NodeStatus(BaseModel):
    following: bool = Field(description="A follower runs in this process and is alive.")
    state: str = Field(description="off (no follower), starting, syncing, following, waiting "
                       "(the node is behind the index), retrying (the node failed; see "
                       "last_error), switching (a rebuild made a new generation active; "
                       "following moves to it), stopped, or dead (the follower ended; see "
                       "last_error).")
    node_tip: int | None = Field(description="The node's tip height; null while it is not known.")
    lag: int | None = Field(description="Node tip minus index tip; negative while the node is "
                            "behind the index.")
    syncing: bool = Field(description="A catch-up runs now.")
    last_sync: float | None = Field(description="Unix time of the last successful sync.")
    last_error: str | None = Field(description="The last error following met, in one line.")
    last_error_time: float | None = Field(description="Unix time of that error.")
    note: str | None = Field(description="Why the follower waits, when it does.")


class PriceRange(BaseModel):
    first: str = Field(description="First day with a close (YYYY-MM-DD).")
    last: str = Field(description="Last day with a close.")
    days: int = Field(description="Days with a close.")


class PoolsVersion(BaseModel):
    sha256: str = Field(description="The pools list's sha256.")
    blocks: int = Field(description="Blocks of the active chain it attributed.")


class LabelsMap(BaseModel):
    """The exchange label set the index holds."""

    name: str | None = Field(description="The file it was imported from.")
    sha256: str = Field(description="Its identity: the sha256 of its canonical rows.")
    count: int = Field(description="Labeled scripts, every category.")
    exchange_scripts: int = Field(description="Scripts labeled as an exchange's.")
    exchanges: int = Field(description="Exchanges (entities) among them.")
    conflicts: int = Field(description="Scripts a derive found conflicted (counted for no one).")
    derived_height: int | None = Field(description="For a map from `labels derive`: the height "
                                       "it was derived to; null for seeds alone.")
    derived_hash: str | None = Field(description="For a derived map: the block it was derived to.")
    rule_version: str | None = Field(description="For a derived map: the version of the rules "
                                                 "that made it.")


class Status(BaseModel):
    version: str = Field(description="minerflow's version.")
    network: str = Field(description="main, test, testnet4, signet or regtest.")
    index_format: int = Field(description="The index's format version (a new one needs a "
                                          "re-index).")
    genesis: str = Field(description="The network's genesis block hash.")
    tip_height: int = Field(description=TIP_HEIGHT)
    tip_hash: str | None = Field(description="The tip's hash; null for an empty index.")
    tip_time: int | None = Field(description="The tip's chain time (unix seconds).")
    pools_sha256: str = Field(description="sha256 of the pools list the index attributes with.")
    labels_sha256: str = Field(description="sha256 of the exchange label set (its canonical rows).")
    labels: LabelsMap = Field(description="The exchange label set.")
    pools: int = Field(description="Pools in the list.")
    pools_versions: list[PoolsVersion] = Field(description="The pools lists that attributed "
                                               "the index's blocks, oldest first.")
    stale: bool = Field(description="The miner series were built with another pools list "
                        "than the blocks' attribution (after `pools update`).")
    stale_reason: str | None = Field(description="Why the series are stale, and what brings them "
                                                 "up to date.")
    prices: PriceRange | Literal["none"] = Field(description="The imported daily USD closes, "
                                                  "or none: USD fields are then left out.")
    node: NodeStatus = Field(description="Following the node.")


class Balances(BaseModel):
    level0: int = Field(description="Sats: unspent miner coins at level 0 (the scripts the "
                                    "coinbases paid).")
    level1: int = Field(description="Sats: unspent miner coins at levels 0 and 1 (and the "
                                    "scripts their spending paid).")


SATS = "Sats."
SUPPLY = ("Sats issued by the halving schedule in blocks 0 to the row's last (genesis "
          "included): the circulating supply (SPEC 5.2).")
SHARE_OF_SUPPLY = "The balance over the supply at the tip (SPEC 5.2)."
PARTIAL = ("The row's period holds the tip's day, which is still open: its flows, blocks and "
           "hash rate are so far (a day's hash rate is over the whole day), not a drop.")
HASHRATE = ("H/s: the work of the blocks (2**256 / (target + 1) each) over the window's length "
            "in seconds; null when the window spans no time.")
REVENUE = "Sats: subsidy plus claimed fees of the blocks."


class PoolShare(BaseModel):
    id: int = Field(description="The pool's id in the pools list (0: unknown).")
    slug: str = Field(description="The pool's slug: its name, lower case, letters and digits only.")
    name: str = Field(description="The pool's name, as the pools list gives it.")
    blocks: int = Field(description="Blocks the pool found in the window.")
    share: float = Field(description="Of the window's blocks.")
    hashrate: float | None = Field(description=HASHRATE)
    empty_blocks: int = Field(description="Blocks holding the coinbase only.")
    revenue: int = Field(description=REVENUE)
    balance: Balances = Field(description="The pool's miner balance at the tip (sats).")


class PoolList(BaseModel):
    data: list[PoolShare] = Field(description=ROWS)
    count: int = Field(description=COUNT)
    tip_height: int = Field(description=TIP_HEIGHT)
    window: str = Field(description=WINDOW)
    from_height: int = Field(description="First height of the window.")
    total_blocks: int = Field(description="Blocks in the window.")
    hashrate: float | None = Field(description="The network's, " + HASHRATE)
    next_cursor: int | None = Field(description=NEXT_CURSOR)
    stale: bool = Field(default=False, description=STALE)
    stale_reason: str | None = Field(default=None, description=STALE_REASON)


class PoolDetail(BaseModel):
    id: int = Field(description="The pool's id in the pools list (0: unknown).")
    slug: str = Field(description="The pool's slug: its name, lower case, letters and digits only.")
    name: str = Field(description="The pool's name, as the pools list gives it.")
    link: str = Field(description="The pool's web site, as the list gives it.")
    tags: list[str] = Field(description="Coinbase tags that identify the pool.")
    addresses: list[str] = Field(description="Payout addresses that identify the pool.")
    blocks: dict[str, int] = Field(description="Per window.")
    share: dict[str, float] = Field(description="Per window.")
    hashrate: dict[str, float | None] = Field(description="Per window; " + HASHRATE)
    empty_blocks: dict[str, int] = Field(description="Per window.")
    revenue: dict[str, int] = Field(description="Per window; " + REVENUE)
    balance: Balances = Field(description="The pool's miner balance at the tip (sats).")
    tip_height: int = Field(description=TIP_HEIGHT)
    stale: bool = Field(default=False, description=STALE)
    stale_reason: str | None = Field(default=None, description=STALE_REASON)


DATE = "First UTC day of the row: its day, week (from Monday) or month."
FEES = "Sats: coinbase outputs minus subsidy, what miners claimed (negative when less)."
SUBSIDY = "Sats: the halving schedule's subsidy of the blocks."
ROW_HASHRATE = "H/s: the work of the row's blocks over the row's full length in seconds."


class NetworkRow(BaseModel):
    day: str = Field(description=DATE)
    blocks: int = Field(description="Blocks in the period.")
    subsidy: int = Field(description=SUBSIDY)
    fees: int = Field(description=FEES)
    difficulty: float | None = Field(description="Of the last block up to the row's end: the "
                                     "network's pow-limit target over the block's target.")
    hashrate: float = Field(description=ROW_HASHRATE)
    supply: int = Field(description=SUPPLY)
    partial: bool = Field(description=PARTIAL)


class PoolRow(BaseModel):
    day: str = Field(description=DATE)
    blocks: int = Field(description="The pool's blocks in the period.")
    share: float | None = Field(description="Of the row's blocks; null when there were none.")
    hashrate: float = Field(description=ROW_HASHRATE)
    subsidy: int = Field(description=SUBSIDY)
    fees: int = Field(description=FEES)
    empty_blocks: int = Field(description="Its blocks holding the coinbase only.")
    partial: bool = Field(description=PARTIAL)
    hashrate_7d: float | None = Field(default=None, description="H/s: mean over the 7 days "
                                      "ending at the row (daily hash rate endpoint only).")


class NetworkBlockRow(BaseModel):
    height: int = Field(description="Block height.")
    hash: str = Field(description="Block hash, as shown to people (big-endian hex).")
    time: int = Field(description="Chain time (unix seconds).")
    pool: str = Field(description="The slug of the pool that found it.")
    tx_count: int = Field(description="Transactions, the coinbase included.")
    size: int = Field(description="Bytes.")
    weight: int = Field(description="Weight units (BIP 141).")
    subsidy: int = Field(description=SUBSIDY)
    fees: int = Field(description=FEES)
    difficulty: float = Field(description="The network's pow-limit target over the block's target.")
    empty: bool = Field(description="The coinbase is the block's only transaction.")
    supply: int = Field(description=SUPPLY)


class NetworkSeriesPage(BaseModel):
    data: list[NetworkRow] | list[PoolRow] | list[NetworkBlockRow] = Field(description="The rows "
                                                                                       "of this "
                                                                                       "page.")
    count: int = Field(description=COUNT)
    tip_height: int = Field(description=TIP_HEIGHT)
    pool: str | None = Field(description="The pool asked for, or null for the network.")
    interval: str = Field(description="day, week, month or block.")
    next_cursor: int | str | None = Field(description="Pass as `cursor` for the next page.")


class PoolHashratePage(BaseModel):
    data: list[PoolRow] = Field(description=ROWS)
    count: int = Field(description=COUNT)
    tip_height: int = Field(description=TIP_HEIGHT)
    pool: str = Field(description="The pool's slug.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class DifficultyAdjustment(BaseModel):
    height: int = Field(description="The retarget's height (a multiple of 2016).")
    hash: str = Field(description="Block hash, as shown to people (big-endian hex).")
    time: int = Field(description="Chain time (unix seconds).")
    difficulty: float = Field(description="Difficulty from this height on.")
    previous_difficulty: float = Field(description="Difficulty of the previous retarget.")
    change: float | None = Field(description="difficulty / previous_difficulty.")


class AdjustmentPage(BaseModel):
    data: list[DifficultyAdjustment] = Field(description=ROWS)
    count: int = Field(description=COUNT)
    tip_height: int = Field(description=TIP_HEIGHT)
    next_cursor: int | None = Field(description="Pass as `cursor` for the next page.")


class RewardStats(BaseModel):
    from_height: int | None = Field(description="First block counted; null when none is.")
    to_height: int | None = Field(description="Last block counted.")
    blocks: int = Field(description="Blocks counted.")
    subsidy: int = Field(description=SUBSIDY)
    fees: int = Field(description=FEES)
    revenue: int = Field(description=REVENUE)
    tx_count: int = Field(description="Transactions, coinbases included.")
    empty_blocks: int = Field(description="Blocks holding the coinbase only.")
    tip_height: int = Field(description=TIP_HEIGHT)


class BlockRow(BaseModel):
    height: int = Field(description="Block height.")
    hash: str = Field(description="Block hash, as shown to people (big-endian hex).")
    time: int = Field(description="Chain time (unix seconds): the header time, never below an "
                                  "earlier block's.")
    pool_id: int = Field(description="The id of the pool that found it (0: unknown).")
    pool: str = Field(description="Its slug.")
    pool_name: str = Field(description="Its name.")
    method: str = Field(description="How it was attributed: address (a payout address), tag (a "
                                    "coinbase tag) or none.")
    conflict: bool = Field(description="The address and the tag named different pools (the "
                                       "address wins).")
    tag_pool: str | None = Field(description="The pool the coinbase tag matched (the one "
                                 "the address beat when conflict); null when none did.")
    tx_count: int = Field(description="Transactions, the coinbase included.")
    size: int = Field(description="Bytes.")


class BlockPage(BaseModel):
    data: list[BlockRow] = Field(description=ROWS)
    count: int = Field(description=COUNT)
    tip_height: int = Field(description=TIP_HEIGHT)
    next_cursor: int | None = Field(description="Pass as `cursor` for the next page.")


class CoinbaseOutput(BaseModel):
    value: int = Field(description="Sats.")
    script: str = Field(description="The output script, hex.")
    type: str = Field(description="p2pkh, p2sh, p2wpkh, p2wsh, p2tr, p2pk, op_return, "
                                  "witness_unknown or nonstandard.")
    address: str | None = Field(description="Its address on the network; null when it has none.")


class BlockDetail(BlockRow):
    header_time: int = Field(description="The header's own time (unix seconds).")
    bits: str = Field(description="The compact target (nBits), hex.")
    pools_sha256: str | None = Field(description="The pools list that attributed the block.")
    coinbase_value: int = Field(description="Sats: the coinbase outputs' total.")
    coinbase_hex: str = Field(description="The coinbase scriptSig, hex.")
    coinbase_text: str = Field(description="Its printable text (other bytes dropped), as mempool "
                                           "shows it.")
    outputs: list[CoinbaseOutput] = Field(description="The coinbase outputs.")


class EntityBalance(BaseModel):
    entity: str = Field(description="Entity slug: a pool, 'unknown' or 'all'.")
    name: str = Field(description="The entity's name.")
    level0: int = Field(description="Sats: unspent miner coins at level 0 (the scripts the "
                                    "coinbases paid).")
    level1: int = Field(description="Sats: unspent miner coins at levels 0 and 1 (and the "
                                    "scripts their spending paid).")
    level0_share_of_supply: float = Field(description=SHARE_OF_SUPPLY)
    level1_share_of_supply: float = Field(description=SHARE_OF_SUPPLY)


class BalanceList(BaseModel):
    data: list[EntityBalance] = Field(description="Every entity, largest level-1 balance first "
                                                  "('all' first of all).")
    count: int = Field(description=COUNT)
    tip_height: int = Field(description=TIP_HEIGHT)
    supply: int = Field(description="Sats issued by the schedule to the tip (SPEC 5.2).")
    next_cursor: int | None = Field(description=NEXT_CURSOR)
    stale: bool = Field(default=False, description=STALE)
    stale_reason: str | None = Field(default=None, description=STALE_REASON)


class AgeBuckets(BaseModel):
    """SPEC 5.3: to_exchange by how long the coins sent had been held (a day is 86,400 s, a
    week 7 days, a month 30, a year 365; a lower bound is inclusive)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    lt_1d: int = Field(description="Sats sent after less than a day.")
    d1_w1: int = Field(alias="1d_1w", description="Sats sent after 1 day to less than a week.")
    w1_m1: int = Field(alias="1w_1m", description="Sats sent after 1 week to less than a "
                       "month.")
    m1_y1: int = Field(alias="1m_1y", description="Sats sent after 1 month to less than a "
                       "year.")
    ge_1y: int = Field(description="Sats sent after a year or more.")


class MinerRow(BaseModel):
    """One row of an entity's miner series at one level (docs/metrics.md). Daily, weekly and
    monthly rows carry `day`; per-block rows `height`, `hash` and `time`; the derived and USD
    fields appear only when asked for (`derived`) or when prices are imported."""

    model_config = ConfigDict(extra="forbid")  # a field the rows gain must be described here

    day: str | None = Field(None, description="First UTC day of the row (day, week from Monday "
                            "or month); absent per block.")
    height: int | None = Field(None, description="Per block: the block's height.")
    hash: str | None = Field(None, description="Per block: the block's hash.")
    time: int | None = Field(None, description="Per block: its chain time (unix seconds).")
    balance: int = Field(description="Sats: unspent miner coins of the entity at level <= L, "
                         "after the row's last block.")
    balance_share_of_supply: float = Field(description="balance / supply at the row's last "
                                           "block (SPEC 5.2).")
    partial: bool | None = Field(None, description=PARTIAL + " Absent per block.")
    mined: int = Field(description="Sats: coinbase outputs created as the entity's miner "
                       "coins.")
    inflow: int = Field(description="Sats: what the entity's new miner coins received from "
                        "outside its own coins.")
    outflow: int = Field(description="Sats: pro-rata shares of outputs that are not the "
                         "entity's miner coins.")
    fees: int = Field(description="Sats: pro-rata shares of transaction fees.")
    to_exchange: int = Field(description="Sats: pro-rata shares of outputs paying an exchange.")
    to_exchange_by: dict[str, int] = Field(description="Sats: to_exchange per exchange name "
                                           "(names with 0 left out).")
    to_exchange_age_days: float | None = Field(description="SPEC 5.3: the to_exchange-weighted "
                                               "mean of how long the miner coins each "
                                               "transaction spent had been held, in days "
                                               "(null when nothing went to exchanges).")
    to_exchange_by_age: AgeBuckets = Field(description="SPEC 5.3: to_exchange by that age.")
    net_position_change_30d: int | None = Field(None, description="derived, sats: balance "
                                                "minus the balance 30 days before.")
    net_position_change_30d_usd: float | None = Field(None, description="derived, with "
                                                      "prices: the change x the day's close.")
    outflow_multiple: float | None = Field(None, description="derived: outflow over its mean "
                                           "of the 365 days ending at the row.")
    outflow_revenue_ratio: float | None = Field(None, description="derived: outflow over the "
                                                "revenue of the entity's blocks that day.")
    balance_usd: float | None = Field(None, description="With prices: balance x the day's "
                                      "close (null without one); likewise the other *_usd.")
    mined_usd: float | None = Field(None, description="With prices: mined x the day's close.")
    inflow_usd: float | None = Field(None, description="With prices: inflow x the day's close.")
    outflow_usd: float | None = Field(None, description="With prices: outflow x the day's close.")
    fees_usd: float | None = Field(None, description="With prices: fees x the day's close.")
    to_exchange_usd: float | None = Field(None, description="With prices: to_exchange x the "
                                                            "day's close.")
    revenue_usd: float | None = Field(None, description="derived, with prices: the day's "
                                      "revenue in USD.")
    puell_multiple: float | None = Field(None, description="derived, with prices: the day's "
                                         "issuance in USD over its 365-day mean.")
    mpi: float | None = Field(None, description="derived, with prices: the Miners' Position "
                              "Index of the entity's outflow in USD.")


class SeriesPage(BaseModel):
    data: list[MinerRow] = Field(description=ROWS)
    count: int = Field(description=COUNT)
    tip_height: int = Field(description=TIP_HEIGHT)
    entity: str = Field(description="Entity slug: a pool, 'unknown' or 'all'.")
    level: int = Field(description="0 or 1 (level 1 holds level 0).")
    interval: str = Field(description="day, week, month or block.")
    next_cursor: int | str | None = Field(description="Pass as `cursor` for the next page.")
    stale: bool = Field(default=False, description=STALE)
    stale_reason: str | None = Field(default=None, description=STALE_REASON)
    prices: Literal["imported", "none"] = Field(
        default="none", description="imported: rows carry <field>_usd (null on days without a "
        "close) and derived rows revenue_usd, puell_multiple and mpi; none: they are left out.")


class ExchangeFlow(BaseModel):
    entity: str = Field(description="Entity slug: a pool, 'unknown' or 'all'.")
    exchange: str = Field(description="The exchange: the label's entity text.")
    value: int = Field(description="Sats: pro-rata shares of outputs paying it (direct transfers).")


class ExchangeFlows(BaseModel):
    data: list[ExchangeFlow] = Field(description=ROWS)
    count: int = Field(description=COUNT)
    tip_height: int = Field(description=TIP_HEIGHT)
    window: str = Field(description=WINDOW)
    level: int = Field(description="0 or 1 (level 1 holds level 0).")
    from_height: int = Field(description="First height of the window.")
    next_cursor: int | None = Field(description=NEXT_CURSOR)
    stale: bool = Field(default=False, description=STALE)
    stale_reason: str | None = Field(default=None, description=STALE_REASON)


class ExchangeSummary(BaseModel):
    """One exchange of the label set (or `all`) at the tip (SPEC 5.1)."""

    slug: str = Field(description="The exchange's slug (SPEC 5.1), or 'all': every exchange's "
                      "scripts as one entity.")
    name: str = Field(description="The labels' entity text, verbatim ('All exchanges' for all).")
    id: int | None = Field(description="1..N in the order of each exchange's first row in the "
                           "imported labels; null for all.")
    scripts: int = Field(description="Scripts the label set holds for it.")
    balance: int = Field(description="Sats: unspent outputs at its scripts after the tip.")
    netflow_24h: int = Field(description="Sats: inflow - outflow of the blocks of the last 24 "
                             "hours (chain time later than the tip's minus the window).")
    netflow_7d: int = Field(description="Sats: inflow - outflow over the last 7 days.")
    netflow_30d: int = Field(description="Sats: inflow - outflow over the last 30 days.")


class ExchangeList(BaseModel):
    data: list[ExchangeSummary] = Field(description=ROWS)
    count: int = Field(description=COUNT)
    tip_height: int = Field(description=TIP_HEIGHT)
    next_cursor: int | None = Field(description=NEXT_CURSOR)
    stale: bool = Field(default=False, description=STALE)
    stale_reason: str | None = Field(default=None, description=STALE_REASON)


class ExchangeRow(BaseModel):
    """One row of an exchange's series (SPEC 5.1, docs/metrics.md). Daily, weekly and monthly
    rows carry `day` and `partial`; per-block rows `height`, `hash` and `time`."""

    model_config = ConfigDict(extra="forbid")  # a field the rows gain must be described here

    day: str | None = Field(None, description="First UTC day of the row (day, week from Monday "
                            "or month); absent per block.")
    height: int | None = Field(None, description="Per block: the block's height.")
    hash: str | None = Field(None, description="Per block: the block's hash.")
    time: int | None = Field(None, description="Per block: its chain time (unix seconds).")
    balance: int = Field(description="Sats: unspent outputs at the exchange's scripts after the "
                         "row's last block.")
    inflow: int = Field(description="Sats: what outputs paying its scripts received from "
                        "outside it (coinbase outputs included).")
    outflow: int = Field(description="Sats: its pro-rata share of outputs paying elsewhere.")
    netflow: int = Field(description="Sats: inflow - outflow.")
    fees: int = Field(description="Sats: its pro-rata share of the fees of what it spent.")
    from_miners_level0: int = Field(description="Sats: miner coins of level 0 sent to it "
                                    "directly (to_exchange_by summed over the pools).")
    from_miners_level1: int = Field(description="Sats: the same for miner coins of level <= 1.")
    from_coinbase: int = Field(description="Sats: coinbase outputs paying its scripts (part of "
                               "inflow, not of from_miners).")
    partial: bool | None = Field(None, description=PARTIAL + " Absent per block.")


class ExchangeSeriesPage(BaseModel):
    data: list[ExchangeRow] = Field(description=ROWS)
    count: int = Field(description=COUNT)
    tip_height: int = Field(description=TIP_HEIGHT)
    exchange: str = Field(description="The exchange's slug, or 'all'.")
    interval: str = Field(description="day, week, month or block.")
    next_cursor: int | str | None = Field(description="Pass as `cursor` for the next page.")
    stale: bool = Field(default=False, description=STALE)
    stale_reason: str | None = Field(default=None, description=STALE_REASON)
