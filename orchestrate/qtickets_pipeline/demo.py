"""`make demo` and `qtickets-pipeline sandbox`: the demo's sandbox, one definition for both.

The demo starts the sandbox on the demo environment's port (meltano.yml: 127.0.0.1:8765, token
sandbox-token), installs the plugins, runs the job into data/clickhouse, prints a report, and stops the
sandbox. It records the sandbox's start time, so that `qtickets-pipeline sandbox` afterwards serves the
same organiser (same seed, orders, events and clock) on the same port: the README's next commands load
more of the same data, not a second dataset.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import click

from . import logs, meltano_cli
from .pipeline import PipelineFailed, run_pipeline
from .report import default_report_path, write_report
from .settings import DEMO, DemoSandbox, Settings
from .status import print_status
from .warehouse import connect

log = logs.get("demo")


RECORD = "demo-sandbox.json"  # in the pipeline's state directory: what the last demo served
CLOCK = "demo-sandbox.clock"  # … and how far its clock was moved since (/_sandbox/advance)


def _port_free(sandbox: DemoSandbox) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((sandbox.host, sandbox.port)) != 0


def _check_port(sandbox: DemoSandbox) -> None:
    if not _port_free(sandbox):
        raise click.ClickException(
            f"port {sandbox.port} is in use: is a sandbox already running (`qtickets-pipeline sandbox`)? "
            "Stop it first, or use it"
        )


def start_sandbox(settings: Settings, sandbox: DemoSandbox, *, new_clock: bool) -> subprocess.Popen:
    """`qtickets-sandbox serve` for the demo's organiser; `new_clock` starts it at now (and records that),
    otherwise at the last demo's start, moved on to where /_sandbox/advance had taken its clock."""
    _check_port(sandbox)  # before anything is written: a failed start changes nothing
    record, clock = settings.state_dir / RECORD, settings.state_dir / CLOCK
    if new_clock or not record.exists():
        start_at = datetime.now(UTC).replace(second=0, microsecond=0).isoformat()
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({"start_at": start_at, "seed": sandbox.seed}))
        clock.unlink(missing_ok=True)
    else:
        start_at = json.loads(record.read_text())["start_at"]
    cmd = [str(Path(sys.executable).parent / "qtickets-sandbox"), "serve", "--host", sandbox.host,
           "--port", str(sandbox.port), "--seed", str(sandbox.seed), "--orders", str(sandbox.orders),
           "--events", str(sandbox.events), "--token", sandbox.token, "--start-at", start_at,
           "--clock-file", str(clock)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline().strip()
    if " on " not in first:
        proc.kill()
        raise click.ClickException(f"the sandbox did not start (first line: {first!r})")
    # Keep reading whatever else it prints so a full pipe can never stall the server.
    threading.Thread(target=proc.stdout.read, name="sandbox-stdout", daemon=True).start()
    return proc


def _exit_on_sigterm() -> None:
    """SIGTERM (systemd, `kill`, a test) unwinds like Ctrl-C, so the sandbox child is stopped too."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=10)


def serve(settings: Settings, sandbox: DemoSandbox = DEMO) -> int:
    """The demo's sandbox in the foreground until Ctrl-C."""
    _exit_on_sigterm()
    proc = start_sandbox(settings, sandbox, new_clock=False)
    click.echo(f"QTickets sandbox (the demo's data) at {sandbox.base_url}, token {sandbox.token}. Now, in "
               "another terminal:\n  .venv/bin/qtickets-pipeline run --days 7\nCtrl-C stops it.")
    try:
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(proc)


def reset(settings: Settings) -> None:
    """A demo starts from nothing: the project's embedded warehouse (never one CLICKHOUSE_URL names) and the
    demo environment's bookmark are removed, so a sandbox with a new clock never meets the last one's rows."""
    default = f"chdb://{settings.project_root / 'data' / 'clickhouse'}"
    if settings.clickhouse_url != default:
        click.echo(f"   (CLICKHOUSE_URL is {settings.warehouse}: it is loaded into, not emptied first)")
        return
    directory = Path(default.removeprefix("chdb://"))
    shutil.rmtree(directory, ignore_errors=True)
    directory.with_name(directory.name + ".holder").unlink(missing_ok=True)
    meltano_cli.state_clear(settings)


def run_demo(settings: Settings, sandbox: DemoSandbox = DEMO) -> int:
    _check_port(sandbox)  # first: a demo that cannot start leaves the last one's data and sandbox alone
    click.echo("== installing Meltano plugins (meltano install)")
    meltano_cli.install(settings)
    click.echo("== starting from an empty demo warehouse")
    reset(settings)
    click.echo(f"== starting the QTickets sandbox ({sandbox.orders} orders, {sandbox.events} events) at "
               f"{sandbox.base_url}")
    _exit_on_sigterm()
    proc = start_sandbox(settings, sandbox, new_clock=True)
    try:
        env = dict(settings.env, QTICKETS_BASE_URL=sandbox.base_url, QTICKETS_TOKEN=sandbox.token)
        click.echo("== meltano run qtickets_load → embedded ClickHouse, then transforms")
        try:
            result = run_pipeline(replace(settings, env=env), trigger="demo", full_refresh=True)
        except PipelineFailed:  # its log line says why
            return 1
        click.echo(f"   success: {sum(sum(r.rows_loaded.values()) for r in result)} rows loaded")
    finally:
        _stop(proc)
    with connect(settings) as client:
        text, path = write_report(client, settings, default_report_path(settings))
        click.echo("\n" + text + f"\n\nreport: {path}\n")
        print_status(client, settings)
    click.echo(
        f"\nData is in {settings.clickhouse_url}. Query it with, e.g.:\n"
        '  .venv/bin/qtickets-pipeline sql '
        '"SELECT status, count() FROM zakaz.v_sales_latest GROUP BY status"\n'
        "Load more: start the same sandbox again (`.venv/bin/qtickets-pipeline sandbox`), then "
        "`.venv/bin/qtickets-pipeline run --days 7` in another terminal."
    )
    return 0
