"""The pipeline's own ClickHouse handle (opened through target_clickhouse.connection.open_client).

With embedded ClickHouse only one process may open the directory, so the pipeline holds the client
only between steps: `with connect(settings) as client:` and close before `meltano run` starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from target_clickhouse.connection import open_client

from .settings import Settings


@contextmanager
def connect(settings: Settings) -> Iterator:
    client = open_client(
        settings.clickhouse_url,
        username=settings.clickhouse_user,
        password=settings.clickhouse_password,
        database=settings.database,
    )
    try:
        yield client
    finally:
        client.close()


def query_rows(client, sql: str, parameters: dict | None = None) -> tuple[list[str], list[tuple]]:
    result = client.query(sql, parameters=parameters)
    return list(result.column_names), [tuple(row) for row in result.result_rows]


def table_exists(client, database: str, table: str) -> bool:
    rows = client.query(
        "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {t:String}",
        parameters={"db": database, "t": table},
    ).result_rows
    return bool(rows and rows[0][0])
