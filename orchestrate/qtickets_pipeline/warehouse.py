"""The pipeline's own ClickHouse handle, through the target's ClickHouseConnector (one client factory,
one naming convention, one redaction for the whole project).

With embedded ClickHouse only one process may open the directory, so the pipeline holds the client
only between steps: `with connect(settings) as client:` and close before `meltano run` starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from target_clickhouse.connector import ClickHouseConnector
from target_clickhouse.identifiers import qualified_table
from target_clickhouse.naming import stream_name

from .settings import Settings

# What the pipeline (the target, the transforms, the bookkeeping) does on its database: create it and its
# tables and views, replace views, evolve staging tables (ALTER), insert, read, and refresh marts.
REQUIRED_PRIVILEGES = ("SELECT", "INSERT", "ALTER", "CREATE DATABASE", "CREATE TABLE", "CREATE VIEW",
                       "DROP TABLE", "DROP VIEW", "TRUNCATE", "OPTIMIZE")


def grant_sql(database: str, user: str) -> str:
    """The GRANT that gives `user` everything the pipeline needs (docs/production.md shows it too)."""
    return f"GRANT {', '.join(REQUIRED_PRIVILEGES)} ON {database}.* TO {user}"


def connector(settings: Settings) -> ClickHouseConnector:
    return ClickHouseConnector({
        "url": settings.clickhouse_url, "username": settings.clickhouse_user,
        "password": settings.clickhouse_password, "database": settings.database,
        "lock_wait_seconds": settings.lock_wait_seconds,
        "engine_flavour": settings.engine_flavour, "cluster": settings.cluster,
    })


@contextmanager
def connect(settings: Settings) -> Iterator:
    """An open client for the length of the block (closed after: chdb admits one process at a time)."""
    with connector(settings) as warehouse:
        yield warehouse.open_client()


def query_rows(client, sql: str, parameters: dict | None = None) -> tuple[list[str], list[tuple]]:
    result = client.query(sql, parameters=parameters)
    return list(result.column_names), [tuple(row) for row in result.result_rows]


def table_exists(client, database: str, table: str) -> bool:
    rows = client.query(
        "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {t:String}",
        parameters={"db": database, "t": table},
    ).result_rows
    return bool(rows and rows[0][0])


def count_loaded(client, settings: Settings, since: datetime) -> dict[str, int]:
    """Rows each stream's staging table received since `since` (a run's start)."""
    tables = client.query(
        "SELECT name FROM system.tables WHERE database = {db:String}", parameters={"db": settings.database}
    ).result_rows
    counts = {}
    for (table,) in tables:
        stream = stream_name(table)
        if stream is None:
            continue
        counts[stream] = int(
            client.query(
                f"SELECT count() FROM {qualified_table(settings.database, table)} "
                "WHERE coalesce(_sdc_batched_at, _sdc_received_at) >= {t:DateTime64(6, 'UTC')}",
                parameters={"t": since.replace(tzinfo=None)},
            ).result_rows[0][0]
        )
    return counts
