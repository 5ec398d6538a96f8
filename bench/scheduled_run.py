"""Benchmark: the cost of one scheduled run (`qtickets-pipeline run`) in a 100k-order account, with ticket
changes read by the ticket pass, in three cases:

1. no change since the last run;
2. ordinary activity: the sandbox clock moved 30 minutes (sales, payments, scans, refunds);
3. a day with many live shows: the same account spread over 5× the events (so 5× the live shows, each one
   a seat-counter request, and more scans), 30 minutes of activity.

Each case is measured with the self-checked nested filter (`basket_filter: auto`) and with the fallback
(`basket_filter: off`: the orders of events with live shows are re-read). Prints API requests (by kind)
and wall time per run. Goal (issue 9): a no-change scheduled run ≤ 10 s wall (checked on the first case with
the default `basket_filter: auto`; the others print their cost).

    .venv/bin/python bench/scheduled_run.py [--orders 100000] [--events 30] [--many-events 150]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path

from benchlib import TOKEN, throwaway_project, timed
from qtickets_pipeline import meltano_cli, preflight
from qtickets_pipeline.pipeline import run_pipeline
from qtickets_sandbox.testing import SandboxServer

API = "/api/rest/v1"


def request_kinds(log: list[dict]) -> Counter:
    """API requests of one run by kind: events pages, seat snapshots, order pass, ticket pass, other."""
    kinds: Counter = Counter()
    for entry in log:
        path = entry["path"]
        if not path.startswith(API):
            continue
        route = path[len(API):]
        if route.startswith("/orders"):
            where = (entry.get("body") or {}).get("where") or [{}]
            order_pass = where[0].get("column") == "updated_at"
            kinds["orders: order pass" if order_pass else "orders: ticket pass"] += 1
        elif route.endswith("/seats"):
            kinds["seats"] += 1
        else:
            kinds[route.strip("/").split("/")[0]] += 1
    return kinds


def measure(settings, sb: SandboxServer, label: str, advance: int, basket_filter: str) -> float:
    if advance:
        sb.advance(advance)
    sb.clear_requests()
    run_settings = replace(settings, env=dict(settings.env, TAP_QTICKETS_BASKET_FILTER=basket_filter))
    run, seconds = timed(run_pipeline, run_settings, trigger="bench")
    kinds = request_kinds(sb.requests())
    rows = sum(run.rows_loaded.values())
    by_kind = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    print(f"  {label:<34} basket_filter={basket_filter:<4} {seconds:5.1f} s wall, "
          f"{sum(kinds.values()):4d} API requests ({by_kind}), {rows} rows loaded", flush=True)
    return seconds


def account(work: Path, orders: int, events: int) -> tuple:
    settings = throwaway_project(work)
    meltano_cli.install(settings)
    sandbox, seconds = timed(SandboxServer, seed=1, orders=orders, events=events, token=TOKEN)
    print(f"\n== {orders} orders over {events} events (sandbox generated in {seconds:.0f} s)")
    return settings, sandbox


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=30)
    parser.add_argument("--many-events", type=int, default=150)
    args = parser.parse_args()
    no_change = []
    for events, cases in ((args.events, ("no change", "ordinary activity (30 min)")),
                          (args.many_events, ("many live shows: no change", "many live shows: 30 min"))):
        work = Path(tempfile.mkdtemp(prefix="bench-scheduled-"))
        settings, sandbox = account(work, args.orders, events)
        with sandbox.start() as sb:
            settings = replace(settings, env=dict(settings.env, QTICKETS_BASE_URL=sb.base_url))
            preflight.ensure_selection(settings)  # once per meltano.yml version: not part of the figures
            _, seconds = timed(run_pipeline, settings, trigger="bench")
            live = sum(1 for s in sb.truth()["inventory"])
            print(f"  backfill {seconds:.0f} s; {live} show×zone rows of inventory in the truth")
            for basket_filter in ("auto", "off"):
                no_change.append(measure(settings, sb, cases[0], 0, basket_filter))
                measure(settings, sb, cases[1], 30, basket_filter)
    # The goal is the default setup's (basket_filter auto, the ordinary account); the fallback and the day of
    # many live shows (one seat request per live show) are printed for what they cost, against no goal.
    default, rest = no_change[0], no_change[1:]
    verdict = "OK" if default <= 10 else "OVER"
    print(f"\nno-change scheduled run, basket_filter=auto: {default:.1f} s wall (goal ≤ 10 s) {verdict}; "
          f"fallback and many live shows: {', '.join(f'{s:.1f}' for s in rest)} s (no goal)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
