"""A replay node: JSON-RPC and REST answers of the real regtest node, from its recordings.

It serves the chain of one recorded state at a time (`before-reorg` or `final`) and every block
of both (a node keeps stale blocks). It can refuse connections, answer -28 (warming up), or
drop connections without answering, to exercise the client's retries.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

STATES = {"before-reorg": "rpc-before-reorg.json", "final": "rpc-final.json"}


class ReplayNode:
    def __init__(self, data_dir: Path, state: str = "final", *, rest: bool = True,
                 user: str = "rpcuser", password: str = "rpcpass") -> None:
        self.recordings = {name: json.loads((data_dir / f).read_text())
                           for name, f in STATES.items()}
        self.blocks: dict[str, dict[str, Any]] = {}
        for recording in self.recordings.values():
            for block in recording["blocks"]:
                self.blocks[block["hash"]] = block
        self.state = state
        self.rest = rest
        self.auth = (user, password)
        self.warming_up = 0  # answer this many requests with -28
        self.drop = 0  # close this many connections without an answer
        self.requests = 0
        self.max_height: int | None = None  # pretend the node only has blocks up to here
        self.latency = 0.0  # seconds added to every answer
        self._server: ThreadingHTTPServer | None = None
        self.port = 0

    # -- control ---------------------------------------------------------------------------

    def start(self) -> ReplayNode:
        node = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                node.requests += 1
                time.sleep(node.latency)
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                if node.drop > 0:
                    node.drop -= 1
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if not node.authorized(self.headers.get("Authorization")):
                    self.send_response(401)
                    self.end_headers()
                    return
                answer = node.answer(json.loads(body))
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                node.requests += 1
                time.sleep(node.latency)
                name = self.path.rsplit("/", 1)[-1]
                block = node.blocks.get(name.removesuffix(".bin"))
                if not node.rest or not self.path.startswith("/rest/block/") or block is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = bytes.fromhex(block["raw"])
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening: connections are refused until `start()` again (same port)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def authorized(self, header: str | None) -> bool:
        import base64

        want = "Basic " + base64.b64encode(":".join(self.auth).encode()).decode()
        return header == want

    # -- answers ---------------------------------------------------------------------------

    def chain(self) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = self.recordings[self.state]["blocks"]
        return blocks if self.max_height is None else blocks[:self.max_height + 1]

    def answer(self, request: Any) -> Any:
        if isinstance(request, list):
            return [self.answer_one(r) for r in request]
        return self.answer_one(request)

    def answer_one(self, request: dict[str, Any]) -> dict[str, Any]:
        rid = request.get("id")
        if self.warming_up > 0:
            self.warming_up -= 1
            return {"id": rid, "result": None,
                    "error": {"code": -28, "message": "Loading block index…"}}
        try:
            result = self.method(request["method"], request.get("params", []))
        except LookupError as exc:
            return {"id": rid, "result": None, "error": {"code": -8, "message": str(exc)}}
        return {"id": rid, "result": result, "error": None}

    def method(self, name: str, params: list[Any]) -> Any:
        chain = self.chain()
        if name == "getblockchaininfo":
            info = dict(self.recordings[self.state]["blockchaininfo"])
            info["blocks"] = info["headers"] = len(chain) - 1
            info["bestblockhash"] = chain[-1]["hash"]
            return info
        if name == "getbestblockhash":
            return chain[-1]["hash"]
        if name == "getblockcount":
            return len(chain) - 1
        if name == "getblockhash":
            height = int(params[0])
            if not 0 <= height < len(chain):
                raise LookupError("Block height out of range")
            return chain[height]["hash"]
        if name == "getblockheader":
            return self.blocks[params[0]]["header"]
        if name == "getblock":
            block = self.blocks.get(params[0])
            if block is None:
                raise LookupError("Block not found")
            verbosity = params[1] if len(params) > 1 else 1
            return block["raw"] if verbosity == 0 else block["verbose3"]
        if name == "getchaintips":
            return self.recordings[self.state]["chaintips"]
        raise LookupError(f"Method not found: {name}")
