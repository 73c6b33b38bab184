"""Response models, separate from storage types."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Window = Literal["24h", "3d", "1w", "1m", "3m", "6m", "1y", "all"]


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
                       "last_error), stopped, or dead (the follower ended; see last_error).")
    node_tip: int | None
    lag: int | None = Field(description="Node tip minus index tip; negative while the node is "
                            "behind the index.")
    syncing: bool
    last_sync: float | None = Field(description="Unix time of the last successful sync.")
    last_error: str | None
    last_error_time: float | None
    note: str | None = Field(description="Why the follower waits, when it does.")


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
    pools: int
    node: NodeStatus


class Balances(BaseModel):
    level0: int
    level1: int


class PoolShare(BaseModel):
    id: int
    slug: str
    name: str
    blocks: int
    share: float
    balance: Balances


class PoolList(BaseModel):
    data: list[PoolShare]
    count: int
    tip_height: int
    window: str
    from_height: int
    total_blocks: int


class PoolDetail(BaseModel):
    id: int
    slug: str
    name: str
    link: str
    tags: list[str]
    addresses: list[str]
    blocks: dict[str, int]
    share: dict[str, float]
    balance: Balances
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
    next_cursor: int | None


class CoinbaseOutput(BaseModel):
    value: int
    script: str
    type: str
    address: str | None


class BlockDetail(BlockRow):
    header_time: int
    bits: str
    coinbase_value: int
    coinbase_hex: str
    coinbase_text: str
    outputs: list[CoinbaseOutput]


class EntityBalance(BaseModel):
    entity: str
    name: str
    level0: int
    level1: int


class BalanceList(BaseModel):
    data: list[EntityBalance]
    count: int
    tip_height: int


class SeriesPage(BaseModel):
    data: list[dict[str, object]]
    count: int
    tip_height: int
    entity: str
    level: int
    interval: str


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
