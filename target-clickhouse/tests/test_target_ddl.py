"""Cluster-ready DDL (ddl.py): the engine clause of each flavour, ON CLUSTER on every statement the target
sends (CREATE DATABASE, CREATE TABLE, ALTER), the settings that choose them, and — on the embedded engine —
that each generated statement parses (`EXPLAIN AST`; ON CLUSTER statements cannot run without a cluster)."""

from __future__ import annotations

import pytest
from target_clickhouse import defaults
from target_clickhouse import schema_types as st
from target_clickhouse.connection import open_client, use_database
from target_clickhouse.connector import ClickHouseConnector
from target_clickhouse.ddl import check_cluster, engine_clause, on_cluster
from target_clickhouse.errors import ConfigError
from target_clickhouse.tables import METADATA_COLUMNS, EngineOptions, create_table_sql, ensure_table

COLUMNS = {"id": st.ColumnType(st.INT64, False), "v": st.ColumnType(st.INT64, True), **METADATA_COLUMNS}
REPLICA = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"
FLAVOURED = [  # (flavour, cluster, expected engine of a keyed stream's table)
    ("plain", None, "ReplacingMergeTree(`_sdc_version`)"),
    ("replicated", "main", f"ReplicatedReplacingMergeTree({REPLICA}, `_sdc_version`)"),
    ("replicated", None, f"ReplicatedReplacingMergeTree({REPLICA}, `_sdc_version`)"),
    ("cloud", None, "ReplacingMergeTree(`_sdc_version`)"),
    ("cloud", "default", "ReplacingMergeTree(`_sdc_version`)"),
]


class Recorder:
    """A client that records commands and answers the catalogue queries of `ensure_table`."""

    def __init__(self, existing: dict[str, str] | None = None) -> None:
        self.commands: list[str] = []
        self.existing = existing or {}
        self.database = None

    def query(self, sql: str, parameters=None):
        if "system.columns" in sql:
            rows: list[tuple] = list(self.existing.items())
        elif "data_skipping_indices" in sql:
            rows = [(0,)]  # a table made before the `_sdc_minmax` index: it gets added
        else:
            rows = [("id",)]  # the sorting key
        return type("Result", (), {"result_rows": rows})()

    def command(self, sql: str):
        self.commands.append(sql)


@pytest.mark.unit
@pytest.mark.parametrize(("flavour", "args", "expected"), [
    ("plain", [], "MergeTree"),
    ("plain", ["updated_at"], "ReplacingMergeTree(updated_at)"),
    ("replicated", [], f"ReplicatedMergeTree({REPLICA})"),
    ("replicated", ["updated_at"], f"ReplicatedReplacingMergeTree({REPLICA}, updated_at)"),
    ("cloud", ["updated_at"], "ReplacingMergeTree(updated_at)"),
    (None, [], "MergeTree"),
])
def test_engine_clause_per_flavour(flavour, args, expected):
    engine = "ReplacingMergeTree" if args else "MergeTree"
    assert engine_clause(engine, args, flavour) == expected


@pytest.mark.unit
def test_engine_and_cluster_settings_are_checked():
    assert on_cluster(None) == "" and on_cluster("main") == " ON CLUSTER `main`"
    assert check_cluster("", "plain") is None and check_cluster("main", "replicated") == "main"
    with pytest.raises(ConfigError, match=r"engine_flavour.*replicated"):
        check_cluster("main", "plain")
    with pytest.raises(ConfigError, match="'engine_flavour': 'shared'"):
        engine_clause("MergeTree", (), "shared")
    with pytest.raises(ConfigError, match="MergeTree-family"):
        engine_clause("Log", (), "plain")
    with pytest.raises(ConfigError, match="engine_flavour"):
        ClickHouseConnector({"url": "chdb:///tmp/x", "cluster": "main"})


