"""GET /v1/blocks/{height or hash}: one block's attribution with its coinbase."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Reader
from api.schemas import BlockDetail

router = APIRouter(tags=["blocks"])


@router.get("/blocks/{ref}", response_model=BlockDetail)
def get_block(reader: Reader, ref: str) -> BlockDetail:
    """A block by height or hash: pool, method, conflict, coinbase text and payout outputs."""
    return BlockDetail(**reader.block_detail(reader.block_by_ref(ref)))
