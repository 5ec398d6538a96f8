"""Benchmark: the tap's extract cost next to the request floor (issue 16), measured at tap level (the tap CLI
writing to a file; the sandbox in its own process; no Meltano).

1. `live_shows`: a day with many live shows (sandbox `events=150`: ~226 live shows). A run selecting
   `events`, `shows` and `inventory`: its wall time and seat requests next to a raw requests loop making the
   same seat GETs (same paths and bodies, replayed from the sandbox's request log, each answer decoded).
   Goal: tap ≤ 2× raw, program to program (the tap run is timed from outside, start-up included, and so is
   the raw loop's program); the raw loop in a warm interpreter is printed too. Measured on loopback, where
   the sandbox answers a seat GET in ~1 ms of its own CPU, and with every answer `--latency` late (a
   sandbox `delay` fault, 20 ms by default: a round trip to a SaaS API), where requests in flight overlap
   as they do against QTickets.
2. `fallback`: a no-change run after a backfill, with the self-checked nested filter (`basket_filter: auto`)
   and without it (`off`: per-show barcode digests decide which events' orders are re-read), on accounts
   of two sizes. The larger account has the longer history at the same daily sales (the first size over the
   sandbox's 28 days, the next over proportionally more, its older orders on older events: sandbox
   `--history-days`): what differs is the past only, not the present (live shows, recent changes).
   Requests by kind and seconds, also for a deep pass, each next to a raw loop of the same GETs; the
   no-change runs are repeated in alternating pairs (auto, off), whose ratios are printed (median and
   range: this machine's speed drifts between runs), and once more with every answer `--latency` late.
   Goals: `off` ≤ 2× `auto`; the same cost at both sizes (nothing grows with history).

The tap runs from a venv of its own, as Meltano installs it (bench/tap.py `tap_cli`).

Both are functions (`live_shows`, `fallback`) that bench/scheduled_run.py can call; they return the figures.

    .venv/bin/python bench/extract.py [--live-orders 20000] [--live-events 150]
                                      [--fallback-sizes 100000,400000] [--fallback-events 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import requests
from tap import TOKEN, config_for, control, run_tap, sandbox

API = "/api/rest/v1"
LIVE_STREAMS = ("events", "shows", "inventory")
# The selection of the project's meltano.yml: what a scheduled run extracts.
SCHEDULED_STREAMS = ("events", "shows", "inventory", "orders", "sales", "discounts", "promo_codes")
PAGE_SIZE = 100  # the tap's default
HISTORY_DAYS = 28  # the sandbox's default history, for the first fallback size
FLOORED = ("auto", "auto, deep pass", "off", "off, deep pass")  # fallback runs also replayed by a raw loop


def request_kinds(log: list[dict]) -> Counter:
    """API requests by kind: the orders' order pass and ticket pass, seats, barcodes, other lists."""
    kinds: Counter = Counter()
    for entry in log:
        route = entry["path"].removeprefix(API)
        if route.startswith("/orders"):
            first = ((entry.get("body") or {}).get("where") or [{}])[0]
            order_pass = first.get("column") == "updated_at" and first.get("operator") == ">="
            kinds["order pass" if order_pass else "ticket pass"] += 1
        elif route.endswith(("/seats", "/barcodes")):
            kinds[route.rsplit("/", 1)[-1]] += 1
        else:
            kinds[route.strip("/").split("/")[0]] += 1
    return kinds


def replay(base_url: str, log: list[dict]) -> float:
    """Seconds a plain requests session takes for the same GETs (path and JSON body), one after another,
    each answer decoded with `json` (the raw loop of bench/tap.py: requests + json)."""
    root = base_url.rsplit(API, 1)[0]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    started = time.perf_counter()
    for entry in log:
        answer = session.get(f"{root}{entry['path']}", json=entry.get("body"), timeout=120)
        answer.raise_for_status()
        json.loads(answer.content)
    return time.perf_counter() - started


def replay_process(base_url: str, log: list[dict], workdir: Path) -> float:
    """Seconds of `replay` as a program of its own (interpreter start and `import requests` included), timed
    from outside like the tap's CLI."""
    calls = workdir / "replay.json"
    calls.write_text(json.dumps(log))
    started = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--replay", base_url, str(calls)], check=True)
    return time.perf_counter() - started


def measured_run(base_url: str, workdir: Path, config: dict, state: dict | None,
                 streams: tuple[str, ...]) -> dict:
    """One tap run with the sandbox's request log cleared first: seconds, requests by kind, final state."""
    control(base_url, "DELETE", "requests")
    run = run_tap(workdir, config, state=state, streams=streams)
    log = [entry for entry in control(base_url, "GET", "requests") if entry["path"].startswith(API)]
    return {"seconds": run["seconds"], "kinds": request_kinds(log), "log": log, "state": run["state"],
            "records": run["records"]}


