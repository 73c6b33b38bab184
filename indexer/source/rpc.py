"""A Bitcoin Core node client: JSON-RPC (with batching, through python-bitcoinlib's proxy) and
REST over one kept-alive connection, with cookie or bitcoin.conf auth.

Transient failures (connection refused or dropped, timeouts, RPC -28 "warming up", HTTP 503, a
cookie file gone while the node restarts) are retried with exponential backoff, then reported as
`NodeUnavailable`, a status rather than a crash.
Credentials never leave this module: URLs in messages carry no user or password.
"""

from __future__ import annotations

import base64
import logging
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from indexer.config import Network
from indexer.errors import ConfigError, SourceError
from indexer.source.answers import MalformedAnswer

if TYPE_CHECKING:
    from indexer.source.node_http import NodeConnection

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"main": 8332, "test": 18332, "testnet4": 48332, "signet": 38332,
                 "regtest": 18443}
RPC_IN_WARMUP = -28
RPC_INVALID_PARAMETER = -8  # getblockhash: "Block height out of range"


class NodeUnavailable(SourceError):
    """The node cannot answer now (not running, warming up, connection dropped)."""


class CookieMissing(ConfigError):
    """No cookie file: the node is down or restarting (a status while following)."""


class RpcError(SourceError):
    """The node answered with an error."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"node error {code}: {message}")
        self.code = code


@dataclass(frozen=True, slots=True)
class NodeAuth:
    """Where the credentials come from; `header()` reads a cookie file anew each time."""

    user: str | None = None
    password: str | None = None
    cookie: Path | None = None

    def header(self) -> str | None:
        if self.cookie is not None:
            try:
                token = self.cookie.read_bytes().decode("utf-8").strip()
            except FileNotFoundError:  # the node deletes it while it is down
                raise CookieMissing(f"its cookie file {self.cookie} is missing (is the "
                                     f"node running?)") from None
            except OSError:
                raise ConfigError(f"cannot read the node's cookie file {self.cookie} "
                                  f"(is the node running, and is the file readable?)") from None
            except UnicodeDecodeError as exc:
                raise ConfigError(f"the node's cookie file {self.cookie} is not text (byte "
                                  f"{exc.start} is not UTF-8)") from None
        elif self.user is not None:
            token = f"{self.user}:{self.password or ''}"
        else:
            return None
        return "Basic " + base64.b64encode(token.encode()).decode()


def read_conf(path: Path, network: Network) -> dict[str, str]:
    """Settings of bitcoin.conf that apply to `network` (top level, then its [section])."""
    settings: dict[str, str] = {}
    section = None
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        line_no = path.read_bytes()[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path} line {line_no}: not UTF-8 text (byte {exc.start})") from None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        if "=" not in line:
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        if "." in key:  # regtest.rpcport=...
            prefix, key = key.split(".", 1)
            if prefix != network.name:
                continue
        elif section is not None and section != network.name:
            continue
        settings[key] = value
    return settings


def node_endpoint(network: Network, rpc_url: str | None, datadir: Path | None,
                  rpc_user: str | None = None,
                  rpc_password: str | None = None) -> tuple[str, NodeAuth]:
    """The node's URL (without credentials) and auth, from options, bitcoin.conf or the cookie."""
    conf: dict[str, str] = {}
    if datadir is not None:
        if not datadir.is_dir():
            raise ConfigError(f"datadir {datadir} does not exist")
        conf_path = datadir / "bitcoin.conf"
        if conf_path.is_file():
            conf = read_conf(conf_path, network)
    host = conf.get("rpcconnect", "127.0.0.1")
    port = conf.get("rpcport", str(DEFAULT_PORTS[network.name]))
    url = rpc_url or f"http://{host}:{port}"
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ConfigError(f"--rpc-url must look like http://host:port, got {redact(url)}")
    user = rpc_user or (urllib.parse.unquote(parts.username) if parts.username else None)
    password = rpc_password or (urllib.parse.unquote(parts.password) if parts.password else None)
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    clean = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    if user is None and "rpcuser" in conf:
        user, password = conf["rpcuser"], conf.get("rpcpassword", "")
    if user is not None:
        return clean, NodeAuth(user, password)
    if datadir is not None:
        cookie = datadir / network.subdir / ".cookie" if network.subdir else datadir / ".cookie"
        return clean, NodeAuth(cookie=cookie)
    return clean, NodeAuth()


def zmq_endpoint(network: Network, zmq_url: str | None, datadir: Path | None) -> str | None:
    """The node's ZMQ hashblock address: `--zmq`, else `zmqpubhashblock` in bitcoin.conf."""
    if zmq_url:
        return zmq_url
    if datadir is not None and (datadir / "bitcoin.conf").is_file():
        address = read_conf(datadir / "bitcoin.conf", network).get("zmqpubhashblock")
        if address:
            return address.replace("0.0.0.0", "127.0.0.1")
    return None


