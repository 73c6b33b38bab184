"""Wake-ups from the node's ZMQ `hashblock` notifications (`-zmqpubhashblock=tcp://...`).

Polling stays the fallback: a missed message only delays the next sync to the poll interval.
"""

from __future__ import annotations

import socket
import urllib.parse
from typing import Any

from indexer.errors import ConfigError


class BlockNotifier:
    """A SUB socket on the node's hashblock topic."""

    def __init__(self, url: str) -> None:
        self.url = url
        check_resolvable(url)
        import zmq  # here: only a follower needs it, and loading it costs every command 9 ms

        self._context: Any = zmq.Context.instance()
        self._socket: Any = self._context.socket(zmq.SUB)
        self._socket.setsockopt(zmq.SUBSCRIBE, b"hashblock")
        self._socket.setsockopt(zmq.LINGER, 0)
        try:
            self._socket.connect(url)
        except zmq.ZMQError as exc:
            self._socket.close()
            raise ConfigError(f"--zmq {url!r} is not a ZMQ address like "
                              f"tcp://127.0.0.1:28332 ({exc.strerror})") from None

    def wait(self, timeout: float) -> bool:
        """True when a new block was announced within `timeout` seconds (queue drained)."""
        if not self._socket.poll(int(timeout * 1000)):
            return False
        while self._socket.poll(0):
            self._socket.recv_multipart()
        return True

    def close(self) -> None:
        self._socket.close()


def check_resolvable(url: str) -> None:
    """A tcp:// address whose host does not resolve is refused now: ZMQ would accept it and
    silently never connect."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "tcp" or not parts.hostname:
        return  # ipc:// and malformed addresses: ZMQ itself says what is wrong
    try:
        socket.getaddrinfo(parts.hostname, None)
    except (socket.gaierror, UnicodeError) as exc:
        raise ConfigError(f"--zmq {url!r}: host {parts.hostname!r} does not resolve "
                          f"({exc})") from None
