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