def redact(url: str) -> str:
    """`url` without any user:password part."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


class NodeClient:
    """JSON-RPC and REST calls to one node over one kept-alive HTTP connection, with retries.

    The calls go through python-bitcoinlib's `RawProxy`; the connection under it is ours, so
    that every request carries credentials read anew (a restarted node writes a new cookie)
    and REST shares the connection. A failed request closes it; the next one reconnects.
    """

    def __init__(self, url: str, auth: NodeAuth, *, retries: int = 5, backoff: float = 0.5,
                 timeout: float = 60.0, deadline: float = 120.0,
                 max_answer: int = 128 << 20) -> None:
        self.url = url
        self.auth = auth
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self._ids = 0
        self.interrupt: threading.Event | None = None  # set: give up retrying at once
        parts = urllib.parse.urlsplit(url)
        # here: http.client (with ssl and email) costs every command that reads no node 13 ms
        from indexer.source.node_http import NodeConnection

        self._connection: NodeConnection = NodeConnection(
            parts.hostname or "127.0.0.1", parts.port or 80, timeout, auth, deadline=deadline,
            max_answer=max_answer)
        from bitcoin.rpc import RawProxy  # here: loading it costs every command 50 ms

        self._proxy = RawProxy(service_url=url, connection=self._connection)

    def close(self) -> None:
        self._connection.close()

    def interrupt_now(self) -> None:
        """Cut a call in progress short (from another thread); `interrupt` must be set."""
        sock = self._connection.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def call(self, method: str, *params: Any) -> Any:
        return self.batch([(method, list(params))])[0]

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Results of several calls sent as one JSON-RPC batch, in order."""
        if not calls:
            return []
        first = self._ids
        self._ids += len(calls)
        requests = [{"jsonrpc": "1.0", "id": first + i, "method": m, "params": p}
                    for i, (m, p) in enumerate(calls)]
        answers = self._with_retries(lambda: self._post(requests), calls[0][0])
        if not isinstance(answers, list) or len(answers) != len(calls):
            raise MalformedAnswer(f"node at {self.url} answered a batch of {len(calls)} calls "
                                  f"with something else")
        by_id = {a["id"]: a for a in answers
                 if isinstance(a, dict) and type(a.get("id")) is int}
        results = []
        for i in range(len(calls)):
            answer = by_id.get(first + i)
            if answer is None:
                raise MalformedAnswer(f"node at {self.url} left call {calls[i][0]} unanswered "
                                      f"(no answer with its id {first + i})")
            error = answer.get("error")
            if error:
                code = error.get("code", 0) if isinstance(error, dict) else 0
                message = error.get("message", "") if isinstance(error, dict) else error
                raise RpcError(code if type(code) is int else 0, str(message)[:500])
            results.append(answer.get("result"))
        return results

    def rest_block(self, hash_hum: str) -> bytes | None:
        """The raw block over REST, or None when the node has no -rest."""
        path = f"{urllib.parse.urlsplit(self.url).path.rstrip('/')}/rest/block/{hash_hum}.bin"

        def fetch() -> bytes | None:
            status, data = self._connection.get(path)
            if status in (403, 404):
                return None
            if status != 200:
                raise SourceError(f"node at {self.url} answered HTTP {status} for rest/block")
            return data

        return self._with_retries(fetch, "rest/block")  # type: ignore[no-any-return]

    def _post(self, requests: list[dict[str, Any]]) -> Any:
        from bitcoin.rpc import JSONRPCError

        try:
            answers = self._proxy._batch(requests)
        except (UnicodeDecodeError, RecursionError):  # not UTF-8, or JSON nested absurdly deep
            raise MalformedAnswer(f"node at {self.url} answered with something that is not "
                                  f"JSON text") from None
        except JSONRPCError:  # not JSON: bitcoinlib read the HTTP status, so do we
            status = self._connection.last_status
            if status == 401:
                raise ConfigError(f"node at {self.url} rejected the credentials (check the "
                                  f"cookie file or rpcuser/rpcpassword)") from None
            if status == 503:  # Core's work queue is full
                raise Transient(f"node at {self.url} is busy (HTTP 503)") from None
            raise SourceError(f"node at {self.url} answered HTTP {status} without "
                              f"JSON") from None
        warming = [a for a in (answers if isinstance(answers, list) else [answers])
                   if isinstance(a, dict) and isinstance(a.get("error"), dict)
                   and a["error"].get("code") == RPC_IN_WARMUP]
        if warming:
            message = warming[0]["error"].get("message", "warming up")
            raise Transient(f"node at {self.url} is warming up ({message})")
        return answers

    def _with_retries(self, attempt: Any, what: str) -> Any:
        import http.client  # loaded with the connection

        from indexer.source.node_http import TooSlow

        delay = self.backoff
        last = ""
        for round_no in range(self.retries + 1):
            if self.interrupt is not None and self.interrupt.is_set():
                self._connection.close()
                raise NodeUnavailable(f"call to node at {self.url} interrupted")
            try:
                return attempt()
            except Transient as exc:
                last = str(exc)
            except TooSlow as exc:
                last = f"node at {self.url} is too slow: {exc}"
            except (OSError, http.client.HTTPException) as exc:  # refused, reset, timeout
                last = f"node at {self.url} is unreachable ({type(exc).__name__}: {exc})"
            except BaseException:
                self._connection.close()
                raise
            self._connection.close()  # a half-used connection is not reused
            if round_no < self.retries:
                log.info("%s; retrying %s in %.1fs", last, what, delay)
                if self.interrupt is not None:
                    self.interrupt.wait(delay)
                else:
                    time.sleep(delay)
                delay = min(delay * 2, 30.0)
        raise NodeUnavailable(last)


class Transient(Exception):
    """A failure worth retrying: warming up, busy, or no cookie while the node restarts."""
