"""Latency of the web API under concurrent clients on loopback.

Builds the synthetic six-tenant park (``bitgaram.api.testing``) with ``--days``
of 15-minute data in a temporary DuckDB file, serves it with uvicorn on
127.0.0.1 in a child process, and sends ``--requests`` requests per endpoint
from ``--clients`` concurrent client threads of this process. Reports median and p99 latency
per endpoint, with ``/api/v1/health`` (no store, no auth) as the reference
measured in the same run, and the CPU time the server process and this
client process spent per request (the server's includes DuckDB's threads).

    .venv/bin/python bench/api_load.py --days 31 --clients 8 --requests 400
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import socket
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import uvicorn

from bitgaram.api import Settings, create_app
from bitgaram.api.app import token_store_for
from bitgaram.api.testing import populate, synthetic_park
from bitgaram.store import open_store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(path: str, port: int, view_cache: float) -> None:
    """Child process: serve the store at ``path`` on 127.0.0.1:``port``."""
    store = open_store(path)
    settings = Settings(view_cache_seconds=view_cache)
    uvicorn.run(create_app(settings, store), host="127.0.0.1", port=port, log_level="warning")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far [s] (Linux ``/proc``)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(url: str, token: str, clients: int, n: int) -> np.ndarray:
    headers = {"Authorization": f"Bearer {token}"}

    def one(client: httpx.Client) -> float:
        t0 = time.perf_counter()
        response = client.get(url, headers=headers)
        elapsed = time.perf_counter() - t0
        if response.status_code != 200:
            raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")
        return elapsed

    with httpx.Client(timeout=30, limits=httpx.Limits(max_connections=clients)) as client:
        one(client)  # warm-up (token cache, DuckDB)
        with ThreadPoolExecutor(clients) as pool:
            times = list(pool.map(lambda _: one(client), range(n)))
    return np.array(times) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=31)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument(
        "--view-cache", type=float, default=10.0, help="view cache [s]; 0 measures the work"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "bench.duckdb")
        store = open_store(path)
        tokens = token_store_for(store, Settings())
        park = synthetic_park(n_tenants=6, days=args.days, seed=1)
        token = populate(store, tokens, park)
        store.close()
        del tokens
        gc.collect()
        port = _free_port()
        server = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(path, port, args.view_cache), daemon=True
        )
        server.start()
        base = f"http://127.0.0.1:{port}/api/v1"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or not server.is_alive():
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        last = park.readings["ts"].max()
        month = {
            "start": (last - np.timedelta64(int(args.days * 86400) - 900, "s")).isoformat(),
            "end": (last + np.timedelta64(900, "s")).isoformat(),
            "limit": "10000",
        }
        query = "&".join(f"{k}={v}" for k, v in month.items()).replace("+", "%2B")
        cases = [
            ("health (reference)", f"{base}/health", "operator"),
            (
                f"one tenant, {args.days:g} days of 15-min readings (limit 10000)",
                f"{base}/meters/acme-load/readings?{query}",
                "acme",
            ),
            ("tenant dashboard summary (7 days hourly)", f"{base}/tenants/acme/summary", "acme"),
            ("tenant benchmark (30 days)", f"{base}/tenants/acme/benchmark", "acme"),
            ("park overview (24 h at 15 min)", f"{base}/park/overview", "operator"),
            (
                "tenant battery schedule (1 day of setpoints)",
                f"{base}/assets/acme-ess/schedule?limit=1000",
                "acme",
            ),
        ]
        print(
            f"{len(park.readings)} readings, {args.clients} clients, {args.requests} requests each,"
            f" view cache {args.view_cache:g} s, {os.cpu_count()} CPUs,"
            f" load average before {os.getloadavg()[0]:.1f}"
        )
        print(
            "| endpoint | median [ms] | p99 [ms] | p99 / reference median"
            " | server CPU / request [ms] | client CPU / request [ms] |"
        )
        print("|---|---|---|---|---|---|")
        ref = None
        for name, url, user in cases:
            server_cpu, own = _cpu_seconds(int(server.pid or 0)), os.times()
            ms = _measure(url, token[user], args.clients, args.requests)
            server_cpu = _cpu_seconds(int(server.pid or 0)) - server_cpu
            client_cpu = sum(os.times()[:2]) - sum(own[:2])
            med, p99 = float(np.median(ms)), float(np.percentile(ms, 99))
            ref = med if ref is None else ref
            per = 1000.0 / (args.requests + 1)  # the warm-up request is counted too
            print(
                f"| {name} | {med:.1f} | {p99:.1f} | {p99 / ref:.1f}x"
                f" | {server_cpu * per:.1f} | {client_cpu * per:.1f} |"
            )
        print(f"load average after: {os.getloadavg()[0]:.1f}")
        server.terminate()
        server.join(timeout=10)


if __name__ == "__main__":
    main()
