"""The one HTTP connection to the node under `NodeClient` (its own module so that http.client,
which loads ssl and email, is imported only by commands that talk to a node)."""

from __future__ import annotations

import http.client
from typing import Any

from indexer.source.rpc import CookieMissing, NodeAuth, Transient


class NodeConnection(http.client.HTTPConnection):
    """The one connection to the node; each request carries the credentials of that moment."""

    def __init__(self, host: str, port: int, timeout: float, auth: NodeAuth) -> None:
        super().__init__(host, port, timeout=timeout)
        self.auth = auth
        self.last_status = 0

    def request(self, method: str, url: str, body: Any = None,
                headers: Any = None, *, encode_chunked: bool = False) -> None:
        fresh = {k: v for k, v in dict(headers or {}).items() if k.lower() != "authorization"}
        try:
            header = self.auth.header()
        except CookieMissing as exc:
            raise Transient(f"node at {self.host}:{self.port}: {exc}") from None
        if header is not None:
            fresh["Authorization"] = header
        super().request(method, url, body, fresh, encode_chunked=encode_chunked)

    def getresponse(self) -> http.client.HTTPResponse:
        response = super().getresponse()
        self.last_status = response.status
        return response

    def get(self, path: str) -> tuple[int, bytes]:
        self.request("GET", path)
        response = self.getresponse()
        return response.status, response.read()