def live_shows(orders: int = 20_000, events: int = 150, latency: float = 0.02, rounds: int = 3) -> dict:
    """The tap's seat snapshots vs a raw loop making the same seat GETs (`rounds` alternating runs of each),
    on loopback and `latency` late."""
    print(f"== live shows: {events} events, {orders} orders", flush=True)
    taps, programs, warm = [], [], []
    with sandbox(orders, events) as base_url, tempfile.TemporaryDirectory() as tmp:
        config = config_for(base_url, PAGE_SIZE)
        run_tap(Path(tmp), config, streams=LIVE_STREAMS)  # warm-up: sandbox caches, page cache
        for _ in range(rounds):
            tap = measured_run(base_url, Path(tmp), config, None, LIVE_STREAMS)
            seats = [entry for entry in tap["log"] if entry["path"].endswith("/seats")]
            programs.append(replay_process(base_url, seats, Path(tmp)))
            replay(base_url, seats[:5])  # warm-up of the raw session
            warm.append(replay(base_url, seats))
            taps.append(tap["seconds"])
        control(base_url, "POST", "faults", {"rules": [{"match": API, "fault": "delay", "seconds": latency}]})
        late = measured_run(base_url, Path(tmp), config, None, LIVE_STREAMS)
        late_raw = replay(base_url, seats)
        control(base_url, "DELETE", "faults")
    tap_s, program_s, warm_s = (statistics.median(values) for values in (taps, programs, warm))
    paired = sorted(t / p for t, p in zip(taps, programs, strict=True))
    result = {"tap_seconds": tap_s, "raw_process_seconds": program_s, "raw_seconds": warm_s,
              "seat_requests": len(seats), "requests": sum(tap["kinds"].values()), "ratio": tap_s / program_s,
              "paired": paired, "latency": latency, "late_tap_seconds": late["seconds"],
              "late_raw_seconds": late_raw}
    print(f"LIVE SHOWS ({events} events, medians of {rounds} alternating runs): tap run (events+shows+"
          f"inventory, CLI incl. start-up) {tap_s:.2f} s for {result['requests']} requests ({len(seats)} "
          f"seat GETs); raw loop of the same seat GETs as a program {program_s:.2f} s, in a warm interpreter "
          f"{warm_s:.2f} s; tap/raw {tap_s / program_s:.2f} program to program (each pair "
          f"{paired[0]:.2f}–{paired[-1]:.2f}; goal ≤ 2), {tap_s / warm_s:.2f} against the warm loop (no "
          f"start-up on its side)", flush=True)
    print(f"LIVE SHOWS, every answer {latency * 1000:.0f} ms late: tap run {late['seconds']:.2f} s, raw loop "
          f"of the same seat GETs {late_raw:.2f} s in-process; tap/raw {late['seconds'] / late_raw:.2f} "
          f"(goal ≤ 2)", flush=True)
    return result


def _show(label: str, run: dict) -> None:
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(run["kinds"].items()))
    raw = f" (raw loop {run['raw_seconds']:.1f} s)" if "raw_seconds" in run else ""
    print(f"  {label:<34} {run['seconds']:6.1f} s{raw}, {sum(run['kinds'].values()):5d} requests ({kinds})",
          flush=True)


def _without_deep_pass_mark(state: dict) -> dict:
    """The state with the last deep pass forgotten: the next run makes one (no clock moves, no change)."""
    bookmark = dict(state["bookmarks"]["orders"])
    bookmark["ticket_changes"] = {k: v for k, v in bookmark["ticket_changes"].items() if k != "deep_pass_at"}
    return {**state, "bookmarks": {**state["bookmarks"], "orders": bookmark}}


