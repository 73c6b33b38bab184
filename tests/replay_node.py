"""A replay node: JSON-RPC and REST answers of the real regtest node, from its recordings.

It serves the chain of one recorded state at a time (`before-reorg` or `final`) and every block
of both (a node keeps stale blocks), over HTTP/1.1 keep-alive connections as Core does. Like a
real node it can stop and restart (refusing connections meanwhile, and with `cookie_dir`,
deleting its `.cookie` while down and writing a new one on start), answer -28 (warming up) or
any other RPC error, drop connections without answering, serve only part of its chain (a node
behind, or one whose tip shrinks), and call a hook on every call so a test can change it
mid-sync.

It can also lie, as a hostile or broken node would: serve other bytes for a block
(`tampered`, over REST and `getblock`), rewrite its next answers to a method (`rewrites`:
each a function of the answer it would give, returning the JSON it sends instead, or raw
bytes), pad an answer past any sane size (`padding`), or drip it out one byte at a
time (`drip`, seconds between bytes).
"""

from __future__ import annotations

import base64
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

STATES = {"before-reorg": "rpc-before-reorg.json", "final": "rpc-final.json"}


class ReplayNode:
    def __init__(self, data_dir: Path, state: str = "final", *, rest: bool = True,
                 user: str = "rpcuser", password: str = "rpcpass",
                 cookie_dir: Path | None = None) -> None:
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
        self.errors: list[tuple[int, str]] = []  # answer the next calls with these errors
        self.on_call: Callable[[str, list[Any]], None] | None = None
        self.connections = 0  # TCP connections accepted
        self.cookie_dir = cookie_dir
        self.pruned_below: int | None = None  # blocks below this height are pruned
        self.tampered: dict[str, bytes] = {}  # block hash -> the bytes served for it
        # (method, rewrite): the next answer to a request whose first call is `method` is
        # rewrite(the answer the node would give): JSON to send, or bytes to send as they are
        self.rewrites: list[tuple[str, Callable[[Any], Any]]] = []
        self.padding = 0  # bytes of white space after the next JSON answer
        self.drip = 0.0  # seconds between the bytes of the next answers (0: all at once)
        self._server: ThreadingHTTPServer | None = None
        self._open: set[socket.socket] = set()
        self.port = 0

    # -- control ---------------------------------------------------------------------------

    def start(self) -> ReplayNode:
        node = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as separate writes

            def log_message(self, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                node.connections += 1
                node._open.add(self.connection)

            def finish(self) -> None:
                node._open.discard(self.connection)
                super().finish()

            def empty(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

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
                    self.empty(401)
                    return
                request = json.loads(body)
                answer = node.answer(request)
                first = request[0] if isinstance(request, list) and request else request
                if node.rewrites and node.rewrites[0][0] == first.get("method"):
                    answer = node.rewrites.pop(0)[1](answer)
                data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                if node.padding:
                    data += b" " * node.padding
                    node.padding = 0
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.send(data)

            def send(self, data: bytes) -> None:
                if not node.drip:
                    self.wfile.write(data)
                    return
                try:
                    for i in range(len(data)):
                        self.wfile.write(data[i:i + 1])
                        self.wfile.flush()
                        time.sleep(node.drip)
                except OSError:  # the client gave up on us
                    self.close_connection = True

            def do_GET(self) -> None:  # noqa: N802
                node.requests += 1
                time.sleep(node.latency)
                name = self.path.rsplit("/", 1)[-1]
                block = node.blocks.get(name.removesuffix(".bin"))
                if not node.rest or not self.path.startswith("/rest/block/") or block is None:
                    self.empty(404)
                    return
                data = node.raw(block["hash"])
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.send(data)

        ThreadingHTTPServer.allow_reuse_address = True
        ThreadingHTTPServer.daemon_threads = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        if self.cookie_dir is not None:  # bitcoind writes a new cookie at every start
            self.auth = ("__cookie__", secrets.token_hex(32))
            (self.cookie_dir / ".cookie").write_text(":".join(self.auth))
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop: open connections are cut, new ones refused until `start()` again (same
        port); with `cookie_dir`, the cookie file is deleted as bitcoind does."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            for sock in list(self._open):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._server = None
        if self.cookie_dir is not None:
            (self.cookie_dir / ".cookie").unlink(missing_ok=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def authorized(self, header: str | None) -> bool:
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
        if self.on_call is not None:
            self.on_call(request["method"], request.get("params", []))
        if self.errors:
            code, message = self.errors.pop(0)
            return {"id": rid, "result": None, "error": {"code": code, "message": message}}
        try:
            result = self.method(request["method"], request.get("params", []))
        except LookupError as exc:
            return {"id": rid, "result": None, "error": {"code": -8, "message": str(exc)}}
        except PermissionError as exc:
            return {"id": rid, "result": None, "error": {"code": -1, "message": str(exc)}}
        return {"id": rid, "result": result, "error": None}

    def raw(self, hash_hum: str) -> bytes:
        """The bytes served for a block: its own, unless `tampered` says otherwise."""
        return self.tampered.get(hash_hum) or bytes.fromhex(self.blocks[hash_hum]["raw"])

    def method(self, name: str, params: list[Any]) -> Any:
        chain = self.chain()
        if name == "getblockchaininfo":
            info = dict(self.recordings[self.state]["blockchaininfo"])
            info["blocks"] = info["headers"] = len(chain) - 1
            info["bestblockhash"] = chain[-1]["hash"]
            info["pruned"] = self.pruned_below is not None
            if self.pruned_below is not None:
                info["pruneheight"] = self.pruned_below
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
            if self.pruned_below is not None and block["height"] < self.pruned_below:
                raise PermissionError("Block not available (pruned data)")
            verbosity = params[1] if len(params) > 1 else 1
            return self.raw(block["hash"]).hex() if verbosity == 0 else block["verbose3"]
        if name == "getchaintips":
            return self.recordings[self.state]["chaintips"]
        raise LookupError(f"Method not found: {name}")
