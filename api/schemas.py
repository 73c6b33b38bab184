"""Response models, separate from storage types."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Window = Literal["24h", "3d", "1w", "1m", "3m", "6m", "1y", "all"]
Interval = Literal["day", "week", "month", "block"]  # indexer.series.INTERVALS


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="Where: e.g. [\"query\", \"since\"].")
    msg: str
    type: str


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer: one line for people, the fields at fault for programs."""

    detail: str = Field(description="What is wrong, in one line.")
    errors: list[FieldError] = Field(default_factory=list)


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
    node_tip: int | None
    lag: int | None = Field(description="Node tip minus index tip; negative while the node is "
                            "behind the index.")
    syncing: bool
    last_sync: float | None = Field(description="Unix time of the last successful sync.")
    last_error: str | None
    last_error_time: float | None
    note: str | None = Field(description="Why the follower waits, when it does.")


class PriceRange(BaseModel):
    first: str
    last: str
    days: int


class PoolsVersion(BaseModel):
    sha256: str
    blocks: int


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
    derived_hash: str | None
    rule_version: str | None


class Status(BaseModel):
    version: str
    network: str
    index_format: int
    genesis: str
    tip_height: int
    tip_hash: str | None
    tip_time: int | None
    pools_sha256: str
    labels_sha256: str
    labels: LabelsMap
    pools: int
    pools_versions: list[PoolsVersion] = Field(description="The pools lists that attributed "
                                               "the index's blocks, oldest first.")
    stale: bool = Field(description="The miner series were built with another pools list "
                        "than the blocks' attribution (after `pools update`).")
    stale_reason: str | None
    prices: PriceRange | Literal["none"] = Field(description="The imported daily USD closes, "
                                                  "or none: USD fields are then left out.")
    node: NodeStatus


class Balances(BaseModel):
    level0: int
    level1: int


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
    id: int
    slug: str
    name: str
    blocks: int
    share: float = Field(description="Of the window's blocks.")
    hashrate: float | None = Field(description=HASHRATE)
    empty_blocks: int = Field(description="Blocks holding the coinbase only.")
    revenue: int = Field(description=REVENUE)
    balance: Balances


class PoolList(BaseModel):
    data: list[PoolShare]
    count: int
    tip_height: int
    window: str
    from_height: int
    total_blocks: int
    hashrate: float | None = Field(description="The network's, " + HASHRATE)
    next_cursor: int | None
    stale: bool = Field(default=False, description="The miner series (and balances) were "
                        "built with other lists than the index's now; see stale_reason.")
    stale_reason: str | None = Field(default=None, description="Why, and what brings them up "
                                     "to date (`minerflow rebuild`).")


class PoolDetail(BaseModel):
    id: int
    slug: str
    name: str
    link: str
    tags: list[str]
    addresses: list[str]
    blocks: dict[str, int] = Field(description="Per window.")
    share: dict[str, float] = Field(description="Per window.")
    hashrate: dict[str, float | None] = Field(description="Per window; " + HASHRATE)
    empty_blocks: dict[str, int] = Field(description="Per window.")
    revenue: dict[str, int] = Field(description="Per window; " + REVENUE)
    balance: Balances
    tip_height: int
    stale: bool = Field(default=False, description="The miner series (and balances) were "
                        "built with other lists than the index's now; see stale_reason.")
    stale_reason: str | None = Field(default=None, description="Why, and what brings them up "
                                     "to date (`minerflow rebuild`).")


DATE = "First UTC day of the row: its day, week (from Monday) or month."
FEES = "Sats: coinbase outputs minus subsidy, what miners claimed (negative when less)."
SUBSIDY = "Sats: the halving schedule's subsidy of the blocks."
ROW_HASHRATE = "H/s: the work of the row's blocks over the row's full length in seconds."


class NetworkRow(BaseModel):
    day: str = Field(description=DATE)
    blocks: int
    subsidy: int = Field(description=SUBSIDY)
    fees: int = Field(description=FEES)
    difficulty: float | None = Field(description="Of the last block up to the row's end: the "
                                     "network's pow-limit target over the block's target.")
    hashrate: float = Field(description=ROW_HASHRATE)
    supply: int = Field(description=SUPPLY)
    partial: bool = Field(description=PARTIAL)


class PoolRow(BaseModel):
    day: str = Field(description=DATE)
    blocks: int
    share: float | None = Field(description="Of the row's blocks; null when there were none.")
    hashrate: float = Field(description=ROW_HASHRATE)
    subsidy: int = Field(description=SUBSIDY)
    fees: int = Field(description=FEES)
    empty_blocks: int
    partial: bool = Field(description=PARTIAL)
    hashrate_7d: float | None = Field(default=None, description="H/s: mean over the 7 days "
                                      "ending at the row (daily hash rate endpoint only).")


