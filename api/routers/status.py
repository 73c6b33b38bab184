"""GET /v1/status: what the index holds and how fresh it is."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Reader
from api.schemas import Status
from indexer import __version__

router = APIRouter(tags=["status"])


@router.get("/status", response_model=Status)
def get_status(reader: Reader) -> Status:
    state = reader.state
    tip_time = reader.block(state.tip_height).chain_time if state.tip_height >= 0 else None
    return Status(version=__version__, network=state.network, index_format=state.format,
                  genesis=state.genesis, tip_height=state.tip_height, tip_hash=state.tip_hash,
                  tip_time=tip_time, pools_sha256=state.pools_sha256,
                  labels_sha256=state.labels_sha256, pools=len(reader.pools.pools) - 1)
