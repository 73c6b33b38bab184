"""Reading the node's settings: bitcoin.conf sections, RPC credentials, the ZMQ address."""

from __future__ import annotations

from pathlib import Path

from indexer.config import get_network
from indexer.source.rpc import node_endpoint, redact, zmq_endpoint

REGTEST = get_network("regtest")
MAIN = get_network("main")

CONF = """
rpcuser=alice
rpcpassword=top-secret
zmqpubhashblock=tcp://0.0.0.0:28332
[regtest]
rpcport=18999
zmqpubhashblock=tcp://127.0.0.1:28444
[main]
rpcport=8339
"""


def test_sections_apply_to_their_network(tmp_path: Path) -> None:
    (tmp_path / "bitcoin.conf").write_text(CONF)
    url, auth = node_endpoint(REGTEST, None, tmp_path)
    assert url == "http://127.0.0.1:18999" and (auth.user, auth.password) == ("alice",
                                                                           "top-secret")
    assert node_endpoint(MAIN, None, tmp_path)[0] == "http://127.0.0.1:8339"
    assert zmq_endpoint(REGTEST, None, tmp_path) == "tcp://127.0.0.1:28444"
    assert zmq_endpoint(MAIN, None, tmp_path) == "tcp://127.0.0.1:28332"
    assert zmq_endpoint(MAIN, "tcp://10.0.0.5:1", tmp_path) == "tcp://10.0.0.5:1"


def test_cookie_when_no_user_is_configured(tmp_path: Path) -> None:
    url, auth = node_endpoint(REGTEST, None, tmp_path)
    assert url == "http://127.0.0.1:18443"
    assert auth.cookie == tmp_path / "regtest" / ".cookie"
    assert zmq_endpoint(REGTEST, None, tmp_path) is None


def test_credentials_in_the_url_are_taken_out_of_it() -> None:
    url, auth = node_endpoint(MAIN, "http://bob:pw%40x@10.1.2.3:8332/", None)
    assert url == "http://10.1.2.3:8332/" and (auth.user, auth.password) == ("bob", "pw@x")
    assert redact("http://bob:pw@h:1/x") == "http://h:1/x"


def test_a_bad_zmq_address_is_a_config_error() -> None:
    import pytest

    from indexer.errors import ConfigError
    from indexer.source.zmq_notify import BlockNotifier

    with pytest.raises(ConfigError, match="--zmq 'nonsense' is not a ZMQ address"):
        BlockNotifier("nonsense")
