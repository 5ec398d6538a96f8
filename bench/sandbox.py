"""Pages per second the sandbox serves for /orders (page size 50 and the largest accepted).

The tap's benchmarks page ~100k orders through the sandbox; this shows the sandbox is not the bottleneck.
Each query's first page builds its filtered+sorted id list (reported separately); later pages reuse it
until the state changes. Per-order JSON is serialised on first use and cached, so the first pass over
the data ("cold") is slower than later passes ("warm").
Usage: .venv/bin/python bench/sandbox.py [--orders N] [--seconds S]
"""

from __future__ import annotations

import argparse
import time

import requests
from qtickets_sandbox.query import MAX_PER_PAGE
from qtickets_sandbox.testing import SandboxServer

CURSOR = {
    "where": [{"column": "updated_at", "operator": ">=", "value": "2000-01-01T00:00:00+03:00"}],
    "orderBy": {"updated_at": "asc", "id": "asc"},
}


def measure(session, url: str, per_page: int, seconds: float, extra: dict) -> dict:
    started = time.perf_counter()
    first = session.get(url, json={"page": 1, "per_page": per_page, **extra})
    first.raise_for_status()
    first_latency = time.perf_counter() - started
    pages, size, page = 0, 0, 2
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        r = session.get(url, json={"page": page, "per_page": per_page, **extra})
        r.raise_for_status()
        pages += 1
        size += len(r.content)
        page = 1 if r.content.startswith(b'{"data":[]') else page + 1
    elapsed = time.perf_counter() - started
    return {"first": first_latency, "pps": pages / elapsed, "mbps": size / elapsed / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    started = time.perf_counter()
    with SandboxServer(seed=1, orders=args.orders, events=12, token="bench") as sb:
        print(f"sandbox: generated {args.orders} orders in {time.perf_counter() - started:.1f} s")
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {sb.token}"
        url = f"{sb.base_url}/orders"
        runs = [
            ("cold", 50, {}, "id order"),
            ("cold", MAX_PER_PAGE, {}, "id order"),
            ("warm", 50, {}, "id order"),
            ("warm", MAX_PER_PAGE, {}, "id order"),
            ("warm", 50, CURSOR, "updated_at cursor"),
            ("warm", MAX_PER_PAGE, CURSOR, "updated_at cursor"),
        ]
        for i, (label, per_page, extra, order) in enumerate(runs):
            if i == 2:  # serialise every order once so the following runs are "warm"
                for p in range(1, args.orders // MAX_PER_PAGE + 2):
                    session.get(url, json={"page": p, "per_page": MAX_PER_PAGE}).raise_for_status()
            m = measure(session, url, per_page, args.seconds, extra)
            rate = f"{m['pps']:8.1f} pages/s {m['pps'] * per_page:9.0f} orders/s {m['mbps']:6.1f} MB/s"
            first = f"first page {m['first']:.3f} s"
            print(f"sandbox /orders {label} per_page={per_page:<5} {order:<18} {rate}  ({first})")


if __name__ == "__main__":
    main()
