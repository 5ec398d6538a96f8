"""`qtickets-pipeline`: run / status / check / report / transform / sql / demo."""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path

import click
from target_clickhouse import TargetClickHouseError

from . import demo as demo_steps
from . import doctor as doctor_checks
from . import logs, meltano_cli, transforms
from .overlap import RunLock
from .pipeline import TRIGGERS, PipelineFailed, run_pipeline
from .report import default_report_path, format_rows, format_table, write_report
from .settings import Settings, SettingsError, load_settings, name_user_settings
from .status import print_status
from .warehouse import connect, ledger, query_rows

log = logs.get("cli")


def _settings(env_file: str | None, environment: str | None) -> Settings:
    settings = load_settings(env_file, environment)
    logs.configure(settings.env)
    return settings


def reader(settings: Settings):
    """A client for a command that only reads (and transforms): with embedded ClickHouse, a run that is
    writing has the directory; say so at once instead of waiting for it."""
    pid = RunLock(settings.state_dir).active_run() if settings.is_embedded else None
    if pid is not None:
        raise click.ClickException(
            f"run pid {pid} is writing to the embedded ClickHouse ({settings.clickhouse_url}); retry in a "
            "moment (for reads during runs, point CLICKHOUSE_URL at a ClickHouse server)"
        )
    return connect(settings)


def common(fn):
    fn = click.option(
        "--environment",
        type=click.Choice(["demo", "prod"]),
        default=None,
        help="Meltano environment (default: $MELTANO_ENVIRONMENT or demo).",
    )(fn)
    return click.option(
        "--env",
        "env_file",
        type=click.Path(dir_okay=False),
        default=None,
        help="Read settings from this .env-style file (its values win over the shell).",
    )(fn)


def _date(_ctx, param, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected YYYY-MM-DD, got {value!r}", param=param) from None


@click.group()
@click.version_option(package_name="qtickets-pipeline", message="%(prog)s %(version)s")
def main() -> None:
    """QTickets → ClickHouse pipeline (Meltano job `qtickets_load` + SQL transforms)."""


@main.command()
@common
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=None,
    help="Reload orders updated in the last N days (one-off; the bookmark is left alone).",
)
@click.option("--since", callback=_date, default=None, help="One-off window start, YYYY-MM-DD (report zone).")
@click.option("--to", "to", callback=_date, default=None, help="One-off window end (inclusive), YYYY-MM-DD.")
@click.option("--full-refresh", is_flag=True, help="Ignore the bookmark and reload QTICKETS_DAYS_BACK days.")
@click.option("--trigger", type=click.Choice(TRIGGERS), default="cli", show_default=True,
              help="What started the run, recorded in meta_job_runs (systemd/cron pass `schedule`).")
@click.option("--account", "accounts", multiple=True, metavar="EXTRACTOR",
              help="Load only this account (tap-qtickets or an extractor inheriting from it; repeatable). "
                   "Default: every account of meltano.yml.")
def run(env_file, environment, days, since, to, full_refresh, trigger, accounts) -> None:
    """Load every account once: extract, load, bring the views up to date. Exit 1 if any failed."""
    settings = _settings(env_file, environment)
    try:
        run_pipeline(settings, trigger=trigger, days=days, since=since, to=to, full_refresh=full_refresh,
                     accounts=accounts)
    except PipelineFailed:  # its log line says why
        sys.exit(1)


@main.command()
@common
@click.option("--api", "api", is_flag=True,
              help="Instead: probe the real QTickets API, read-only (≤ 20 GETs, nothing written): "
                   "filters, ordering, page size, the nested ticket filter, the seat map. Send its output "
                   "with any bug report.")
def doctor(env_file, environment, api) -> None:
    """Check settings, plugins, the API and token, ClickHouse, privileges and the embedded lock."""
    try:
        settings = _settings(env_file, environment)
    except SettingsError as exc:
        click.echo(doctor_checks.render([doctor_checks.Check("settings", False, str(exc))]))
        sys.exit(1)
    if api:
        from . import api_probe  # imports the tap (singer-sdk): only for this check

        checks = api_probe.run_probe(settings)
    else:
        checks = doctor_checks.run_checks(settings)
    click.echo(doctor_checks.render(checks))
    failed = [c.name for c in checks if not c.ok]
    if failed:
        click.echo(f"{len(failed)} check(s) failed: {', '.join(failed)}", err=True)
        sys.exit(1)


@main.command()
@common
def install(env_file, environment) -> None:
    """`meltano install` with the pipeline's environment (uv on PATH, no version check, no telemetry)."""
    settings = _settings(env_file, environment)
    meltano_cli.install(settings)
    click.echo("plugins installed")


@main.command()
@common
@click.option("--rebuild", is_flag=True,
              help="Rebuild the marts from all of staging, not only from the rows new since the last one.")
