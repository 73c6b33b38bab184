"""Script classification and the address codec: BIP173/BIP350 vectors, real mainnet payouts
checked against python-bitcoinlib, network rules, and round-trip properties; the fast address
decoder (compiled and reference) against the codec."""

from __future__ import annotations

from types import ModuleType

import pytest
from bitcoin.core import CBlock
from hypothesis import given
from hypothesis import strategies as st

from indexer.config import Network, get_network
from indexer.fastpath import reference
from indexer.parse.script import (
    AddressError,
    address_of,
    classify,
    is_unspendable,
    script_for_address,
)
from tests.conftest import DATA

MAIN = get_network("main")


def compiled_core() -> ModuleType | None:
    try:
        from indexer.fastpath import _core  # type: ignore[attr-defined]  # noqa: PLC0415
    except ImportError:
        return None
    return _core  # type: ignore[no-any-return]

REGTEST = get_network("regtest")

# (address, scriptPubKey hex): BIP173 and BIP350 valid vectors, plus base58 mainnet addresses.
VECTORS = [
    ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "0014751e76e8199196d454941c45d1b3a323f1433bd6"),
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
     "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"),
    ("bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
     "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262"),
    ("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "76a91477bff20c60e522dfaa3350c39b030a5d004e839a88ac"),
    ("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "a914b472a266d0bd89c13706a4132ccfb16f7c3b9fcb87"),
]


@pytest.mark.parametrize("address,script_hex", VECTORS)
def test_vectors_decode_and_encode(address: str, script_hex: str) -> None:
    script = bytes.fromhex(script_hex)
    assert script_for_address(address, MAIN) == script
    canonical = address.lower() if address[:2].lower() == "bc" else address  # bech32: lower case
    assert address_of(script, MAIN) == canonical


@pytest.mark.parametrize("bad", [
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5",  # bad checksum
    "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7Kv8f3t4",  # mixed case
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",  # bech32 for v1
    "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3",  # bad base58 checksum
    "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",  # testnet on mainnet
    "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn",  # testnet base58 on mainnet
    "",
])
def test_invalid_or_foreign_addresses_are_rejected(bad: str) -> None:
    with pytest.raises(AddressError):
        script_for_address(bad, MAIN)


def test_real_coinbase_payouts_classify_and_encode() -> None:
    raw = next((DATA / "mainnet" / "blocks").glob("702861-*.bin")).read_bytes()
    kinds = set()
    for tx in CBlock.deserialize(raw).vtx:
        for out in tx.vout:
            script = bytes(out.scriptPubKey)
            kind = classify(script)
            kinds.add(kind)
            address = address_of(script, MAIN)
            if kind in ("p2pkh", "p2sh", "p2wpkh", "p2wsh", "p2tr"):
                assert address is not None and script_for_address(address, MAIN) == script
    assert {"p2pkh", "p2sh", "p2wpkh", "op_return"} <= kinds


def test_p2pk_and_op_return() -> None:
    p2pk = bytes([33, 2]) + bytes(32) + b"\xac"
    assert classify(p2pk) == "p2pk" and address_of(p2pk, MAIN) is None
    assert is_unspendable(b"\x6a\x24" + bytes(36))
    assert is_unspendable(b"\x51" * 10_001) and not is_unspendable(b"\x51" * 10_000)


@given(st.binary(min_size=20, max_size=20), st.sampled_from(["p2pkh", "p2sh", "p2wpkh"]))
def test_roundtrip_20_byte_programs(payload: bytes, kind: str) -> None:
    script = {
        "p2pkh": b"\x76\xa9\x14" + payload + b"\x88\xac",
        "p2sh": b"\xa9\x14" + payload + b"\x87",
        "p2wpkh": b"\x00\x14" + payload,
    }[kind]
    for network in (MAIN, REGTEST):
        address = address_of(script, network)
        assert address is not None
        assert script_for_address(address, network) == script


@given(st.binary(min_size=32, max_size=32), st.sampled_from([b"\x00\x20", b"\x51\x20"]))
def test_roundtrip_32_byte_programs(program: bytes, prefix: bytes) -> None:
    script = prefix + program
    address = address_of(script, REGTEST)
    assert address is not None and address.startswith("bcrt1")
    assert script_for_address(address, REGTEST) == script


IMPLEMENTATIONS = [reference] + ([compiled_core()] if compiled_core() is not None else [])


def _decode(impl: ModuleType, address: str, network: Network) -> bytes | None:
    return impl.decode_address(address.encode(), network.bech32_hrp.encode(),
                               network.p2pkh_prefix, network.p2sh_prefix)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS, ids=lambda m: m.__name__)
def test_the_fast_decoder_gives_the_codecs_script_or_none(impl: ModuleType) -> None:
    for address, script_hex in VECTORS:
        assert _decode(impl, address, MAIN) == bytes.fromhex(script_hex)
        assert _decode(impl, address, REGTEST) is None
    for bad in ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3",
                "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", "", " 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
                "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7\u212aV8F3T4"):  # a Kelvin sign for K
        assert _decode(impl, bad, MAIN) is None
    with pytest.raises(ValueError):
        impl.decode_address(b"1", b"bc", 0, 256)


def test_an_address_that_is_not_ascii_is_refused_with_its_reason() -> None:
    with pytest.raises(AddressError, match="not an ASCII text"):  # would lower-case to valid
        script_for_address("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7\u212aV8F3T4", MAIN)


@given(st.sampled_from([b"\x00\x14", b"\x00\x20", b"\x51\x20", b"\x76\xa9\x14", b"\xa9\x14",
                        b"\x60\x28"]), st.binary(min_size=40, max_size=40),
       st.sampled_from(["main", "test", "regtest"]))
def test_every_implementation_decodes_what_the_codec_encodes(prefix: bytes, body: bytes,
                                                             name: str) -> None:
    network = get_network(name)
    size = prefix[-1] if prefix[0] != 0x76 else 20
    script = prefix + body[:size] + {b"\x76\xa9\x14": b"\x88\xac", b"\xa9\x14": b"\x87"}.get(
        prefix, b"")
    address = address_of(script, network)
    assert address is not None
    for impl in IMPLEMENTATIONS:
        assert _decode(impl, address, network) == script
        assert _decode(impl, address.upper() if address[:1] in "bt" else address,
                       network) == script
