"""Fuzz targets of the coin store's compiled loops (`indexer/fastpath/coinstore.c`) against their
reference (`indexer/fastpath/coinstore.py`).

The fuzzer's bytes choose an outpoint (now and then a txid of the wrong length, a vout out of
range, a value of the wrong type), the write buffer's layers and the index's answer for
`get_coin`, and the buffer's state and a block's coins for `put_coins`. Both implementations
must give the same result or raise the same error type, and leave the buffer's state the same,
dict order included.
"""

from __future__ import annotations

from typing import Any

from indexer.fastpath import coinstore
from indexer.store import keys
from tests.fuzz.harness import Reader, compiled, odd_int, outcome


def _outpoint(r: Reader) -> tuple[Any, Any]:
    """Mostly one of four txids (so that keys meet), now and then an odd part."""
    txid: Any = bytes([r.u8() % 4]) * 32
    vout: Any = r.u8() % 3
    odd = r.u8() % 32
    if odd == 1:
        txid = txid[:r.u8() % 40]
    elif odd == 2:
        txid = txid.hex()
    elif odd == 3:
        vout = odd_int(r, vout)
    elif odd == 4:
        vout = float(vout)
    elif odd == 5:
        vout = 0xFFFFFFFF + r.u8() % 2
    return txid, vout


def _key(outpoint: tuple[Any, Any]) -> bytes | None:
    try:
        return keys.coin_key(*outpoint)
    except Exception:  # noqa: BLE001 - any odd part (struct.error for a vout out of range)
        return None


def _stored(r: Reader) -> Any:
    """A value as a layer or the index may hold it."""
    mode = r.u8() % 16
    if mode == 0:
        return None
    if mode == 1:
        return r.take(r.u8() % 20)  # a wrong length now and then, 15 by chance
    if mode == 2:
        return 15
    if mode == 3:
        return bytearray(r.take(15))
    return r.take(15)


def _coin(r: Reader) -> Any:
    entity, level, value = r.u8() % 5, r.u8() % 2, r.u64() % 5_000_000_000
    time = r.u64() % (1 << 32)
    odd = r.u8() % 32
    if odd == 1:
        entity = 0xFFFF + r.u8() % 2
    elif odd == 2:
        level = odd_int(r, level)
    elif odd == 3:
        value = odd_int(r, value)
    elif odd == 4:
        return (entity, level)
    elif odd == 5:
        return [entity, level, value, time]
    elif odd == 6:
        return (entity, level, str(value), time)
    elif odd == 7:
        return (entity, level, value, (1 << 32) + r.u8())
    elif odd == 8:
        return (entity, level, value)
    return (entity, level, value, time)


def get_coin(raw: bytes) -> None:
    """The same coin, or the same error, from the same layers and index; the index is asked
    exactly when no layer holds the key."""
    r = Reader(raw)
    outpoint = _outpoint(r)
    key = _key(outpoint)
    layers: Any = []
    for _ in range(r.u8() % 4):
        shape = r.u8() % 16
        layer: dict[Any, Any] = {bytes([n]) * 37: b"" for n in range(r.u8() % 3)}
        if key is not None and shape % 2:
            layer[key] = _stored(r)
        layers.append(layer if shape != 15 else list(layer))
    if r.u8() % 32 == 1:
        layers = tuple(layers)
    index_answer = _stored(r)
    index_fails = r.u8() % 16 == 1
    results = []
    for impl in (compiled(), coinstore):
        asked: list[bytes] = []

        def get(k: bytes, asked: list[bytes] = asked) -> Any:
            asked.append(k)
            if index_fails:
                raise ValueError("the index failed")
            return index_answer

        results.append((outcome(impl.get_coin, layers, get, *outpoint), asked))
    assert results[0] == results[1], (
        f"get_coin: compiled {results[0]!r} != reference {results[1]!r}")


def put_coins(raw: bytes) -> None:
    """A block's spent coins, then its created ones, put into the same write-buffer state: the
    same error type after the same items, and the same undo, overlay and born keys after."""
    params = raw

    def world() -> tuple[Any, Any, Any, Any, Any]:
        r = Reader(params)
        undo: Any = {}
        overlay: Any = {}
        born: Any = set()
        for _ in range(r.u8() % 4):
            key = _key(_outpoint(r))
            if key is None:
                continue
            where = r.u8() % 8
            if where & 1:
                undo[key] = _stored(r) if where & 4 else None
            if where & 2:
                overlay[key] = _stored(r) if where & 4 else None
            if where == 4:
                born.add(key)
        spent = {_outpoint(r): _coin(r) for _ in range(r.u8() % 5)}
        created = {_outpoint(r): _coin(r) for _ in range(r.u8() % 5)}
        odd = r.u8() % 32
        if odd == 1:
            born = frozenset(born)
        elif odd == 2:
            overlay = list(overlay.items())
        return undo, overlay, born, (spent, created), (odd == 3)

    results = []
    for impl in (compiled(), coinstore):
        undo, overlay, born, (spent, created), flag_as_int = world()
        first = outcome(impl.put_coins, undo, overlay, born, spent, False)
        second = outcome(impl.put_coins, undo, overlay, born, created, 1 if flag_as_int else True)
        results.append((first, second, list(undo.items()),
                        list(overlay.items()) if isinstance(overlay, dict) else overlay,
                        sorted(born)))
    assert results[0] == results[1], (
        f"put_coins: compiled {results[0][:2]!r} != reference {results[1][:2]!r} or their states")
