"""A Bitcoin Core node client: JSON-RPC (with batching) and REST, cookie or bitcoin.conf auth.

Transient failures (connection refused or dropped, timeouts, RPC -28 "warming up") are retried
with exponential backoff, then reported as `NodeUnavailable`, a status rather than a crash.
Credentials never leave this module: URLs in messages carry no user or password.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from indexer.config import Network
from indexer.errors import ConfigError, SourceError

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"main": 8332, "test": 18332, "testnet4": 48332, "signet": 38332,
                 "regtest": 18443}
RPC_IN_WARMUP = -28


class NodeUnavailable(SourceError):
    """The node cannot answer now (not running, warming up, connection dropped)."""


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
    if parts.scheme not in ("http", "https") or not parts.hostname:
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
    """JSON-RPC and REST calls to one node, with retries."""

    def __init__(self, url: str, auth: NodeAuth, *, retries: int = 5, backoff: float = 0.5,
                 timeout: float = 60.0) -> None:
        self.url = url
        self.auth = auth
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self._ids = 0

    def call(self, method: str, *params: Any) -> Any:
        return self.batch([(method, list(params))])[0]

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Results of several calls sent as one JSON-RPC batch, in order."""
        if not calls:
            return []
        first = self._ids
        self._ids += len(calls)
        body = json.dumps([{"jsonrpc": "1.0", "id": first + i, "method": m, "params": p}
                           for i, (m, p) in enumerate(calls)]).encode()
        answers = self._with_retries(lambda: self._post(body), calls[0][0])
        if not isinstance(answers, list) or len(answers) != len(calls):
            raise SourceError(f"node at {self.url} answered a batch of {len(calls)} calls "
                              f"with something else")
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        results = []
        for i in range(len(calls)):
            answer = by_id.get(first + i)
            if answer is None:
                raise SourceError(f"node at {self.url} left call {calls[i][0]} unanswered")
            error = answer.get("error")
            if error:
                raise RpcError(int(error.get("code", 0)), str(error.get("message", "")))
            results.append(answer.get("result"))
        return results

    def rest_block(self, hash_hum: str) -> bytes | None:
        """The raw block over REST, or None when the node has no -rest."""
        url = f"{self.url.rstrip('/')}/rest/block/{hash_hum}.bin"

        def fetch() -> bytes | None:
            try:
                with urllib.request.urlopen(url, timeout=self.timeout) as response:
                    data: bytes = response.read()
                    return data
            except urllib.error.HTTPError as exc:
                if exc.code in (403, 404):
                    return None
                raise

        return self._with_retries(fetch, "rest/block")  # type: ignore[no-any-return]

    def _post(self, body: bytes) -> Any:
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        header = self.auth.header()
        if header is not None:
            request.add_header("Authorization", header)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                raise ConfigError(f"node at {self.url} rejected the credentials (check the "
                                  f"cookie file or rpcuser/rpcpassword)") from None
            raw = exc.read()  # Core answers RPC errors with HTTP 500 and a JSON body
            if not raw:
                raise SourceError(f"node at {self.url} answered HTTP {exc.code}") from None
        answers = json.loads(raw, parse_float=Decimal)
        warming = [a for a in (answers if isinstance(answers, list) else [answers])
                   if isinstance(a, dict) and a.get("error")
                   and a["error"].get("code") == RPC_IN_WARMUP]
        if warming:
            raise _Warmup(str(warming[0]["error"].get("message", "warming up")))
        return answers

    def _with_retries(self, attempt: Any, what: str) -> Any:
        delay = self.backoff
        last = ""
        for round_no in range(self.retries + 1):
            try:
                return attempt()
            except _Warmup as exc:
                last = f"node at {self.url} is warming up ({exc})"
            except (ConnectionError, TimeoutError, http.client.HTTPException,
                    urllib.error.URLError) as exc:
                reason = getattr(exc, "reason", exc)
                last = f"node at {self.url} is unreachable ({type(reason).__name__}: {reason})"
            if round_no < self.retries:
                log.info("%s; retrying %s in %.1fs", last, what, delay)
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
        raise NodeUnavailable(last)


class _Warmup(Exception):
    pass
