"""Table DDL: create a stream's table, evolve its columns to a new schema, read its latest version."""

from __future__ import annotations

import re
import typing as t
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from target_clickhouse import schema_types as st
from target_clickhouse.ddl import engine_clause, on_cluster
from target_clickhouse.errors import ConfigError, SchemaEvolutionError
from target_clickhouse.identifiers import escape_str, qualified_table, quote_identifier
from target_clickhouse.values import is_loadable

EXTRACTED_AT = "_sdc_extracted_at"
RECEIVED_AT = "_sdc_received_at"
BATCHED_AT = "_sdc_batched_at"
DELETED_AT = "_sdc_deleted_at"
VERSION_COLUMN = "_sdc_version"
METADATA_COLUMNS: dict[str, st.ColumnType] = {
    EXTRACTED_AT: st.ColumnType(st.DATETIME64, True),
    RECEIVED_AT: st.ColumnType(st.DATETIME64, True),
    BATCHED_AT: st.ColumnType(st.DATETIME64, True),
    DELETED_AT: st.ColumnType(st.DATETIME64, True),
    VERSION_COLUMN: st.ColumnType(st.UINT64, False),
}
_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Per granule, the lowest and highest version and batch time: a reader of only the rows written since some
# version or time (the pipeline's refresh of its marts) skips every older granule without reading it.
SDC_INDEX = "_sdc_minmax"
SDC_INDEX_SQL = f"INDEX {SDC_INDEX} (`_sdc_version`, `_sdc_batched_at`) TYPE minmax GRANULARITY 1"


@dataclass
class EngineOptions:
    engine: str = "ReplacingMergeTree"
    partition_by: str | None = None
    table_settings: Mapping[str, object] = field(default_factory=dict)
    flavour: str = "plain"  # plain | replicated | cloud (ddl.py)
    cluster: str | None = None  # every CREATE/ALTER runs ON CLUSTER it


def desired_columns(
    stream: str, schema: Mapping[str, t.Any], key_properties: Sequence[str], json_as: str
) -> dict[str, st.ColumnType]:
    """Schema properties (keys non-Nullable, others Nullable) followed by the metadata columns."""
    properties = schema.get("properties") or {}
    missing = [key for key in key_properties if key not in properties]
    if missing:
        raise SchemaEvolutionError(f"stream '{stream}': key properties {missing} are not in the schema")
    columns: dict[str, st.ColumnType] = {}
    for name, prop in properties.items():
        if name in METADATA_COLUMNS:
            continue
        quote_identifier(name, f"stream '{stream}' column")
        base = st.column_base_type(stream, name, prop, json_as)
        if name in key_properties and base == st.JSON_TYPE:
            base = st.STRING
        columns[name] = st.ColumnType(base, name not in key_properties)
    columns.update(METADATA_COLUMNS)
    return columns


def _format_setting(name: str, value: object) -> str:
    if not _SETTING_NAME.match(name):
        raise ConfigError(f"setting 'table_settings': invalid setting name {name!r}")
    if isinstance(value, bool):
        return f"{name} = {int(value)}"
    if isinstance(value, int | float):
        return f"{name} = {value}"
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"{name} = '{text}'"


def create_table_sql(
    database: str,
    table: str,
    columns: Mapping[str, st.ColumnType],
    key_properties: Sequence[str],
    options: EngineOptions,
) -> str:
    column_sql = ",\n  ".join(f"{quote_identifier(name)} {ctype.sql}" for name, ctype in columns.items())
    if all(name in columns for name in ("_sdc_version", "_sdc_batched_at")):
        column_sql += f",\n  {SDC_INDEX_SQL}"
    if key_properties and options.engine == "ReplacingMergeTree":
        engine = engine_clause("ReplacingMergeTree", [quote_identifier(VERSION_COLUMN)], options.flavour)
    else:
        engine = engine_clause("MergeTree", (), options.flavour)
    order_by = ", ".join(quote_identifier(key) for key in key_properties)
    if len(key_properties) != 1:
        order_by = f"({order_by})"
    target = qualified_table(database, table) + on_cluster(options.cluster)
    sql = f"CREATE TABLE IF NOT EXISTS {target} (\n  {column_sql}\n)\n"
    sql += f"ENGINE = {engine}\n"
    if options.partition_by:
        sql += f"PARTITION BY {options.partition_by}\n"
    sql += f"ORDER BY {order_by}"
    if options.table_settings:
        sql += "\nSETTINGS " + ", ".join(_format_setting(k, v) for k, v in options.table_settings.items())
    return sql


def existing_columns(client: Client, database: str, table: str) -> dict[str, st.ColumnType]:
    result = client.query(
        "SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {tbl:String} "
        "ORDER BY position",
        parameters={"db": database, "tbl": table},
    )
    return {name: st.normalize_existing(ctype) for name, ctype in result.result_rows}


