"""`make demo`: a sandbox on a free port, `meltano install`, one full run, report and freshness."""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import click

from . import logs, meltano_cli
from .cli import print_status
from .pipeline import PipelineFailed, run_pipeline
from .report import write_report
from .settings import Settings
from .warehouse import connect

log = logs.get("demo")
SANDBOX_TOKEN = "sandbox-token"


def start_sandbox(orders: int, events: int) -> tuple[subprocess.Popen, str]:
    exe = Path(sys.executable).parent / "qtickets-sandbox"
    cmd = [
        str(exe),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--seed",
        "1",
        "--orders",
        str(orders),
        "--events",
        str(events),
        "--token",
        SANDBOX_TOKEN,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline().strip()
    if " on " not in first:
        proc.kill()
        raise RuntimeError(f"sandbox did not start (first line: {first!r})")
    # Keep reading whatever else it prints so a full pipe can never stall the server.
    threading.Thread(target=proc.stdout.read, name="sandbox-stdout", daemon=True).start()
    return proc, first.rsplit(" on ", 1)[1]


def run_demo(settings: Settings, orders: int, events: int) -> int:
    click.echo("== installing Meltano plugins (meltano install)")
    meltano_cli.install(settings)
    click.echo(f"== starting the QTickets sandbox ({orders} orders, {events} events)")
    proc, base_url = start_sandbox(orders, events)
    try:
        click.echo(f"   sandbox API: {base_url}")
        env = dict(settings.env, QTICKETS_BASE_URL=base_url, QTICKETS_TOKEN=SANDBOX_TOKEN)
        demo_settings = replace(settings, env=env)
        click.echo("== meltano run qtickets_load → embedded ClickHouse, then transforms")
        try:
            result = run_pipeline(demo_settings, trigger="demo", full_refresh=True)
        except PipelineFailed as failed:
            click.echo(f"demo run failed: {failed.run.error}", err=True)
            return 1
        click.echo(f"   {result.status}: {sum(result.rows_loaded.values())} rows loaded")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    with connect(settings) as client:
        text, path = write_report(
            client, settings, settings.project_root / "data" / "report" / "sales_14d.html"
        )
        click.echo("\n" + text + f"\n\nchart: {path}\n")
        print_status(client, settings)
    click.echo(
        f"\nData is in {settings.clickhouse_url}. Query it with, e.g.:\n"
        '  .venv/bin/qtickets-pipeline sql "SELECT status, count() FROM zakaz.v_sales_latest GROUP BY status"'
    )
    return 0
