"""Response models, separate from storage types."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

Window = Literal["24h", "3d", "1w", "1m", "3m", "6m", "1y", "all"]


class NodeStatus(BaseModel):
    following: bool
    node_tip: int | None
    lag: int | None
    syncing: bool
    last_sync: float | None
    last_error: str | None


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