class NetworkBlockRow(BaseModel):
    height: int
    hash: str
    time: int = Field(description="Chain time (unix seconds).")
    pool: str
    tx_count: int
    size: int = Field(description="Bytes.")
    weight: int = Field(description="Weight units (BIP 141).")
    subsidy: int = Field(description=SUBSIDY)
    fees: int = Field(description=FEES)
    difficulty: float
    empty: bool = Field(description="The coinbase is the block's only transaction.")
    supply: int = Field(description=SUPPLY)


class NetworkSeriesPage(BaseModel):
    data: list[NetworkRow] | list[PoolRow] | list[NetworkBlockRow]
    count: int
    tip_height: int
    pool: str | None
    interval: str
    next_cursor: int | str | None = Field(description="Pass as `cursor` for the next page.")


class PoolHashratePage(BaseModel):
    data: list[PoolRow]
    count: int
    tip_height: int
    pool: str
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class DifficultyAdjustment(BaseModel):
    height: int
    hash: str
    time: int = Field(description="Chain time (unix seconds).")
    difficulty: float
    previous_difficulty: float
    change: float | None = Field(description="difficulty / previous_difficulty.")


class AdjustmentPage(BaseModel):
    data: list[DifficultyAdjustment]
    count: int
    tip_height: int
    next_cursor: int | None = Field(description="Pass as `cursor` for the next page.")


class RewardStats(BaseModel):
    from_height: int | None
    to_height: int | None
    blocks: int
    subsidy: int = Field(description=SUBSIDY)
    fees: int = Field(description=FEES)
    revenue: int = Field(description=REVENUE)
    tx_count: int = Field(description="Transactions, coinbases included.")
    empty_blocks: int
    tip_height: int


class BlockRow(BaseModel):
    height: int
    hash: str
    time: int
    pool_id: int
    pool: str
    pool_name: str
    method: str
    conflict: bool
    tag_pool: str | None
    tx_count: int
    size: int


class BlockPage(BaseModel):
    data: list[BlockRow]
    count: int
    tip_height: int
    next_cursor: int | None = Field(description="Pass as `cursor` for the next page.")


class CoinbaseOutput(BaseModel):
    value: int
    script: str
    type: str
    address: str | None


class BlockDetail(BlockRow):
    header_time: int
    bits: str
    pools_sha256: str | None = Field(description="The pools list that attributed the block.")
    coinbase_value: int
    coinbase_hex: str
    coinbase_text: str
    outputs: list[CoinbaseOutput]


class EntityBalance(BaseModel):
    entity: str
    name: str
    level0: int
    level1: int
    level0_share_of_supply: float = Field(description=SHARE_OF_SUPPLY)
    level1_share_of_supply: float = Field(description=SHARE_OF_SUPPLY)


class BalanceList(BaseModel):
    data: list[EntityBalance]
    count: int
    tip_height: int
    supply: int = Field(description="Sats issued by the schedule to the tip (SPEC 5.2).")
    next_cursor: int | None
    stale: bool = Field(default=False, description="The miner series (and balances) were "
                        "built with other lists than the index's now; see stale_reason.")
    stale_reason: str | None = Field(default=None, description="Why, and what brings them up "
                                     "to date (`minerflow rebuild`).")


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
    mined_usd: float | None = None
    inflow_usd: float | None = None
    outflow_usd: float | None = None
    fees_usd: float | None = None
    to_exchange_usd: float | None = None
    revenue_usd: float | None = Field(None, description="derived, with prices: the day's "
                                      "revenue in USD.")
    puell_multiple: float | None = Field(None, description="derived, with prices: the day's "
                                         "issuance in USD over its 365-day mean.")
    mpi: float | None = Field(None, description="derived, with prices: the Miners' Position "
                              "Index of the entity's outflow in USD.")


class SeriesPage(BaseModel):
    data: list[MinerRow]
    count: int
    tip_height: int
    entity: str
    level: int
    interval: str
    next_cursor: int | str | None = Field(description="Pass as `cursor` for the next page.")
    stale: bool = Field(default=False, description="The miner series (and balances) were "
                        "built with other lists than the index's now; see stale_reason.")
    stale_reason: str | None = Field(default=None, description="Why, and what brings them up "
                                     "to date (`minerflow rebuild`).")
    prices: Literal["imported", "none"] = Field(
        default="none", description="imported: rows carry <field>_usd (null on days without a "
        "close) and derived rows revenue_usd, puell_multiple and mpi; none: they are left out.")


class ExchangeFlow(BaseModel):
    entity: str
    exchange: str
    value: int


class ExchangeFlows(BaseModel):
    data: list[ExchangeFlow]
    count: int
    tip_height: int
    window: str
    level: int
    from_height: int
    next_cursor: int | None
    stale: bool = Field(default=False, description="The miner series (and balances) were "
                        "built with other lists than the index's now; see stale_reason.")
    stale_reason: str | None = Field(default=None, description="Why, and what brings them up "
                                     "to date (`minerflow rebuild`).")