def _sorting_key(client: Client, database: str, table: str) -> list[str]:
    result = client.query(
        "SELECT sorting_key FROM system.tables WHERE database = {db:String} AND name = {tbl:String}",
        parameters={"db": database, "tbl": table},
    )
    text = result.result_rows[0][0] if result.result_rows else ""
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    return [part.strip().strip("`") for part in text.split(",") if part.strip()]


def _has_index(client: Client, database: str, table: str, index: str) -> bool:
    result = client.query(
        "SELECT count() FROM system.data_skipping_indices "
        "WHERE database = {db:String} AND table = {tbl:String} AND name = {idx:String}",
        parameters={"db": database, "tbl": table, "idx": index},
    )
    return bool(result.result_rows and result.result_rows[0][0])


def _plan_column(stream: str, name: str, current: st.ColumnType, incoming: st.ColumnType) -> st.ColumnType:
    base = st.widen(current.base, incoming.base)
    if base is None:
        raise SchemaEvolutionError(
            f"stream '{stream}', field '{name}': the table column is {current.sql} and the schema now asks "
            f"for {incoming.sql}; this change is not a widening. Load into a new table (table_name_pattern) "
            "or change the column by hand."
        )
    result = st.ColumnType(base, current.nullable or incoming.nullable)
    if not is_loadable(result):
        raise SchemaEvolutionError(
            f"stream '{stream}', field '{name}': existing column type {current.sql} is not one this target "
            "can load"
        )
    return result


def ensure_table(
    client: Client,
    stream: str,
    database: str,
    table: str,
    columns: Mapping[str, st.ColumnType],
    key_properties: Sequence[str],
    options: EngineOptions,
    defaults: Mapping[str, object] | None = None,
) -> dict[str, st.ColumnType]:
    """Create the table or evolve it; returns the column types to load into (in `columns` order).

    Key properties may grow at the end, by properties the table does not have yet (a stream gains an
    `account`): they are added and appended to the ORDER BY in one ALTER (ClickHouse allows it for a new
    column without a default), then given their schema `default` — the value the rows already there take —
    and the table is merged once, so that those rows hold it (a key column cannot be materialized)."""
    target = qualified_table(database, table)
    current = existing_columns(client, database, table)
    if not current:
        client.command(create_table_sql(database, table, columns, key_properties, options))
        return dict(columns)
    keys = _sorting_key(client, database, table)
    added_keys = list(key_properties[len(keys):])
    if keys != list(key_properties[: len(keys)]) or any(key in current for key in added_keys):
        raise SchemaEvolutionError(
            f"stream '{stream}': key properties {list(key_properties)} differ from the ORDER BY {keys} of "
            f"existing table {database}.{table}; ORDER BY cannot change in place (only grow by new columns)"
        )
    final: dict[str, st.ColumnType] = {}
    statements: list[str] = []
    if added_keys:
        additions = [f"ADD COLUMN {quote_identifier(key)} {columns[key].sql}" for key in added_keys]
        order_by = ", ".join(quote_identifier(key) for key in key_properties)
        statements.append(", ".join([*additions, f"MODIFY ORDER BY ({order_by})"]))
        statements += [f"MODIFY COLUMN {quote_identifier(key)} {columns[key].sql} DEFAULT "
                       f"{_literal((defaults or {}).get(key))}" for key in added_keys]
        current = {**current, **{key: columns[key] for key in added_keys}}
    if not _has_index(client, database, table, SDC_INDEX):  # tables made before the index existed
        statements.append(f"ADD {SDC_INDEX_SQL.replace('INDEX', 'INDEX IF NOT EXISTS', 1)}")
    for name, incoming in columns.items():
        if name not in current:
            final[name] = incoming
            statements.append(f"ADD COLUMN IF NOT EXISTS {quote_identifier(name)} {incoming.sql}")
            continue
        planned = _plan_column(stream, name, current[name], incoming)
        final[name] = planned
        if planned != current[name]:
            statements.append(f"MODIFY COLUMN {quote_identifier(name)} {planned.sql}")
    for statement in statements:
        try:
            client.command(f"ALTER TABLE {target}{on_cluster(options.cluster)} {statement}")
        except ClickHouseError as exc:
            raise SchemaEvolutionError(
                f"stream '{stream}': cannot evolve table {database}.{table} ({statement}): {exc}"
            ) from exc
    if added_keys:
        client.command(f"OPTIMIZE TABLE {target}{on_cluster(options.cluster)} FINAL")
    return final


def _literal(value: object) -> str:
    """A schema default as a ClickHouse literal (NULL-free: key columns are not Nullable)."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    return f"'{escape_str('' if value is None else str(value))}'"


def max_version(client: Client, database: str, table: str) -> int:
    value = client.command(
        f"SELECT max({quote_identifier(VERSION_COLUMN)}) FROM {qualified_table(database, table)}"
    )
    return value if isinstance(value, int) else int(str(value or 0))
