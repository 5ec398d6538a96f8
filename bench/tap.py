"""Benchmark tap-qtickets against a sandbox running in its own process.

Prints:
  1. records/s of the tap (orders + sales, CLI to a file) vs a raw requests+json loop paging the same data
     in the same run (goal: ratio >= 0.5). The sandbox re-filters and re-sorts all orders for every distinct
     `where`, so the tap's keyset paging (a new `where` per page) is server-bound there; the comparison is
     therefore made with the tap in its id-scan mode (forced with the sandbox's ignore_filters fault: the
     same requests as the raw loop, the same record pipeline), and keyset mode is timed on a smaller account;
  2. peak RSS of the tap process at two account sizes (goal: within 50 MB of each other);
  3. API requests made by an incremental run after >= 50 order changes, on a small and a large account
     (goal: independent of history size).

Usage: .venv/bin/python bench/tap.py [--sizes 100000,1000000] [--incremental-sizes 10000,100000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import requests

BIN = Path(sys.executable).parent
TOKEN = "bench-token"
STREAMS = ("orders", "sales")


@contextmanager
def sandbox(orders: int, events: int = 40):
    """`qtickets-sandbox serve` in a child process (its memory stays out of the tap's figures)."""
    started = time.perf_counter()
    proc = subprocess.Popen([str(BIN / "qtickets-sandbox"), "serve", "--port", "0", "--seed", "1",
                             "--orders", str(orders), "--events", str(events), "--token", TOKEN],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        if "listening on" not in line:
            raise SystemExit(f"sandbox did not start: {line!r}")
        base_url = line.rsplit(" ", 1)[-1]
        print(f"  sandbox with {orders} orders ready in {time.perf_counter() - started:.1f}s", flush=True)
        yield base_url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def control(base_url: str, method: str, name: str, payload: dict | None = None):
    root = base_url.rsplit("/api/rest/v1", 1)[0]
    response = requests.request(method, f"{root}/_sandbox/{name}", json=payload, timeout=600)
    response.raise_for_status()
    return response.json() if response.content else None


def raw_loop(base_url: str, page_size: int) -> tuple[int, float]:
    """The baseline: page /orders by id with plain requests + json, count orders and ticket lines."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    started, cpu_started, records, page = time.perf_counter(), time.process_time(), 0, 1
    while True:
        body = {"page": page, "per_page": page_size, "orderBy": {"id": "asc"}}
        data = json.loads(session.get(f"{base_url}/orders", json=body, timeout=120).content)["data"]
        records += sum(1 + len(order["baskets"]) for order in data)
        if len(data) < page_size:
            return records, time.perf_counter() - started, time.process_time() - cpu_started
        page += 1


def write_catalog(config_path: Path, out: Path) -> Path:
    discover = [str(BIN / "tap-qtickets"), "--config", str(config_path), "--discover"]
    catalog = json.loads(subprocess.run(discover, capture_output=True, text=True, check=True).stdout)
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] in STREAMS
    out.write_text(json.dumps(catalog))
    return out


def run_tap(workdir: Path, config: dict, state: dict | None = None) -> dict:
    """Run the tap CLI; returns records written, seconds, peak RSS (MB) and the final state."""
    config_path = workdir / "config.json"
    config_path.write_text(json.dumps(config))
    catalog = workdir / "catalog.json"
    if not catalog.exists():
        write_catalog(config_path, catalog)
    args = [str(BIN / "tap-qtickets"), "--config", str(config_path), "--catalog", str(catalog)]
    if state is not None:
        (workdir / "state.json").write_text(json.dumps(state))
        args += ["--state", str(workdir / "state.json")]
    output = workdir / "out.jsonl"
    started = time.perf_counter()
    with output.open("w") as sink, (workdir / "tap.log").open("w") as log:
        proc = subprocess.Popen(args, stdout=sink, stderr=log)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    cpu = usage.ru_utime + usage.ru_stime
    if proc.returncode != 0:
        raise SystemExit(f"tap failed (exit {proc.returncode}); see {workdir / 'tap.log'}")
    records, last_state = 0, None
    with output.open() as lines:
        for line in lines:
            if line.startswith('{"type":"RECORD"') or '"type": "RECORD"' in line[:40]:
                records += 1
            elif '"STATE"' in line[:40]:
                last_state = json.loads(line)["value"]
    return {"records": records, "seconds": seconds, "cpu": cpu, "rss_mb": usage.ru_maxrss / 1024,
            "state": last_state}


def config_for(base_url: str, page_size: int, **extra) -> dict:
    return {"api_token": TOKEN, "base_url": base_url, "page_size": page_size, "request_timeout": 120, **extra}


def force_id_scan(base_url: str) -> None:
    """Sandbox fault: /orders ignores where/orderBy, so the tap's self-check switches to its id scan."""
    rule = {"match": "/api/rest/v1/orders", "fault": "ignore_filters"}
    control(base_url, "POST", "faults", {"rules": [rule]})


def advance_until_changes(base_url: str, wanted: int) -> tuple[int, float]:
    changes, minutes = 0, 0.0
    kinds = ("created", "payed", "expired", "cancelled", "refunded", "batch_updated")
    while changes < wanted:
        step = control(base_url, "POST", "advance", {"minutes": 5})
        changes += sum(int(step.get(k, 0)) for k in kinds)
        minutes += 5
    return changes, minutes


def incremental_requests(orders: int, page_size: int) -> dict:
    with sandbox(orders) as base_url, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        force_id_scan(base_url)  # the initial full load only provides the bookmark; keep it cheap
        first = run_tap(workdir, config_for(base_url, page_size))
        control(base_url, "DELETE", "faults")
        changes, minutes = advance_until_changes(base_url, 50)
        counts = {"changes": changes, "minutes": minutes}
        for label, lookback in (("lookback_0", 0), ("lookback_default_3d", None)):
            control(base_url, "DELETE", "requests")
            extra = {} if lookback is None else {"lookback_minutes": lookback}
            run = run_tap(workdir, config_for(base_url, page_size, **extra), state=first["state"])
            log = control(base_url, "GET", "requests")
            counts[label] = {"requests": len(log), "records": run["records"]}
        return counts


def throughput_and_rss(orders: int, page_size: int, compare_raw: bool) -> dict:
    with sandbox(orders) as base_url, tempfile.TemporaryDirectory() as tmp:
        result: dict = {}
        if compare_raw:
            raw_loop(base_url, page_size)  # warm the sandbox's query cache for both contenders
            raw_records, raw_seconds, raw_cpu = raw_loop(base_url, page_size)
            result.update(raw_records=raw_records, raw_rps=raw_records / raw_seconds,
                          raw_cpu_rps=raw_records / raw_cpu)
        force_id_scan(base_url)
        tap = run_tap(Path(tmp), config_for(base_url, page_size))
        result.update(tap_records=tap["records"], tap_rps=tap["records"] / tap["seconds"],
                      tap_cpu_rps=tap["records"] / tap["cpu"], rss_mb=tap["rss_mb"],
                      tap_seconds=tap["seconds"])
        return result


def keyset_rate(orders: int, page_size: int) -> dict:
    with sandbox(orders) as base_url, tempfile.TemporaryDirectory() as tmp:
        tap = run_tap(Path(tmp), config_for(base_url, page_size))
        return {"records": tap["records"], "rps": tap["records"] / tap["seconds"],
                "cpu_rps": tap["records"] / tap["cpu"], "rss_mb": tap["rss_mb"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="two order counts for the RSS comparison")
    parser.add_argument("--incremental-sizes", default="10000,100000")
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--keyset-orders", type=int, default=20000, help="account size for the keyset run")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    inc_sizes = [int(s) for s in args.incremental_sizes.split(",")]

    runs = {}
    for index, size in enumerate(sizes):
        print(f"== full sync, {size} orders", flush=True)
        runs[size] = throughput_and_rss(size, args.page_size, compare_raw=index == 0)
        print(f"  tap: {runs[size]['tap_records']} records in {runs[size]['tap_seconds']:.1f}s, "
              f"peak RSS {runs[size]['rss_mb']:.1f} MB", flush=True)
    first = runs[sizes[0]]
    if first["tap_records"] != first["raw_records"]:
        print(f"  WARNING: tap wrote {first['tap_records']} records, raw loop saw {first['raw_records']}")
    ratio = first["tap_rps"] / first["raw_rps"]
    print(f"THROUGHPUT ({sizes[0]} orders, page {args.page_size}, same id-paged requests): tap "
          f"{first['tap_rps']:.0f} rec/s, raw requests+json {first['raw_rps']:.0f} rec/s, ratio {ratio:.2f} "
          f"(goal >= 0.5); per CPU-second: tap {first['tap_cpu_rps']:.0f}, raw {first['raw_cpu_rps']:.0f}")
    print(f"== keyset mode (the normal incremental path), {args.keyset_orders} orders", flush=True)
    keyset = keyset_rate(args.keyset_orders, args.page_size)
    print(f"KEYSET ({args.keyset_orders} orders): tap {keyset['rps']:.0f} rec/s wall, "
          f"{keyset['cpu_rps']:.0f} rec/CPU-s, peak RSS {keyset['rss_mb']:.1f} MB")
    rss = [runs[s]["rss_mb"] for s in sizes]
    print(f"PEAK RSS: {', '.join(f'{s} orders {r:.1f} MB' for s, r in zip(sizes, rss, strict=True))}; "
          f"difference {max(rss) - min(rss):.1f} MB (goal <= 50 MB)")

    for size in inc_sizes:
        print(f"== incremental run after >= 50 changes, {size} orders", flush=True)
        counts = incremental_requests(size, args.page_size)
        print(f"INCREMENTAL ({size} orders, {counts['changes']} changes in {counts['minutes']:.0f} sandbox "
              f"minutes): lookback 0 → {counts['lookback_0']['requests']} requests "
              f"({counts['lookback_0']['records']} records); default 3-day lookback → "
              f"{counts['lookback_default_3d']['requests']} requests "
              f"({counts['lookback_default_3d']['records']} records)")


if __name__ == "__main__":
    main()
