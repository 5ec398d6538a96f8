"""Default values of the target's settings, shared by the settings schema, the connector and the sinks.

(The naming defaults, `database` and `table_name_pattern`, are in `naming.py`.)
"""

from __future__ import annotations

DEFAULT_BATCH_SIZE_ROWS = 20_000
DEFAULT_BATCH_SIZE_BYTES = 64 * 1024 * 1024
DEFAULT_INSERT_RETRIES = 3
DEFAULT_FLUSH_INTERVAL_SECONDS = 300
DEFAULT_LOCK_WAIT_SECONDS = 60
ENGINES = ("ReplacingMergeTree", "MergeTree")
DEFAULT_ENGINE = ENGINES[0]
JSON_AS = ("String", "JSON")
DEFAULT_JSON_AS = JSON_AS[0]
# Makes a retried insert (same deduplication token) a no-op on non-replicated tables.
DEFAULT_TABLE_SETTINGS: dict[str, object] = {"non_replicated_deduplication_window": 1000}
# Engine flavours (ddl.py): one server, a self-managed cluster (Replicated engines), ClickHouse Cloud.
ENGINE_FLAVOURS = ("plain", "replicated", "cloud")
DEFAULT_ENGINE_FLAVOUR = ENGINE_FLAVOURS[0]
# Where a replicated table keeps its replication log (Keeper) and the name of each replica: the server's
# `shard` and `replica` macros; `database` and `table` are the table's own names.
REPLICA_PATH = "/clickhouse/tables/{shard}/{database}/{table}"
REPLICA_NAME = "{replica}"
# Table settings that mean something on plain tables only: replicated and Cloud tables deduplicate retried
# inserts by themselves (`replicated_deduplication_window`), so the other flavours leave these out.
PLAIN_ONLY_TABLE_SETTINGS = ("non_replicated_deduplication_window",)
