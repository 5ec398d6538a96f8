"""The pipeline's own ClickHouse handle, through the target's ClickHouseConnector (one client factory,
one naming convention, one redaction for the whole project).

With embedded ClickHouse only one process may open the directory, so the pipeline holds the client
only between steps: `with connect(settings) as client:` and close before `meltano run` starts.
"""

from __future__ import annotations

import typing as t
from collections.abc import Iterator
from contextlib import contextmanager

from .settings import Settings

if t.TYPE_CHECKING:
    from target_clickhouse import ClickHouseConnector, Ledger

# What the pipeline (the target, the transforms, the bookkeeping) does on its database: create it and its
# tables and views, replace views, evolve staging tables (ALTER), insert, read, and refresh marts.
REQUIRED_PRIVILEGES = ("SELECT", "INSERT", "ALTER", "CREATE DATABASE", "CREATE TABLE", "CREATE VIEW",
                       "DROP TABLE", "DROP VIEW", "TRUNCATE", "OPTIMIZE")


def grant_sql(database: str, user: str) -> str:
    """The GRANT that gives `user` everything the pipeline needs (docs/production.md shows it too)."""
    return f"GRANT {', '.join(REQUIRED_PRIVILEGES)} ON {database}.* TO {user}"


def connector(settings: Settings) -> ClickHouseConnector:
    from target_clickhouse import ClickHouseConnector  # the driver: only where the warehouse is opened

    return ClickHouseConnector({
        "url": settings.clickhouse_url, "username": settings.clickhouse_user,
        "password": settings.clickhouse_password, "database": settings.database,
        "lock_wait_seconds": settings.lock_wait_seconds,
        "engine_flavour": settings.engine_flavour, "cluster": settings.cluster,
        "ca_cert": settings.tls.ca_cert, "verify": settings.tls.verify,
        "client_cert": settings.tls.client_cert, "client_cert_key": settings.tls.client_cert_key,
    })


def ledger(client, settings: Settings) -> Ledger:
    """The load ledger (meta_job_runs) of the pipeline's database, through an open client."""
    from target_clickhouse import Ledger

    return Ledger(client, settings.database, flavour=settings.engine_flavour, cluster=settings.cluster)


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
