"""The naming convention the rest of the project relies on: where a stream's rows land.

One table per stream, `{database}.{table_name_pattern}`, by default `zakaz.stg_qtickets_{stream}_raw`.
The target's settings default to these values, and the pipeline and transforms import them from here
(also re-exported by `target_clickhouse`).
"""

from __future__ import annotations

from target_clickhouse.errors import ConfigError
from target_clickhouse.identifiers import validate_identifier

DEFAULT_DATABASE = "zakaz"
STREAM_PLACEHOLDER = "{stream}"
DEFAULT_TABLE_NAME_PATTERN = "stg_qtickets_{stream}_raw"


def check_table_name_pattern(pattern: str) -> str:
    """The pattern itself, when it contains `{stream}`; else a ConfigError naming the setting."""
    if not isinstance(pattern, str) or STREAM_PLACEHOLDER not in pattern:
        raise ConfigError(f"setting 'table_name_pattern': {pattern!r} must contain '{STREAM_PLACEHOLDER}'")
    return pattern


def table_name(stream: str, pattern: str = DEFAULT_TABLE_NAME_PATTERN) -> str:
    """The table a stream loads into, e.g. `table_name("sales")` → `"stg_qtickets_sales_raw"`."""
    name = check_table_name_pattern(pattern).replace(STREAM_PLACEHOLDER, stream)
    return validate_identifier(name, f"stream '{stream}' table")


def stream_name(table: str, pattern: str = DEFAULT_TABLE_NAME_PATTERN) -> str | None:
    """The inverse of `table_name`: the stream a table belongs to, or None when it does not match."""
    prefix, _, suffix = check_table_name_pattern(pattern).partition(STREAM_PLACEHOLDER)
    if len(table) <= len(prefix) + len(suffix) or not (table.startswith(prefix) and table.endswith(suffix)):
        return None
    return table[len(prefix) : len(table) - len(suffix)]