@pytest.mark.unit
@pytest.mark.parametrize(("flavour", "cluster", "engine"), FLAVOURED)
def test_create_table_per_flavour(flavour, cluster, engine):
    connector = ClickHouseConnector({"url": "chdb:///tmp/x", "engine_flavour": flavour, "cluster": cluster})
    options = connector.engine_options
    sql = create_table_sql("zakaz", "stg_qtickets_sales_raw", COLUMNS, ["id"], options)
    table = f"`zakaz`.`stg_qtickets_sales_raw`{on_cluster(cluster)}"
    assert sql.startswith(f"CREATE TABLE IF NOT EXISTS {table} (")
    assert f"ENGINE = {engine}\n" in sql
    # Replicated and Cloud tables deduplicate retried inserts themselves: the plain-only window is left out.
    assert ("non_replicated_deduplication_window" in sql) == (flavour == "plain")
    assert "_sdc_minmax" in sql


@pytest.mark.unit
def test_every_ddl_statement_of_the_target_runs_on_the_cluster():
    options = EngineOptions(flavour="replicated", cluster="main")
    client = Recorder()
    ensure_table(client, "sales", "zakaz", "t", COLUMNS, ["id"], options)  # a new table
    evolving = Recorder({"id": "Int64", "v": "Nullable(Int64)", "_sdc_version": "UInt64"})
    wider = {**COLUMNS, "v": st.ColumnType(st.FLOAT64, True), "w": st.ColumnType(st.STRING, True)}
    ensure_table(evolving, "sales", "zakaz", "t", wider, ["id"], options)
    use_database(client, "zakaz", cluster="main")
    statements = client.commands + evolving.commands
    assert len(statements) >= 4 and all(" ON CLUSTER `main`" in s for s in statements), statements
    assert any("ADD COLUMN IF NOT EXISTS `w`" in s for s in evolving.commands)
    assert any("ADD INDEX IF NOT EXISTS _sdc_minmax" in s for s in evolving.commands)
    assert any("MODIFY COLUMN `v` Nullable(Float64)" in s for s in evolving.commands)


@pytest.mark.integration
def test_generated_statements_parse_on_the_embedded_engine(warehouse):
    """ON CLUSTER statements cannot run on chdb, but ClickHouse's own parser must accept every one."""
    statements = []
    for flavour, cluster, _ in FLAVOURED:
        options = ClickHouseConnector({"url": warehouse.url, "engine_flavour": flavour,
                                       "cluster": cluster}).engine_options
        statements.append(create_table_sql("zakaz", "stg_qtickets_sales_raw", COLUMNS, ["id"], options))
        statements.append(create_table_sql("zakaz", "stg_qtickets_keyless_raw", COLUMNS, [], options))
        statements.append(f"ALTER TABLE `zakaz`.`t`{on_cluster(cluster)} ADD COLUMN IF NOT EXISTS `w` String")
        statements.append(f"CREATE DATABASE IF NOT EXISTS `zakaz`{on_cluster(cluster)}")
    client = open_client(warehouse.url)
    try:
        for statement in statements:
            ast = client.query(f"EXPLAIN AST {statement}").result_rows
            assert ast and ast[0][0].split()[0] in ("CreateQuery", "AlterQuery"), statement
    finally:
        client.close()


@pytest.mark.integration
def test_cloud_flavour_tables_load_like_plain_ones(warehouse):
    """`cloud` sends the engines as named (Cloud makes them SharedMergeTree): on one server they work."""
    messages = [warehouse.schema("keyed", {"id": {"type": "integer"}}, ["id"]),
                warehouse.record("keyed", {"id": 1}), warehouse.record("keyed", {"id": 1})]
    warehouse.run(messages, engine_flavour="cloud")
    (engine,), = warehouse.query(
        "SELECT engine_full FROM system.tables WHERE database = {db:String} AND name = {t:String}",
        db=warehouse.database, t="stg_qtickets_keyed_raw")
    assert engine.startswith("ReplacingMergeTree(_sdc_version)") and "non_replicated" not in engine
    assert warehouse.query("SELECT count() FROM stg_qtickets_keyed_raw FINAL") == [(1,)]
    assert defaults.ENGINE_FLAVOURS == ("plain", "replicated", "cloud")
