"""GET /v1/status: what the index holds, how fresh it is, and how following the node goes."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.deps import Reader, public_text
from api.schemas import LabelsMap, NodeStatus, PoolsVersion, PriceRange, Status
from indexer import __version__
from indexer.follow import Follower
from indexer.labels.indexed import labels_info
from indexer.prices import price_summary

router = APIRouter(tags=["status"])


@router.get("/status", response_model=Status)
def get_status(reader: Reader, request: Request) -> Status:
    state = reader.state
    tip_time = reader.block(state.tip_height).chain_time if state.tip_height >= 0 else None
    follower: Follower | None = request.app.state.served.follower
    if follower is None:
        node = NodeStatus(following=False, state="off", node_tip=None, lag=None, syncing=False,
                          last_sync=None, last_error=None, last_error_time=None, note=None)
    else:
        s = follower.status
        node = NodeStatus(following=follower.alive, state=s.state, node_tip=s.node_tip,
                          lag=None if s.node_tip is None else s.node_tip - state.tip_height,
                          syncing=s.syncing, last_sync=s.last_sync,
                          last_error=public_text(s.last_error),
                          last_error_time=s.last_error_time, note=public_text(s.note))
    return Status(version=__version__, network=state.network, index_format=state.format,
                  genesis=state.genesis, tip_height=state.tip_height, tip_hash=state.tip_hash,
                  tip_time=tip_time, pools_sha256=state.pools_sha256,
                  labels_sha256=state.labels_sha256,
                  labels=LabelsMap(**labels_info(reader.store)), pools=len(reader.pools.pools) - 1,
                  pools_versions=[PoolsVersion(sha256=sha, blocks=n)
                                  for sha, n in reader.pools_versions()],
                  stale=state.stale is not None, stale_reason=state.stale,
                  prices=PriceRange(first=span.first, last=span.last, days=span.days)
                  if (span := price_summary(reader)) else "none",
                  node=node)
