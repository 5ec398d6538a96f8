"""Benchmark: a no-change scheduled run (`qtickets-pipeline run`, the systemd/cron command) beside its floor.

The account is the demo's (3,000 orders, 12 events) unless told otherwise. After a backfill and one run that
makes the tap's catalog, the sandbox does not move and the scheduled run is timed, as a subprocess, as
systemd starts it; then the floor: a fresh Python process that makes the same GETs (replayed from the
sandbox's request log of that run: method, path, JSON body) and one insert of the rows the run loaded into
the same embedded ClickHouse. Prints both wall times, their ratio, the requests, and — where `strace`
exists — the processes the run started. Goal (issue 15): the scheduled run ≤ 3 s, at most 4 Python
processes (CLI, Meltano, tap, target).

    .venv/bin/python bench/scheduled_run.py [--orders 3000] [--events 12] [--repeat 5] [--extract]
    .venv/bin/python bench/scheduled_run.py --floor REQUESTS.json ROWS.json CHDB_DIR   (the floor itself)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

API = "/api/rest/v1"
BIN = Path(sys.executable).parent


def floor(requests_file: str, rows_file: str, chdb_dir: str) -> None:
    """The floor, in its own process: the same GETs, then one insert of the rows the run loaded."""
    import clickhouse_connect
    import requests

    calls = json.loads(Path(requests_file).read_text())
    session = requests.Session()
    for call in calls:
        response = session.get(call["url"], json=call["body"], timeout=60,
                               headers={"Authorization": f"Bearer {call['token']}"})
        response.json()
    rows = Path(rows_file).read_bytes()
    client = clickhouse_connect.get_client(interface="chdb", path=chdb_dir)
    client.command(
        "CREATE TABLE IF NOT EXISTS default.floor_rows (line String) ENGINE = MergeTree ORDER BY tuple()"
    )
    client.raw_insert("default.floor_rows", ["line"], insert_block=rows, fmt="JSONAsString")
    client.close()


def timed_subprocess(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.monotonic()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:2])} failed:\n{done.stderr[-2000:]}")
    return seconds


def processes_started(cmd: list[str], env: dict[str, str], cwd: Path) -> list[str] | None:
    """The programs a run executes (strace -f -e execve), or None without strace."""
    if not shutil.which("strace"):
        return None
    with tempfile.NamedTemporaryFile(suffix=".strace") as trace:
        subprocess.run(
            ["strace", "-f", "-qq", "-e", "trace=execve", "-o", trace.name, *cmd],
            env=env,
            cwd=cwd,
            capture_output=True,
            check=True,
        )
        lines = Path(trace.name).read_text().splitlines()
    return [line.split('"')[1] for line in lines if "execve(" in line and "ENOENT" not in line]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--events", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--floor", nargs=3, metavar=("REQUESTS", "ROWS", "CHDB_DIR"))
    parser.add_argument("--extract", action="store_true",
                        help="then the extract cases (bench/extract.py, ~7 min): 150 events' live shows vs "
                             "their raw seat GETs, the fallback at 100k and 400k orders")
    args = parser.parse_args()
    if args.floor:
        floor(*args.floor)
        return 0

    from benchlib import TOKEN, throwaway_project
    from qtickets_pipeline import meltano_cli
    from qtickets_sandbox.testing import SandboxServer

    work = Path(tempfile.mkdtemp(prefix="bench-scheduled-"))
    settings = throwaway_project(work)
    meltano_cli.install(settings)
    env = {**os.environ, "LOG_LEVEL": "WARNING"}
    cli = [str(BIN / "qtickets-pipeline"), "run", "--trigger", "bench"]
    with SandboxServer(seed=1, orders=args.orders, events=args.events, token=TOKEN) as sb:
        env["QTICKETS_BASE_URL"] = sb.base_url
        backfill = timed_subprocess(cli, env, work)
        timed_subprocess(cli, env, work)  # the catalog is cached; the sandbox stands still from now on
        runs, floors = [], []
        for _ in range(args.repeat):
            sb.clear_requests()
            runs.append(timed_subprocess(cli, env, work))
            calls = [
                {
                    "url": sb.base_url.removesuffix(API) + entry["path"],
                    "body": entry.get("body"),
                    "token": TOKEN,
                }
                for entry in sb.requests()
                if entry["path"].startswith(API)
            ]
            with warehouse_rows(settings) as rows_file:
                (work / "requests.json").write_text(json.dumps(calls))
                floor_dir = work / "floor-ch"
                floors.append(
                    timed_subprocess(
                        [
                            sys.executable,
                            __file__,
                            "--floor",
                            str(work / "requests.json"),
                            str(rows_file),
                            str(floor_dir),
                        ],
                        env,
                        work,
                    )
                )
        started = processes_started(cli, env, work)
    run_s, floor_s = statistics.median(runs), statistics.median(floors)
    print(f"bench/scheduled_run.py: {args.orders} orders, {args.events} events; backfill {backfill:.1f} s")
    print(
        f"  no-change scheduled run: median {run_s:.2f} s of {args.repeat} "
        f"({', '.join(f'{s:.2f}' for s in runs)})"
        f"; {len(calls)} GETs"
    )
    print(
        f"  floor (same GETs + one insert, fresh process): median {floor_s:.2f} s; "
        f"ratio {run_s / floor_s:.2f}x"
    )
    if started is not None:
        pythons = [p for p in started if Path(p).name not in ("uv",)]
        print(f"  processes started: {len(pythons)} ({', '.join(Path(p).name for p in pythons)})")
    verdict = "OK" if run_s <= 3 else "OVER"
    print(f"goal: no-change scheduled run <= 3 s: {verdict}")
    if args.extract:
        import extract

        return extract.main([])
    return 0


class warehouse_rows:
    """A file of the rows the last run inserted into staging (JSON lines), for the floor's one insert."""

    def __init__(self, settings) -> None:
        self.settings, self.path = settings, settings.project_root.parent / "rows.jsonl"

    def __enter__(self) -> Path:
        from qtickets_pipeline.warehouse import connect

        with connect(self.settings) as client:
            latest = client.query(
                "SELECT max(_sdc_batched_at) FROM zakaz.stg_qtickets_sales_raw"
            ).result_rows[0][0]
            lines = []
            for (table,) in client.query(
                "SELECT name FROM system.tables WHERE database = 'zakaz' AND name LIKE 'stg_qtickets_%'"
            ).result_rows:
                result = client.raw_query(
                    f"SELECT * FROM zakaz.{table} WHERE _sdc_batched_at >= {{t:DateTime64(6, 'UTC')}} - 60",
                    parameters={"t": latest},
                    fmt="JSONEachRow",
                )
                lines.append(result)
        self.path.write_bytes(b"".join(lines))
        return self.path

    def __exit__(self, *exc) -> None:
        self.path.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
