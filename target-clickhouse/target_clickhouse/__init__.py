"""Singer target for ClickHouse (embedded chdb by default, any server by URL).

What other code may use (the pipeline uses nothing else):

- naming: `DEFAULT_DATABASE`, `DEFAULT_TABLE_NAME_PATTERN`, `table_name`, `stream_name`,
  `qualified_table`, `quote_identifier`;
- DDL pieces: `on_cluster`, `engine_clause`, `check_engine_flavour`, `check_cluster`;
- the summary of a load: `describe_changes` (new / changed / unchanged rows per stream);
- secrets: `redact`, `redact_url`; errors: `TargetClickHouseError`, `ConfigError`;
- TLS to a server: `TlsSettings` (settings `ca_cert`, `verify`, `client_cert`, `client_cert_key`, checked);
- the warehouse: `ClickHouseConnector` (client, tables, inserts), `open_client`, `DEFAULT_LOCK_WAIT_SECONDS`,
  `DEFAULT_EMBEDDED_DIR`, `chdb_path`, `directory_is_locked`, `directory_holder`, `is_retryable`;
- the load ledger: `Ledger`, `LedgerRow`, `LEDGER_TABLE`, `LoadSummary` (what an `after_load` hook gets),
  `NO_PRIOR_LOAD`.

The heavy ones (they import clickhouse-connect) are imported on first use, so that `import target_clickhouse`
stays light (the CLI relies on that, see `cli.py`).
"""

from __future__ import annotations

import importlib
import typing as t

from target_clickhouse.changes import describe_changes
from target_clickhouse.ddl import check_cluster, check_engine_flavour, engine_clause, on_cluster
from target_clickhouse.defaults import DEFAULT_LOCK_WAIT_SECONDS
from target_clickhouse.errors import NO_PRIOR_LOAD, ConfigError, TargetClickHouseError
from target_clickhouse.identifiers import qualified_table, quote_identifier
from target_clickhouse.naming import DEFAULT_DATABASE, DEFAULT_TABLE_NAME_PATTERN, stream_name, table_name
from target_clickhouse.redaction import redact, redact_url
from target_clickhouse.tls import TlsSettings

if t.TYPE_CHECKING:
    from target_clickhouse.connection import (
        DEFAULT_EMBEDDED_DIR,
        chdb_path,
        directory_holder,
        directory_is_locked,
        open_client,
    )
    from target_clickhouse.connector import ClickHouseConnector, is_retryable
    from target_clickhouse.ledger import LEDGER_TABLE, Ledger, LedgerRow
    from target_clickhouse.load_run import LoadSummary

_LAZY = {
    "ClickHouseConnector": "connector", "is_retryable": "connector",
    "open_client": "connection", "chdb_path": "connection", "directory_holder": "connection",
    "DEFAULT_EMBEDDED_DIR": "connection",
    "directory_is_locked": "connection",
    "Ledger": "ledger", "LedgerRow": "ledger", "LEDGER_TABLE": "ledger",
    "LoadSummary": "load_run",
}

__all__ = [
    "DEFAULT_DATABASE",
    "DEFAULT_EMBEDDED_DIR",
    "DEFAULT_LOCK_WAIT_SECONDS",
    "DEFAULT_TABLE_NAME_PATTERN",
    "LEDGER_TABLE",
    "NO_PRIOR_LOAD",
    "ClickHouseConnector",
    "ConfigError",
    "Ledger",
    "LedgerRow",
    "LoadSummary",
    "TargetClickHouseError",
    "TlsSettings",
    "chdb_path",
    "check_cluster",
    "check_engine_flavour",
    "describe_changes",
    "directory_holder",
    "directory_is_locked",
    "engine_clause",
    "is_retryable",
    "on_cluster",
    "open_client",
    "qualified_table",
    "quote_identifier",
    "redact",
    "redact_url",
    "stream_name",
    "table_name",
]


def __getattr__(name: str) -> t.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"target_clickhouse.{module}"), name)