def fallback(orders: int, events: int = 30, history_days: int = 28, rounds: int = 4,
             latency: float = 0.02) -> dict:
    """No-change runs with and without the nested filter after a backfill (plus a deep pass of each); then
    `rounds` more no-change pairs (auto, off), and one with every answer `latency` late."""
    print(f"== fallback: {orders} orders over {events} events, {history_days} days of history", flush=True)
    runs: dict[str, dict] = {}
    with sandbox(orders, events, history_days) as base_url, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        placed = requests.get(f"{base_url}/orders", json={"per_page": 1}, timeout=60,
                              headers={"Authorization": f"Bearer {TOKEN}"}).json()["paging"]["total"]
        print(f"  {placed} orders placed", flush=True)
        auto, off = config_for(base_url, PAGE_SIZE), config_for(base_url, PAGE_SIZE, basket_filter="off")
        started = time.perf_counter()
        backfill = run_tap(workdir, auto, streams=SCHEDULED_STREAMS)
        seconds = time.perf_counter() - started
        print(f"  backfill: {backfill['records']} records in {seconds:.0f} s", flush=True)
        runs["auto"] = measured_run(base_url, workdir, auto, backfill["state"], SCHEDULED_STREAMS)
        runs["auto, deep pass"] = measured_run(base_url, workdir, auto, _without_deep_pass_mark(
            runs["auto"]["state"]), SCHEDULED_STREAMS)
        # The first run without the filter has no digests to compare with: it re-reads every checked show's
        # event once; the next one is the steady state.
        runs["off, first"] = measured_run(base_url, workdir, off, runs["auto"]["state"], SCHEDULED_STREAMS)
        runs["off"] = measured_run(base_url, workdir, off, runs["off, first"]["state"], SCHEDULED_STREAMS)
        # Likewise the first deep pass without the filter meets the recently finished shows for the first
        # time.
        runs["off, first deep pass"] = measured_run(base_url, workdir, off, _without_deep_pass_mark(
            runs["off"]["state"]), SCHEDULED_STREAMS)
        runs["off, deep pass"] = measured_run(base_url, workdir, off, _without_deep_pass_mark(
            runs["off, first deep pass"]["state"]), SCHEDULED_STREAMS)
        for label in FLOORED:  # the same GETs by a raw loop: what the API's answers cost at this size
            runs[label]["raw_seconds"] = replay(base_url, runs[label]["log"])
        # The same no-change runs again, alternating, so both see the same machine: paired ratios.
        starts = ((auto, backfill["state"]), (off, runs["off, first"]["state"]))
        pairs = [[measured_run(base_url, workdir, config, state, SCHEDULED_STREAMS)["seconds"]
                  for config, state in starts] for _ in range(rounds)]
        # And once with every answer `latency` late, as against an API across a network.
        control(base_url, "POST", "faults", {"rules": [{"match": API, "fault": "delay", "seconds": latency}]})
        late = [measured_run(base_url, workdir, config, state, SCHEDULED_STREAMS)["seconds"]
                for config, state in starts]
        control(base_url, "DELETE", "faults")
    for label, run in runs.items():
        _show(f"{label} (no change)", run)
    result = {label: {"seconds": run["seconds"], "requests": sum(run["kinds"].values()),
                      "kinds": dict(run["kinds"]), "raw_seconds": run.get("raw_seconds")}
              for label, run in runs.items()}
    result["placed"] = {"orders": placed, "history_days": history_days}
    ratio = result["off"]["requests"] / result["auto"]["requests"]
    pairs.insert(0, [runs["auto"]["seconds"], runs["off"]["seconds"]])
    autos, offs = ([pair[i] for pair in pairs] for i in (0, 1))
    paired = sorted(off_s / auto_s for auto_s, off_s in zip(autos, offs, strict=True))
    result["paired"] = paired
    deep = result["off, deep pass"]["seconds"] / result["auto, deep pass"]["seconds"]
    print(f"  no-change runs, {len(paired)} alternating pairs: auto median {statistics.median(autos):.2f} s, "
          f"off median {statistics.median(offs):.2f} s", flush=True)
    print(f"FALLBACK ({orders} orders): no-change run off/auto: {ratio:.2f}× requests, "
          f"{statistics.median(offs) / statistics.median(autos):.2f}× seconds (medians), each pair "
          f"{statistics.median(paired):.2f}× (median; range {paired[0]:.2f}–{paired[-1]:.2f}) (goal ≤ 2×); "
          f"deep pass off/auto: {deep:.2f}× seconds", flush=True)
    print(f"FALLBACK ({orders} orders), every answer {latency * 1000:.0f} ms late: auto {late[0]:.2f} s, off "
          f"{late[1]:.2f} s: {late[1] / late[0]:.2f}× seconds", flush=True)
    result["late"] = late
    return result


def _vs_floor(run: dict) -> str:
    return (f"{run['requests']} requests {run['seconds']:.1f} s (tap minus the raw loop of its GETs: "
            f"{run['seconds'] - run['raw_seconds']:.1f} s)")


def main(argv: list[str] | None = None) -> int:
    if sys.argv[1:2] == ["--replay"]:  # replay_process's child
        replay(sys.argv[2], json.loads(Path(sys.argv[3]).read_text()))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--live-orders", type=int, default=20_000)
    parser.add_argument("--live-events", type=int, default=150)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds each answer is late (2nd case)")
    parser.add_argument("--fallback-sizes", default="100000,400000")
    parser.add_argument("--fallback-events", type=int, default=30)
    args = parser.parse_args(argv)
    live_shows(args.live_orders, args.live_events, args.latency)
    sizes = [int(size) for size in args.fallback_sizes.split(",") if size]
    results = {size: fallback(size, args.fallback_events, round(HISTORY_DAYS * size / sizes[0]),
                              latency=args.latency) for size in sizes}
    if len(results) > 1:
        print("FALLBACK vs history size (no-change run, off): " + "; ".join(
            f"{r['placed']['orders']} orders over {r['placed']['history_days']} days: {_vs_floor(r['off'])}, "
            f"deep pass {_vs_floor(r['off, deep pass'])}" for r in results.values()) + " (goal: the same)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
