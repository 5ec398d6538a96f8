"""`qtickets-pipeline status`: the last loads (the causes of failures in full, below the table), the
freshness of every stream and, once the webhook receiver has loaded anything, its last delivery per
account."""

from __future__ import annotations

import click

from .report import format_table
from .settings import WEBHOOK_JOB, Settings
from .warehouse import query_rows, table_exists

RUNS_SQL = """
    SELECT started_at, run_id, trigger, effective_status AS status, round(duration_s, 1) AS seconds,
           rows_total, error
    FROM {db}.v_job_runs WHERE job_name != '{webhook_job}' ORDER BY started_at DESC LIMIT 10"""
# The webhook receiver's batches (one ledger row per batch and account), summed per account.
WEBHOOKS_SQL = """
    SELECT account, max(window_end) AS last_delivery_at,
           argMax(dateDiff('millisecond', window_start, finished_at), finished_at) / 1000 AS lag_s,
           countIf(finished_at > now64(3) - INTERVAL 1 HOUR) AS batches_1h,
           sumIf(records_extracted['webhooks'], finished_at > now64(3) - INTERVAL 1 HOUR) AS payloads_1h,
           max(finished_at) AS last_batch_at
    FROM {db}.v_job_runs WHERE job_name = '{webhook_job}' AND status = 'success'
    GROUP BY account ORDER BY account"""
FRESHNESS_SQL = """
    SELECT stream, last_success_at, last_rows_loaded_at, last_source_updated_at, source_lag_s, load_lag_s,
           raw_rows, unique_keys, last_run_status
    FROM {db}.v_data_freshness ORDER BY stream"""


def print_status(client, settings: Settings) -> None:
    db = settings.database
    click.echo("Last loads:")
    if table_exists(client, db, "v_job_runs"):
        columns, rows = query_rows(client, RUNS_SQL.format(db=db, webhook_job=WEBHOOK_JOB))
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
    if table_exists(client, db, "v_job_runs"):
        columns, rows = query_rows(client, WEBHOOKS_SQL.format(db=db, webhook_job=WEBHOOK_JOB))
        if rows:
            click.echo("\nWebhooks (last delivery loaded, lag of the last batch from receipt to the views):")
            click.echo(format_table(columns, rows))
