"""The tracked coins' reads and writes through the write buffer: the reference of coinstore.c.

`get_coin` is how the cohort step reads a coin from before its block (the write buffer's layers,
newest first, then the index); `put_coins` is how the applier writes a block's spent and created
coins. Both are the store's own definitions put together (`keys.coin_key`, `keys.pack_coin`,
`keys.unpack_coin`, `batch.put_entries`) with every argument checked, so that the compiled twin
can be held to them input by input: the same result and the same changes to the buffer, or the
same error type (TypeError for a wrong type, ValueError for a wrong length, OverflowError for a
number out of range), after the same items.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from indexer.store import keys
from indexer.store.batch import put_entries

Coin = tuple[int, int, int, int]  # entity, level, value, chain time of the block that made it
Layer = dict[bytes, "bytes | None"]


def _outpoint_key(txid_rev: object, vout: object) -> bytes:
    if not isinstance(txid_rev, bytes) or not isinstance(vout, int):
        raise TypeError("an outpoint is (txid_rev bytes, vout int)")
    if len(txid_rev) != 32:
        raise ValueError("a txid is 32 bytes")
    if not 0 <= vout <= 0xFFFFFFFF:
        raise OverflowError("a vout is a u32")
    return keys.coin_key(txid_rev, vout)


def _coin_value(coin: object) -> bytes:
    if not isinstance(coin, tuple) or len(coin) != 4:
        raise TypeError("a coin is (entity, level, value, time) ints")
    for part, top in zip(coin, (0xFFFF, 0xFF, (1 << 64) - 1, 0xFFFFFFFF), strict=True):
        if not isinstance(part, int):
            raise TypeError("a coin is (entity, level, value, time) ints")
        if not 0 <= part <= top:
            raise OverflowError("a coin field out of range")
    return keys.pack_coin(*coin)


def get_coin(layers: list[Layer], get: Callable[[bytes], bytes | None], txid_rev: bytes,
             vout: int) -> Coin | None:
    """The coin at `keys.coin_key(txid_rev, vout)`: from the first layer holding the key (None
    there is a deleted coin), else `get(key)` (the index)."""
    key = _outpoint_key(txid_rev, vout)
    if type(layers) is not list:
        raise TypeError("layers is a list of dicts")
    for layer in layers:
        if type(layer) is not dict:
            raise TypeError("layers is a list of dicts")
        if key in layer:
            raw = layer[key]
            break
    else:
        raw = get(key)
    if raw is None:
        return None
    if not isinstance(raw, bytes):
        raise TypeError("a stored coin is bytes or None")
    if len(raw) != keys.COIN_VALUE_SIZE:
        raise ValueError(f"a stored coin is {keys.COIN_VALUE_SIZE} bytes, not {len(raw)}")
    return keys.unpack_coin(raw)


def put_coins(undo: dict[bytes, bytes | None], overlay: Layer, born: set[bytes],
              coins: dict[tuple[bytes, int], Coin], created: bool) -> None:
    """Put each coin of `coins` into the write buffer's state (`WriteBuffer.put_state`) by its
    rule: as the key's new value when `created`, else as a delete whose undo is the coin."""
    if (type(undo) is not dict or type(overlay) is not dict or type(born) is not set
            or type(coins) is not dict or not isinstance(created, bool)):
        raise TypeError("put_coins takes three dicts, a set and a bool, in that order")
    put_entries(undo, overlay, born, _coin_puts(list(coins.items()), created))


def _coin_puts(items: list[tuple[object, object]], created: bool
               ) -> Iterator[tuple[bytes, bytes | None, bytes | None]]:
    for outpoint, coin in items:
        if not isinstance(outpoint, tuple) or len(outpoint) != 2:
            raise TypeError("an outpoint is (txid_rev bytes, vout int)")
        key = _outpoint_key(*outpoint)
        packed = _coin_value(coin)
        yield (key, packed, None) if created else (key, None, packed)
