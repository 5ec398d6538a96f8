"""Singer target for ClickHouse (embedded chdb by default, any server by URL).

Public surface: the naming convention (`DEFAULT_DATABASE`, `DEFAULT_TABLE_NAME_PATTERN`,
`table_name`, `stream_name`), `ClickHouseConnector` (`target_clickhouse.connector`) and
`open_client` (`target_clickhouse.connection`). The last two are imported on first use, so that
`import target_clickhouse` stays light (the CLI relies on that, see `cli.py`).
"""

from __future__ import annotations

import typing as t

from target_clickhouse.naming import DEFAULT_DATABASE, DEFAULT_TABLE_NAME_PATTERN, stream_name, table_name

if t.TYPE_CHECKING:
    from target_clickhouse.connection import open_client
    from target_clickhouse.connector import ClickHouseConnector

__all__ = [
    "DEFAULT_DATABASE",
    "DEFAULT_TABLE_NAME_PATTERN",
    "ClickHouseConnector",
    "open_client",
    "stream_name",
    "table_name",
]


def __getattr__(name: str) -> t.Any:
    if name == "ClickHouseConnector":
        from target_clickhouse.connector import ClickHouseConnector

        return ClickHouseConnector
    if name == "open_client":
        from target_clickhouse.connection import open_client

        return open_client
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
