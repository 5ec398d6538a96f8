"""Benchmark tap-qtickets against a sandbox running in its own process.

Prints:
  1. records/s of the tap (orders + sales, the CLI writing to a file, start-up included) vs a raw
     requests+json loop paging the same data in the same run, and their ratio (goal: >= 0.8), wall-clock
     and per CPU-second; the two alternate `--rounds` times and the medians are compared, and so is each tap
     run with the raw loop run just before it (the machine's speed drifts by up to ~1.5× between runs; pairs
     of neighbours see the same machine). Both walk /orders
     the way the tap normally does: keyset pages (`where updated_at >= cursor`, `orderBy` updated_at then
     id, the cursor moved to each page's last `updated_at`), so the raw loop sends the same requests as
     the tap's order pass (the tap adds its ticket pass: the nested-filter query and its probe, sent
     while the order pass pages);
  2. peak RSS of the tap process at two account sizes (goal: within 50 MB of each other; generating 1M
     orders takes the sandbox ~4 min and 6.5 GB, so the default pair is 100k vs 400k);
  3. API requests made by an incremental run after >= 50 order changes, on a small and a large account
     (goal: independent of history size).

Usage: .venv/bin/python bench/tap.py [--sizes 100000,400000] [--incremental-sizes 10000,100000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import requests

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"
STREAMS = ("orders", "sales")
# An explicit window start, so the tap and the raw loop send byte-identical first requests.
START_DATE = "2000-01-01T00:00:00+00:00"
START_API = "2000-01-01T03:00:00+03:00"  # the same instant as the API writes it (what the tap sends)


@contextmanager
def sandbox(orders: int, events: int = 40, history_days: int = 28):
    """`qtickets-sandbox serve` in a child process (its memory stays out of the tap's figures)."""
    started = time.perf_counter()
    proc = subprocess.Popen([str(BIN / "qtickets-sandbox"), "serve", "--port", "0", "--seed", "1",
                             "--orders", str(orders), "--events", str(events), "--token", TOKEN,
                             "--history-days", str(history_days)],
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


def raw_loop(base_url: str, page_size: int) -> tuple[int, float, float]:
    """The baseline: keyset-page /orders with plain requests + json, count orders and ticket lines.

    Same requests as the tap: window `updated_at >= since`; after a page whose last `updated_at` differs from
    `since` the window restarts there (skipping the pages filled by rows at that instant), otherwise the next
    page of the same window; ids already counted at `since` are skipped."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    started, cpu_started, records = time.perf_counter(), time.process_time(), 0
    since, page, seen_at_since = START_API, 1, set()
    while True:
        body = {"page": page, "per_page": page_size, "orderBy": {"updated_at": "asc", "id": "asc"},
                "where": [{"column": "updated_at", "operator": ">=", "value": since}]}
        data = json.loads(session.get(f"{base_url}/orders", json=body, timeout=120).content)["data"]
        records += sum(1 + len(order["baskets"]) for order in data
                       if not (order["updated_at"] == since and order["id"] in seen_at_since))
        if len(data) < page_size:
            return records, time.perf_counter() - started, time.process_time() - cpu_started
        last = data[-1]["updated_at"]
        at_last = {order["id"] for order in data if order["updated_at"] == last}
        if last == since:
            page += 1
            seen_at_since |= at_last
        else:
            since, page, seen_at_since = last, 1 + len(at_last) // len(data), at_last


def tap_cli() -> str:
    """The tap as Meltano installs it (meltano.yml's pip_url: the tap alone, pinned by requirements.lock) in a
    venv of its own, so its start-up is not the dev venv's (whose chdb brings pandas and numpy, which the
    SDK's joblib then imports). Built once under .venv-bench/ (editable: the working tree's code runs)."""
    venv = REPO / ".venv-bench" / "tap-qtickets"
    pins = hashlib.sha256(b"".join((REPO / name).read_bytes() for name in (
        "requirements.lock", "tap-qtickets/pyproject.toml"))).hexdigest()
    stamp = venv / ".installed"
    if not (stamp.exists() and stamp.read_text() == pins):
        shutil.rmtree(venv, ignore_errors=True)
        uv = str(BIN / "uv")
        subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
        subprocess.run([uv, "pip", "install", "--quiet", "--compile-bytecode", "--python",
                        str(venv / "bin" / "python"), "-e", str(REPO / "tap-qtickets"), "-c",
                        str(REPO / "requirements.lock")], check=True)
        stamp.write_text(pins)
    # An installed tap runs from compiled bytecode; the editable one would compile its modules at every
    # start where PYTHONDONTWRITEBYTECODE is set (~45 ms). Compiled once per change of the sources.
    compileall.compile_dir(str(REPO / "tap-qtickets" / "tap_qtickets"), quiet=1)
    return str(venv / "bin" / "tap-qtickets")


def write_catalog(config_path: Path, out: Path, streams: tuple[str, ...] = STREAMS) -> Path:
    discover = [tap_cli(), "--config", str(config_path), "--discover"]
    catalog = json.loads(subprocess.run(discover, capture_output=True, text=True, check=True).stdout)
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] in streams
    out.write_text(json.dumps(catalog))
    return out


def run_tap(workdir: Path, config: dict, state: dict | None = None,
            streams: tuple[str, ...] = STREAMS) -> dict:
    """Run the tap CLI (`streams` selected; the catalog is written once per `workdir`); returns records
    written, seconds, peak RSS (MB) and the final state."""
    config_path = workdir / "config.json"
    config_path.write_text(json.dumps(config))
    catalog = workdir / "catalog.json"
    if not catalog.exists():
        write_catalog(config_path, catalog, streams)
    args = [tap_cli(), "--config", str(config_path), "--catalog", str(catalog)]
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
    return {"api_token": TOKEN, "base_url": base_url, "page_size": page_size, "request_timeout": 120,
            "start_date": START_DATE, **extra}


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
        first = run_tap(workdir, config_for(base_url, page_size))  # full load: provides the bookmark
        changes, minutes = advance_until_changes(base_url, 50)
        counts = {"changes": changes, "minutes": minutes}
        for label, lookback in (("lookback_0", 0), ("lookback_default", None)):
            control(base_url, "DELETE", "requests")
            extra = {} if lookback is None else {"lookback_minutes": lookback}
            run = run_tap(workdir, config_for(base_url, page_size, **extra), state=first["state"])
            log = control(base_url, "GET", "requests")
            counts[label] = {"requests": len(log), "records": run["records"]}
        return counts


def throughput_and_rss(orders: int, page_size: int, rounds: int) -> dict:
    """Tap runs (and, with `rounds`, as many raw loops, alternating): records/s (medians) and peak RSS."""
    with sandbox(orders) as base_url, tempfile.TemporaryDirectory() as tmp:
        raw_loop(base_url, page_size)  # warm-up (imports, connection, sandbox caches)
        raws, taps = [], []
        for _ in range(max(rounds, 1)):
            if rounds:
                raws.append(raw_loop(base_url, page_size))
            taps.append(run_tap(Path(tmp), config_for(base_url, page_size)))
        result: dict = {"tap_records": taps[0]["records"], "rss_mb": max(tap["rss_mb"] for tap in taps),
                        "tap_seconds": statistics.median(tap["seconds"] for tap in taps),
                        "tap_cpu": statistics.median(tap["cpu"] for tap in taps)}
        result.update(tap_rps=result["tap_records"] / result["tap_seconds"],
                      tap_cpu_rps=result["tap_records"] / result["tap_cpu"])
        if raws:
            records = raws[0][0]
            result.update(raw_records=records, raw_rps=records / statistics.median(r[1] for r in raws),
                          raw_cpu_rps=records / statistics.median(r[2] for r in raws),
                          # each tap run against the raw loop just before it: robust to the machine's drift
                          paired=sorted(raw[1] / tap["seconds"] for raw, tap in zip(raws, taps, strict=True)))
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--sizes", default="100000,400000", help="two order counts for the RSS comparison")
    parser.add_argument("--incremental-sizes", default="10000,100000")
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5, help="tap runs and raw loops, alternating")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    inc_sizes = [int(s) for s in args.incremental_sizes.split(",")]

    runs = {}
    for index, size in enumerate(sizes):
        print(f"== full sync, {size} orders", flush=True)
        runs[size] = throughput_and_rss(size, args.page_size, rounds=args.rounds if index == 0 else 0)
        print(f"  tap: {runs[size]['tap_records']} records in {runs[size]['tap_seconds']:.1f}s, "
              f"peak RSS {runs[size]['rss_mb']:.1f} MB", flush=True)
    first = runs[sizes[0]]
    if first["tap_records"] != first["raw_records"]:
        print(f"  WARNING: tap wrote {first['tap_records']} records, raw loop saw {first['raw_records']}")
    ratio = first["tap_rps"] / first["raw_rps"]
    cpu_ratio = first["tap_cpu_rps"] / first["raw_cpu_rps"]
    print(f"THROUGHPUT ({sizes[0]} orders, page {args.page_size}, same keyset requests, tap = whole CLI "
          f"process incl. start-up, medians of {args.rounds} alternating runs): tap {first['tap_rps']:.0f} "
          f"rec/s, raw requests+json {first['raw_rps']:.0f} rec/s, ratio {ratio:.2f} (goal >= 0.8); "
          f"per CPU-second: tap {first['tap_cpu_rps']:.0f}, raw {first['raw_cpu_rps']:.0f}, "
          f"ratio {cpu_ratio:.2f}")
    paired = first["paired"]
    print(f"THROUGHPUT, each tap run / the raw loop run just before it: median "
          f"{statistics.median(paired):.2f} (goal >= 0.8), range {paired[0]:.2f}–{paired[-1]:.2f} over "
          f"{len(paired)} pairs")
    rss = [runs[s]["rss_mb"] for s in sizes]
    print(f"PEAK RSS: {', '.join(f'{s} orders {r:.1f} MB' for s, r in zip(sizes, rss, strict=True))}; "
          f"difference {max(rss) - min(rss):.1f} MB (goal <= 50 MB)")

    for size in inc_sizes:
        print(f"== incremental run after >= 50 changes, {size} orders", flush=True)
        counts = incremental_requests(size, args.page_size)
        print(f"INCREMENTAL ({size} orders, {counts['changes']} changes in {counts['minutes']:.0f} sandbox "
              f"minutes): lookback 0 → {counts['lookback_0']['requests']} requests "
              f"({counts['lookback_0']['records']} records); default look-back (2 h) → "
              f"{counts['lookback_default']['requests']} requests "
              f"({counts['lookback_default']['records']} records)")


if __name__ == "__main__":
    main()
