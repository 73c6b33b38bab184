"""The one HTTP connection to the node under `NodeClient` (its own module so that http.client,
which loads ssl and email, is imported only by commands that talk to a node).

Nothing the node sends is taken on trust: an answer is read whole (so the connection can carry
the next request) but never past `max_answer` bytes, and a request whose answer has not fully
arrived within `deadline` seconds is cut off (a watchdog shuts the socket down, which ends any
read, even of a node that drips one byte at a time).
"""

from __future__ import annotations

import http.client
import socket
import threading
from typing import Any

from indexer.source.answers import MalformedAnswer
from indexer.source.rpc import CookieMissing, NodeAuth, Transient

CHUNK = 1 << 20


class Answer:
    """A node's answer read whole: what python-bitcoinlib's proxy reads of a response."""

    def __init__(self, status: int, reason: str, body: bytes) -> None:
        self.status = status
        self.reason = reason
        self.body = body

    def read(self) -> bytes:
        return self.body


class TooSlow(OSError):
    """The node did not finish its answer within the deadline."""


class NodeConnection(http.client.HTTPConnection):
    """The one connection to the node; each request carries the credentials of that moment."""

    def __init__(self, host: str, port: int, timeout: float, auth: NodeAuth, *,
                 deadline: float = 120.0, max_answer: int = 128 << 20) -> None:
        super().__init__(host, port, timeout=timeout)
        self.auth = auth
        self.deadline = deadline
        self.max_answer = max_answer
        self.last_status = 0
        self._watchdog: threading.Timer | None = None
        self._expired = False

    def request(self, method: str, url: str, body: Any = None,
                headers: Any = None, *, encode_chunked: bool = False) -> None:
        fresh = {k: v for k, v in dict(headers or {}).items() if k.lower() != "authorization"}
        try:
            header = self.auth.header()
        except CookieMissing as exc:
            raise Transient(f"node at {self.host}:{self.port}: {exc}") from None
        if header is not None:
            fresh["Authorization"] = header
        self._arm()
        try:
            super().request(method, url, body, fresh, encode_chunked=encode_chunked)
        except BaseException:
            self._disarm()
            raise

    def getresponse(self) -> Any:  # an Answer, read whole within the deadline and the cap
        try:
            response = super().getresponse()
            self.last_status = response.status
            body = self._read_body(response)
        except TooSlow:
            self.close()
            raise
        except (OSError, http.client.HTTPException):
            if self._expired:
                self.close()
                raise TooSlow(f"no whole answer within {self.deadline:g} s") from None
            raise
        finally:
            self._disarm()
        return Answer(response.status, response.reason, body)

    def get(self, path: str) -> tuple[int, bytes]:
        self.request("GET", path)
        answer = self.getresponse()
        return answer.status, answer.body

    def _read_body(self, response: http.client.HTTPResponse) -> bytes:
        length = response.getheader("Content-Length")
        if length is not None and length.strip().isdigit() and int(length) > self.max_answer:
            self.close()
            raise MalformedAnswer(f"node at {self.host}:{self.port} announced an answer of "
                                  f"{int(length):,} bytes, more than the {self.max_answer:,} "
                                  f"minerflow reads")
        parts: list[bytes] = []
        size = 0
        while True:
            part = response.read(CHUNK)
            if not part:
                if self._expired:  # the watchdog cut the answer short
                    raise TooSlow(f"no whole answer within {self.deadline:g} s")
                if length is not None and length.strip().isdigit() and size != int(length):
                    raise http.client.IncompleteRead(b"".join(parts), int(length) - size)
                return b"".join(parts)
            size += len(part)
            if size > self.max_answer:
                self.close()
                raise MalformedAnswer(f"node at {self.host}:{self.port} sent an answer of "
                                      f"more than the {self.max_answer:,} bytes minerflow "
                                      f"reads")
            parts.append(part)

    def _arm(self) -> None:
        self._disarm()
        self._expired = False
        self._watchdog = threading.Timer(self.deadline, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()

    def _disarm(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _expire(self) -> None:
        self._expired = True
        sock = self.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
