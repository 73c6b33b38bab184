"""Bounded load: many concurrent clients on the series and pool endpoints of a served index.

    python scripts/load.py [--index DIR] [--clients 50] [--seconds 30] [--json]

Serves DIR (default: the bundled sample chain, indexed into a temporary directory) with
`minerflow serve` on a free loopback port, in its own process, then runs `--clients` threads,
each with its own kept-alive connection, requesting a fixed rotation of series and pool URLs
for `--seconds`. Reported: requests, errors (any status other than 200, or a failed
connection), requests per second, latency p50/p99, and the server's resident memory before
the load, after the first fifth of it (warm), and at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

PATHS = [
    "/v1/miners/series?entity=all&level=1&interval=day",
    "/v1/miners/series?entity=foundryusa&level=0&interval=block&since=100&until=180",
    "/v1/miners/series?entity=antpool&level=1&interval=day&derived=true",
    "/v1/miners/balances",
    "/v1/pools?window=all",
    "/v1/pools?window=1w",
    "/v1/pools/foundryusa",
    "/v1/pools/antpool/blocks?limit=50",
    "/v1/exchanges/flows?window=all",
    "/v1/status",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss(pid: int) -> int:
    """Resident memory of `pid` in bytes (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def sample_index() -> Path:
    from indexer.cli.index import run_reindex
    from indexer.cli.serve import sample_dir
    from indexer.config import get_network

    sample = sample_dir()
    index = Path(tempfile.mkdtemp(prefix="minerflow-load-")) / "index"
    run_reindex(sample, None, get_network("regtest"), index, sample / "pools.json",
                sample / "exchanges.csv", 288)
    return index


def client(port: int, stop: threading.Event, offset: int, latencies: list[float],
           errors: list[str]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    i = offset
    while not stop.is_set():
        path = PATHS[i % len(PATHS)]
        i += 1
        started = time.perf_counter()
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                errors.append(f"{path}: HTTP {response.status}")
        except (OSError, http.client.HTTPException) as exc:
            errors.append(f"{path}: {type(exc).__name__}: {exc}")
            connection.close()
            continue
        latencies.append(time.perf_counter() - started)
    connection.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def run(index: Path, clients: int, seconds: float) -> dict[str, Any]:
    port = free_port()
    # the server's standard error (its access log: a line per request) goes to a file, which
    # never fills up as an unread pipe would
    log = tempfile.TemporaryFile("w+")
    server = subprocess.Popen([sys.executable, "-m", "indexer", "serve", "--index", str(index),
                               "--port", str(port)], stdout=subprocess.DEVNULL, stderr=log,
                              text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise SystemExit(f"the server did not start: {log.read()}") from None
                time.sleep(0.1)
        before = rss(server.pid)
        stop = threading.Event()
        latencies: list[list[float]] = [[] for _ in range(clients)]
        errors: list[str] = []
        threads = [threading.Thread(target=client, args=(port, stop, n, latencies[n], errors))
                   for n in range(clients)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        time.sleep(seconds / 5)
        warm = rss(server.pid)
        time.sleep(seconds - seconds / 5)
        stop.set()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        after = rss(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    every = [value for per_client in latencies for value in per_client]
    return {
        "clients": clients, "seconds": round(elapsed, 1), "requests": len(every) + len(errors),
        "errors": len(errors), "first_errors": errors[:5],
        "requests_per_s": round(len(every) / elapsed, 1),
        "p50_ms": round(percentile(every, 0.50) * 1000, 1),
        "p99_ms": round(percentile(every, 0.99) * 1000, 1),
        "rss_before_mib": round(before / 2**20, 1), "rss_warm_mib": round(warm / 2**20, 1),
        "rss_after_mib": round(after / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, help="The index to serve (default: the sample).")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    args = parser.parse_args()
    if args.clients < 1 or args.seconds <= 0:
        raise SystemExit("--clients must be at least 1 and --seconds above 0")
    if args.index is not None and not (args.index / "CURRENT").is_file():
        raise SystemExit(f"--index {args.index} is not an index directory")
    figures = run(args.index or sample_index(), args.clients, args.seconds)
    if args.json:
        print(json.dumps(figures))
        return
    for key, value in figures.items():
        print(f"{key:16} {value}")


if __name__ == "__main__":
    main()