def transform(env_file, environment, rebuild) -> None:
    """Apply transform/*.sql where it changed and bring the marts up to date with staging (idempotent)."""
    settings = _settings(env_file, environment)
    with reader(settings) as client:
        outcome = _bring_up_to_date(client, settings, rebuild=rebuild)
    refresh = outcome.refresh
    click.echo(f"model files {'applied' if outcome.ddl_applied else 'unchanged'}; marts "
               f"{'rebuilt' if refresh.rebuilt else 'refreshed' if refresh.changed else 'already current'}"
               f" ({refresh.tickets} tickets, {refresh.seconds:.2f} s)")


def _bring_up_to_date(client, settings: Settings, *, rebuild: bool = False) -> transforms.Outcome:
    with RunLock(settings.state_dir) as lock:
        if not lock.acquire():  # a run refreshes the marts itself; two refreshes at once would collide
            raise click.ClickException(f"a run (pid {lock.holder_pid()}) is active and refreshes the marts "
                                       "itself; retry after it")
        ledger(client, settings).ensure_table()
        return transforms.bring_up_to_date(client, settings, rebuild=rebuild)


@main.command()
@common
def status(env_file, environment) -> None:
    """Last runs, freshness and per-stream row counts."""
    settings = _settings(env_file, environment)
    with reader(settings) as client:
        print_status(client, settings)


@main.command()
@common
def check(env_file, environment) -> None:
    """Run transform/smoke_checks.sql; exit 1 if any check fails."""
    settings = _settings(env_file, environment)
    with reader(settings) as client:
        results = transforms.smoke_checks(client, settings)
    click.echo(format_table(["check", "result", "detail"],
                            [(n, "OK" if ok else "FAIL", d) for n, ok, d in results], max_width=80))
    if not all(ok for _, ok, _ in results):
        sys.exit(1)


@main.command()
@common
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where to write the chart (default data/report/sales_14d.html for the project's own warehouse, "
    "data/report/sales_14d.<warehouse>.html for another CLICKHOUSE_URL / CLICKHOUSE_DATABASE).",
)
def report(env_file, environment, html_path) -> None:
    """14-day sales per event as a table, plus an HTML chart."""
    settings = _settings(env_file, environment)
    out = Path(html_path) if html_path else default_report_path(settings)
    with reader(settings) as client:
        if not transforms.is_current(client, settings):  # e.g. REPORT_TZ changed since the last load
            log.info("the views are not built for these settings (REPORT_TZ?): bringing them up to date")
            _bring_up_to_date(client, settings)
        text, path = write_report(client, settings, out)
    click.echo(text)
    click.echo(f"\nchart: {path}")


@main.command()
@common
@click.option("--format", "output", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="table for people; csv (with a header) or json (one object per line).")
@click.argument("query")
def sql(env_file, environment, output, query) -> None:
    """Run one SQL query against the pipeline's ClickHouse and print the result."""
    settings = _settings(env_file, environment)
    with reader(settings) as client:
        columns, rows = query_rows(client, query)
    click.echo(format_rows(columns, rows, output), nl=False)


@main.command()
def demo() -> None:
    """Start the demo's sandbox, install the plugins, run the job into data/clickhouse, print a report."""
    sys.exit(demo_steps.run_demo(_settings(None, "demo")))


@main.command()
def sandbox() -> None:
    """Serve the demo's sandbox (the last demo's data) on the demo's port until Ctrl-C."""
    sys.exit(demo_steps.serve(_settings(None, "demo")))


@main.group()
def webhooks() -> None:
    """Near-real-time: receive QTickets webhooks into the warehouse."""


@webhooks.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (put nginx or Caddy in front for TLS: docs/production.md).")
@click.option("--port", type=click.IntRange(0, 65535), default=8780, show_default=True,
              help="Port to listen on (0: any free port, logged).")
@click.option("--env", "env_file", type=click.Path(dir_okay=False), default=None,
              help="Read settings from this .env-style file (its values win over the shell).")
@click.option("--latency-log", type=click.Path(dir_okay=False), default=None, hidden=True,
              help="Benchmarks: append 'received visible' Unix times of every payload to this file.")
def webhooks_serve(host, port, env_file, latency_log) -> None:
    """Receive QTickets webhooks on POST /qtickets/webhook[/<account>] until stopped (SIGTERM, Ctrl-C)."""
    from .webhooks import receiver  # aiohttp and the tap: only for this command

    settings = _settings(env_file, None)
    receiver.serve(settings, host, port, Path(latency_log) if latency_log else None)


def entrypoint() -> None:
    """Every failure ends as one log line (text or JSON, as configured) and exit code 1."""
    try:
        logs.configure(dict(os.environ))
    except SettingsError as exc:  # LOG_* themselves are wrong: say so as every other failure, with defaults
        logs.configure({})
        log.error("%s", exc)
        sys.exit(1)
    try:
        main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(1)
    except click.ClickException as exc:
        log.error("%s", exc.format_message())
        sys.exit(exc.exit_code)
    except (SettingsError, TargetClickHouseError) as exc:
        log.error("%s", name_user_settings(str(exc)))  # the target's settings, as the variables users set
        sys.exit(1)
    except Exception as exc:  # last resort: one clear line, no traceback, exit 1
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        log.error("%s: %s", type(exc).__name__, first)
        sys.exit(1)
