"""`qtickets-pipeline`: run / status / check / report / transform / sql / demo."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click

from . import jobruns, logs, meltano_cli, transforms
from .pipeline import PipelineFailed, run_pipeline
from .report import format_table, write_report
from .settings import Settings, SettingsError, load_settings
from .warehouse import connect, query_rows, table_exists

log = logs.get("cli")


def _settings(env_file: str | None, environment: str | None) -> Settings:
    settings = load_settings(env_file, environment)
    logs.configure(settings.env)
    return settings


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
@click.option("--trigger", default="cli", hidden=True, help="Recorded in meta_job_runs (cli/schedule/demo).")
def run(env_file, environment, days, since, to, full_refresh, trigger) -> None:
    """Run the job once: load, then apply transforms. Exit 1 on any failure."""
    settings = _settings(env_file, environment)
    try:
        result = run_pipeline(
            settings, trigger=trigger, days=days, since=since, to=to, full_refresh=full_refresh
        )
    except PipelineFailed as failed:
        click.echo(f"run {failed.run.run_id} failed: {failed.run.error}", err=True)
        sys.exit(1)
    if result.status == "skipped":
        click.echo(f"skipped: {result.error}")
        return
    click.echo(
        f"run {result.run_id} succeeded: {sum(result.rows_loaded.values())} rows loaded "
        f"({', '.join(f'{k}={v}' for k, v in sorted(result.rows_loaded.items()))})"
    )


@main.command()
@common
def install(env_file, environment) -> None:
    """`meltano install` with the pipeline's environment (uv on PATH, no version check, no telemetry)."""
    settings = _settings(env_file, environment)
    out = meltano_cli.install(settings)
    click.echo(f"plugins installed in {out.seconds:.1f} s")


@main.command()
@common
def transform(env_file, environment) -> None:
    """Apply transform/*.sql to ClickHouse (idempotent)."""
    settings = _settings(env_file, environment)
    with connect(settings) as client:
        transforms.ensure_bookkeeping(client, settings)
        applied = transforms.apply_all(client, settings)
    click.echo("applied: " + ", ".join(applied))


RUNS_SQL = """
    SELECT started_at, run_id, trigger, effective_status AS status, round(duration_s, 1) AS seconds,
           rows_total, substring(error, 1, 60) AS error
    FROM {db}.v_job_runs ORDER BY started_at DESC LIMIT 10"""
FRESHNESS_SQL = """
    SELECT stream, last_success_at, last_rows_loaded_at, last_source_updated_at, source_lag_s, raw_rows,
           unique_keys, last_run_status
    FROM {db}.v_data_freshness ORDER BY stream"""


def print_status(client, settings: Settings) -> None:
    db = settings.database
    click.echo("Last runs:")
    click.echo(format_table(*query_rows(client, RUNS_SQL.format(db=db))))
    click.echo("\nFreshness (v_data_freshness):")
    if table_exists(client, db, "v_data_freshness"):
        click.echo(format_table(*query_rows(client, FRESHNESS_SQL.format(db=db))))
    else:
        click.echo("no data loaded yet (the view appears after the first successful run)")


@main.command()
@common
def status(env_file, environment) -> None:
    """Last runs, freshness and per-stream row counts."""
    settings = _settings(env_file, environment)
    with connect(settings) as client:
        transforms.ensure_bookkeeping(client, settings)
        jobruns.drain_spool(client, settings.database, settings.state_dir)  # rows of skipped runs
        print_status(client, settings)


@main.command()
@common
def check(env_file, environment) -> None:
    """Run transform/smoke_checks.sql; exit 1 if any check fails."""
    settings = _settings(env_file, environment)
    with connect(settings) as client:
        results = transforms.smoke_checks(client, settings)
    click.echo(
        format_table(
            ["check", "ok", "detail"], [(n, "OK" if ok else "FAIL", d) for n, ok, d in results], max_width=80
        )
    )
    if not all(ok for _, ok, _ in results):
        sys.exit(1)


@main.command()
@common
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where to write the chart (default data/report/sales_14d.html).",
)
def report(env_file, environment, html_path) -> None:
    """14-day sales per event as a table, plus an HTML chart."""
    settings = _settings(env_file, environment)
    out = Path(html_path) if html_path else settings.project_root / "data" / "report" / "sales_14d.html"
    with connect(settings) as client:
        text, path = write_report(client, settings, out)
    click.echo(text)
    click.echo(f"\nchart: {path}")


@main.command()
@common
@click.argument("query")
def sql(env_file, environment, query) -> None:
    """Run one SQL query against the pipeline's ClickHouse and print the result."""
    settings = _settings(env_file, environment)
    with connect(settings) as client:
        click.echo(format_table(*query_rows(client, query), max_width=60))


@main.command()
@click.option("--orders", type=click.IntRange(min=1), default=3000, help="Orders the sandbox generates.")
@click.option("--events", type=click.IntRange(min=1), default=12, help="Events the sandbox generates.")
def demo(orders, events) -> None:
    """Start the local sandbox, install the plugins, run the job into data/clickhouse, print a report."""
    from .demo import run_demo

    settings = _settings(None, "demo")
    sys.exit(run_demo(settings, orders=orders, events=events))


def entrypoint() -> None:
    try:
        main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(1)
    except (SettingsError, ValueError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:  # last resort: one clear line, no traceback, exit 1
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        click.echo(f"error: {type(exc).__name__}: {first}", err=True)
        sys.exit(1)
