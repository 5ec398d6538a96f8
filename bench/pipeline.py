"""Pipeline benchmark: a full backfill of N orders (default 100 000) from the sandbox into embedded
ClickHouse through `meltano run`, and a no-change scheduled run right after.

Prints: backfill wall time and records/s; the tap alone (`meltano invoke tap-qtickets` into a file),
the target alone (`meltano invoke target-clickhouse` fed that file, fresh directory), Meltano's own
start-up cost, and their shares; then the wall time of an incremental run with nothing new (goal ≤ 10 s).

    .venv/bin/python bench/pipeline.py [--orders 100000] [--events 30]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from benchlib import TOKEN, throwaway_project, timed
from qtickets_pipeline import meltano_cli, preflight
from qtickets_pipeline.pipeline import run_pipeline
from qtickets_sandbox.testing import SandboxServer


def meltano_invoke(settings, args: list[str], stdin=None, stdout=None) -> float:
    cmd = [
        meltano_cli.meltano_executable(),
        "--log-level",
        "warning",
        "--environment",
        settings.environment,
        "invoke",
        *args,
    ]
    started = time.monotonic()
    subprocess.run(
        cmd,
        cwd=settings.project_root,
        env=meltano_cli.build_env(settings),
        stdin=stdin,
        stdout=stdout,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=30)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    settings = throwaway_project(work)
    print(f"work dir: {work}")
    _, t_install = timed(meltano_cli.install, settings)
    print(f"meltano install: {t_install:.1f} s")
    sandbox, t_gen = timed(SandboxServer, seed=1, orders=args.orders, events=args.events, token=TOKEN)
    print(f"sandbox generated {args.orders} orders in {t_gen:.1f} s")
    with sandbox.start() as sb:
        settings = replace(settings, env=dict(settings.env, QTICKETS_BASE_URL=sb.base_url))
        # The catalog (discovery + selection check) is made once per meltano.yml version and cached
        # (preflight); kept out of the figures.
        _, t_select = timed(preflight.catalog, settings)
        print(f"catalog and selection check (once per meltano.yml version): {t_select:.1f} s")
        (run,), t_backfill = timed(run_pipeline, settings, trigger="bench")
        rows = sum(run.rows_loaded.values())
        requests = sum(run.http_requests.values())
        print(
            f"\nbackfill via qtickets-pipeline run: {t_backfill:.1f} s wall, {rows} rows loaded "
            f"({requests} API requests) → {rows / t_backfill:,.0f} rows/s"
        )
        print("  per stream: " + ", ".join(f"{k}={v}" for k, v in sorted(run.rows_loaded.items())))

        _, t_noop = timed(run_pipeline, settings, trigger="bench")
        print(
            f"no-change scheduled run: {t_noop:.1f} s wall (goal ≤ 10 s) "
            f"{'OK' if t_noop <= 10 else 'OVER GOAL'}"
        )

        # Parts measured separately, each through Meltano so selection/config are identical.
        singer = work / "records.singer"
        start = {"TAP_QTICKETS_START_DATE": "2000-01-01T00:00:00+00:00"}
        tap_env = replace(settings, env=dict(settings.env, **start))
        with open(singer, "wb") as out:
            t_tap = meltano_invoke(tap_env, ["tap-qtickets"], stdout=out)
        target_settings = replace(settings, clickhouse_url=f"chdb://{work / 'ch-target-only'}")
        with open(singer, "rb") as inp:
            t_target = meltano_invoke(
                target_settings, ["target-clickhouse"], stdin=inp, stdout=subprocess.DEVNULL
            )
        t_startup = meltano_invoke(settings, ["tap-qtickets", "--about"], stdout=subprocess.DEVNULL)
    tap_net, target_net = max(t_tap - t_startup, 0), max(t_target - t_startup, 0)
    overhead = max(t_backfill - max(tap_net, target_net), 0)
    total = tap_net + target_net + overhead
    print(f"\ntap alone:    {t_tap:.1f} s ({tap_net:.1f} s net of Meltano start-up)")
    print(
        f"target alone: {t_target:.1f} s ({target_net:.1f} s net), "
        f"{singer.stat().st_size / 1e6:.0f} MB of Singer messages"
    )
    print(f"Meltano start-up per plugin invocation: {t_startup:.1f} s")
    print(
        f"share of the work (tap ‖ target run concurrently in `meltano run`; overhead = backfill wall − "
        f"slower side): tap {tap_net / total:.0%}, target {target_net / total:.0%}, "
        f"meltano/pipeline overhead {overhead / total:.0%}"
    )


if __name__ == "__main__":
    sys.exit(main())
