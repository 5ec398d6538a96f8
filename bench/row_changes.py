"""Benchmark: what telling new / changed / unchanged rows apart (target-clickhouse `changes.py`, one query
per stream at the end of a load) costs, next to the run it is part of.

A backfill of N orders (default 3000, the demo's size) from the sandbox through `qtickets-pipeline run`,
then, with nothing changed at the source: a scheduled (incremental) run, and a full refresh (every row
re-read, all of them unchanged: the classification's worst case for that warehouse). Printed per run: wall
time, the classification's seconds and their share, and the counts.

    .venv/bin/python bench/row_changes.py [--orders 3000] [--events 12]

Measured 2026-12-05 (2 shared cores): 3000 orders — scheduled 0.11 s of 3.8 s, full refresh 0.24 s of 4.1 s;
100 000 orders (--events 30) — scheduled 0.27 s of 6.8 s, full refresh 9.0 s of 30.5 s.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

from benchlib import TOKEN, throwaway_project, timed
from qtickets_pipeline import meltano_cli, preflight
from qtickets_pipeline.pipeline import run_pipeline
from qtickets_sandbox.testing import SandboxServer


def report(label: str, run, seconds: float) -> None:
    totals = {kind: sum(c.get(kind, 0) for c in run.row_changes.values()) for kind in ("new", "changed",
                                                                                        "unchanged")}
    cost = run.row_changes_seconds or 0.0
    print(f"{label}: {seconds:.1f} s wall, {sum(run.rows_loaded.values())} rows inserted → "
          f"{', '.join(f'{n} {k}' for k, n in totals.items())}; classified in {cost:.3f} s "
          f"({cost / seconds:.1%} of the run)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--events", type=int, default=12)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-row-changes-"))
    settings = throwaway_project(work)
    meltano_cli.install(settings)
    with SandboxServer(seed=1, orders=args.orders, events=args.events, token=TOKEN) as sb:
        settings = replace(settings, env=dict(settings.env, QTICKETS_BASE_URL=sb.base_url))
        preflight.catalog(settings)
        (backfill,), seconds = timed(run_pipeline, settings, trigger="bench")
        report(f"backfill of {args.orders} orders", backfill, seconds)
        (scheduled,), seconds = timed(run_pipeline, settings, trigger="bench")
        report("no-change scheduled run", scheduled, seconds)
        (full,), seconds = timed(run_pipeline, settings, trigger="bench", full_refresh=True)
        report("no-change full refresh", full, seconds)


if __name__ == "__main__":
    main()
