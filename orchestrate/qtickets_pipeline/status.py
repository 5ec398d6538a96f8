"""`qtickets-pipeline status`: the last loads (the causes of failures in full, below the table) and the
freshness of every stream."""

from __future__ import annotations

import click

from .report import format_table
from .settings import Settings
from .warehouse import query_rows, table_exists

RUNS_SQL = """
    SELECT started_at, run_id, trigger, effective_status AS status, round(duration_s, 1) AS seconds,
           rows_total, error
    FROM {db}.v_job_runs ORDER BY started_at DESC LIMIT 10"""
FRESHNESS_SQL = """
    SELECT stream, last_success_at, last_rows_loaded_at, last_source_updated_at, source_lag_s, load_lag_s,
           raw_rows, unique_keys, last_run_status
    FROM {db}.v_data_freshness ORDER BY stream"""


def print_status(client, settings: Settings) -> None:
    db = settings.database
    click.echo("Last loads:")
    if table_exists(client, db, "v_job_runs"):
        columns, rows = query_rows(client, RUNS_SQL.format(db=db))
        click.echo(format_table(columns[:-1], [row[:-1] for row in rows]))
        for row in rows:
            if row[-1]:
                click.echo(f"  {row[1]} ({row[3]}): {row[-1]}")
    else:
        click.echo("none yet")
    click.echo("\nFreshness (v_data_freshness):")
    if table_exists(client, db, "v_data_freshness"):
        click.echo(format_table(*query_rows(client, FRESHNESS_SQL.format(db=db))))
    else:
        click.echo("no data loaded yet (the view appears after the first successful load)")
