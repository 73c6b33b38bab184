"""What every fuzz target shares: the compiled module under test, outcomes compared between the
compiled core and its reference, and the fuzzer's bytes read as parameters."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from indexer.fastpath import reference

TYPED = (ValueError, TypeError, OverflowError)  # the errors both implementations may raise


class _Compiled:
    """The compiled module under test: the installed build, or a sanitizer build."""

    module: ModuleType | None = None


def use_compiled(module: ModuleType) -> None:
    _Compiled.module = module


def compiled() -> ModuleType:
    if _Compiled.module is None:
        from indexer.fastpath import _core  # type: ignore[attr-defined]

        _Compiled.module = _core
    return _Compiled.module


def outcome(fn: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    """('ok', result) or ('raise', error type name); any other exception escapes."""
    try:
        return "ok", fn(*args)
    except TYPED as exc:
        return "raise", type(exc).__name__


def agree(what: str, fn_name: str, *args: Any) -> tuple[str, Any]:
    got = outcome(getattr(compiled(), fn_name), *args)
    want = outcome(getattr(reference, fn_name), *args)
    assert got == want, f"{what}: compiled {got!r} != reference {want!r}"
    return got


class Reader:
    """Fuzzer bytes consumed as parameters; past the end every read gives zeros."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.p = 0

    def take(self, n: int) -> bytes:
        out = self.raw[self.p:self.p + n]
        self.p += n
        return out.ljust(n, b"\0")

    def u8(self) -> int:
        return self.take(1)[0]

    def u64(self) -> int:
        return int.from_bytes(self.take(8), "little")

    def rest(self) -> bytes:
        out = self.raw[self.p:]
        self.p = len(self.raw)
        return out


def odd_int(r: Reader, natural: int) -> int:
    """`natural`, near it, or an absurd value, as the fuzzer's bytes choose."""
    mode = r.u8() % 8
    if mode < 4:
        return natural
    if mode == 4:
        return natural + r.u8() - 128
    if mode == 5:
        return int.from_bytes(r.take(2), "little", signed=True)
    if mode == 6:
        return (1 << 63) - 1 - r.u8()
    return -(1 << 63) + r.u8() if r.u8() % 2 else (1 << 64) + r.u8()
