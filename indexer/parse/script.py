"""Output scripts: classification and address encoding/decoding (base58check, bech32, bech32m).

Written here rather than taken from python-bitcoinlib, which knows no bech32m (taproot) and picks
its network through a process-wide global.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from indexer.config import Network

OP_RETURN = 0x6A
MAX_SCRIPT_SIZE = 10_000
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58)}
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_INDEX = {c: i for i, c in enumerate(_BECH32)}
_BECH32_CONST = 1
_BECH32M_CONST = 0x2BC830A3
SEGWIT_HRPS = ("bc", "tb", "bcrt")  # mainnet, testnet and signet, regtest


def _reduce_xor(values: Iterable[int]) -> int:
    out = 0
    for value in values:
        out ^= value
    return out


class AddressError(ValueError):
    """An address that does not decode for the network at hand."""


def is_unspendable(script: bytes) -> bool:
    """OP_RETURN outputs and scripts over the consensus size limit can never be spent."""
    return (len(script) > 0 and script[0] == OP_RETURN) or len(script) > MAX_SCRIPT_SIZE


def classify(script: bytes) -> str:
    """The standard type of an output script: p2pk, p2pkh, p2sh, p2wpkh, p2wsh, p2tr, ..."""
    n = len(script)
    if n == 25 and script[:3] == b"\x76\xa9\x14" and script[23:] == b"\x88\xac":
        return "p2pkh"
    if n == 23 and script[:2] == b"\xa9\x14" and script[22] == 0x87:
        return "p2sh"
    if n == 22 and script[:2] == b"\x00\x14":
        return "p2wpkh"
    if n == 34 and script[:2] == b"\x00\x20":
        return "p2wsh"
    if n == 34 and script[:2] == b"\x51\x20":
        return "p2tr"
    if (n == 35 and script[0] == 33 and script[1] in (2, 3) and script[34] == 0xAC) or (
        n == 67 and script[0] == 65 and script[1] == 4 and script[66] == 0xAC
    ):
        return "p2pk"
    if n > 0 and script[0] == OP_RETURN:
        return "op_return"
    if 4 <= n <= 42 and (script[0] == 0 or 0x51 <= script[0] <= 0x60) and script[1] == n - 2:
        return "witness_unknown"
    return "nonstandard"


def address_of(script: bytes, network: Network) -> str | None:
    """The address paying `script` on `network`, or None when it has none (P2PK, OP_RETURN...)."""
    kind = classify(script)
    if kind == "p2pkh":
        return base58check_encode(bytes([network.p2pkh_prefix]) + script[3:23])
    if kind == "p2sh":
        return base58check_encode(bytes([network.p2sh_prefix]) + script[2:22])
    if kind in ("p2wpkh", "p2wsh", "p2tr", "witness_unknown"):
        version = 0 if script[0] == 0 else script[0] - 0x50
        return segwit_encode(network.bech32_hrp, version, script[2:])
    return None


def script_for_address(address: str, network: Network) -> bytes:
    """The output script that pays `address` on `network`; AddressError if it is not one of its."""
    return script_for(address.strip(), network.bech32_hrp, network.p2pkh_prefix,
                      network.p2sh_prefix, network.name)


def script_for(address: str, hrp: str, p2pkh_prefix: int, p2sh_prefix: int,
               network_name: str = "this network") -> bytes:
    """The output script `address` (taken as it is: no spaces around it) names on the network
    of segwit prefix `hrp` and base58 version bytes `p2pkh_prefix`, `p2sh_prefix`; AddressError
    when it names none. A text whose part before its last "1" is a known segwit prefix is read
    as bech32/bech32m, any other as base58check."""
    if not address:
        raise AddressError("empty address")
    if not address.isascii():
        raise AddressError(f"{address!r}: not an ASCII text")
    hrp_sep = address.rfind("1")
    if hrp_sep > 0 and address[:hrp_sep].lower() in SEGWIT_HRPS:
        found = address[:hrp_sep].lower()
        if found != hrp:
            raise AddressError(f"{address} is a {found} address, not one of {network_name}")
        version, program = segwit_decode(hrp, address)
        op = 0 if version == 0 else 0x50 + version
        return bytes([op, len(program)]) + program
    payload = base58check_decode(address)
    if len(payload) != 21:
        raise AddressError(f"{address}: base58 payload of {len(payload)} bytes, expected 21")
    if payload[0] == p2pkh_prefix:
        return b"\x76\xa9\x14" + payload[1:] + b"\x88\xac"
    if payload[0] == p2sh_prefix:
        return b"\xa9\x14" + payload[1:] + b"\x87"
    raise AddressError(f"{address}: version byte {payload[0]} is not one of {network_name}")


def base58check_encode(payload: bytes) -> str:
    data = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(_B58[r])
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + "".join(reversed(out))


def base58check_decode(text: str) -> bytes:
    n = 0
    index = _B58_INDEX
    try:
        for c in text:
            n = n * 58 + index[c]
    except KeyError as exc:
        raise AddressError(f"{text}: {exc.args[0]!r} is not a base58 character") from None
    pad = len(text) - len(text.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    data = b"\0" * pad + body
    if len(data) < 5:
        raise AddressError(f"{text}: too short for base58check")
    payload, check = data[:-4], data[-4:]
    if hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] != check:
        raise AddressError(f"{text}: bad base58 checksum")
    return payload


_BECH32_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
# the generator terms for every value of the top five bits, XORed together ahead of time
_POLYMOD_TERMS = tuple(
    _reduce_xor(g for i, g in enumerate(_BECH32_GEN) if top >> i & 1) for top in range(32))


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        chk = (chk & 0x1FFFFFF) << 5 ^ v ^ _POLYMOD_TERMS[chk >> 25]
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convertbits(data: bytes | list[int], frombits: int, tobits: int, pad: bool) -> list[int]:
    acc = bits = 0
    out: list[int] = []
    maxv = (1 << tobits) - 1
    for value in data:
        if value >> frombits:
            raise AddressError("invalid bech32 data value")
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (tobits - bits)) & maxv)
    elif bits >= frombits or ((acc << (tobits - bits)) & maxv):
        raise AddressError("invalid bech32 padding")
    return out


def segwit_encode(hrp: str, version: int, program: bytes) -> str:
    data = [version] + _convertbits(program, 8, 5, True)
    const = _BECH32_CONST if version == 0 else _BECH32M_CONST
    polymod = _polymod(_hrp_expand(hrp) + data + [0] * 6) ^ const
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32[d] for d in data + checksum)


def segwit_decode(hrp: str, address: str) -> tuple[int, bytes]:
    """(witness version, program) of a segwit address (BIP173/BIP350 rules)."""
    if address.lower() != address and address.upper() != address:
        raise AddressError(f"{address}: mixed case")
    text = address.lower()
    pos = text.rfind("1")
    if text[:pos] != hrp or len(text) > 90 or len(text) - pos - 1 < 6:
        raise AddressError(f"{address}: not a {hrp} segwit address")
    try:
        data = [_BECH32_INDEX[c] for c in text[pos + 1:]]
    except KeyError:
        raise AddressError(f"{address}: invalid bech32 character") from None
    const = _polymod(_hrp_expand(hrp) + data)
    if const not in (_BECH32_CONST, _BECH32M_CONST):
        raise AddressError(f"{address}: bad bech32 checksum")
    version = data[0]
    program = bytes(_convertbits(data[1:-6], 5, 8, False))
    if version > 16 or not 2 <= len(program) <= 40:
        raise AddressError(f"{address}: invalid witness program")
    if version == 0 and len(program) not in (20, 32):
        raise AddressError(f"{address}: invalid v0 witness program length")
    if (version == 0) != (const == _BECH32_CONST):
        raise AddressError(f"{address}: wrong checksum variant for witness v{version}")
    return version, program
