"""ClickHouseConnector on its own (as the pipeline uses it), the naming convention, and the record
paths around it: stream maps and flattening (the router's mapped path) and the SDK's own reader
(the sink's `process_record`)."""

from __future__ import annotations

import io

import pytest
import target_clickhouse
from singer_sdk.io_base import SingerReader
from target_clickhouse.changes import RowChanges, describe_changes, first_key_values
from target_clickhouse.connection import open_client
from target_clickhouse.connector import ClickHouseConnector
from target_clickhouse.errors import ConfigError, TargetClickHouseError
from target_clickhouse.naming import DEFAULT_DATABASE, DEFAULT_TABLE_NAME_PATTERN, stream_name, table_name
from target_clickhouse.rows import RowEncoder
from target_clickhouse.target import TargetClickHouse

pytestmark = pytest.mark.integration

PROPS = {
    "id": {"type": "integer"},
    "meta": {"type": ["object", "null"], "properties": {"x": {"type": ["integer", "null"]}}},
    "at": {"type": ["string", "null"], "format": "date-time"},
    "day": {"type": ["string", "null"], "format": "date"},
}


def test_naming_convention_is_exported_from_one_place():
    assert (target_clickhouse.DEFAULT_DATABASE, target_clickhouse.DEFAULT_TABLE_NAME_PATTERN) == (
        DEFAULT_DATABASE,
        DEFAULT_TABLE_NAME_PATTERN,
    ) == ("zakaz", "stg_qtickets_{stream}_raw")
    assert target_clickhouse.table_name("sales") == table_name("sales") == "stg_qtickets_sales_raw"
    assert stream_name("stg_qtickets_sales_raw") == "sales"
    assert stream_name("stg_qtickets__raw") is None and stream_name("other") is None
    assert table_name("a.b", "raw_{stream}") == "raw_a.b" and stream_name("raw_a.b", "raw_{stream}") == "a.b"
    with pytest.raises(ConfigError, match="must contain"):
        table_name("sales", "fixed")
    assert target_clickhouse.ClickHouseConnector is ClickHouseConnector
    assert target_clickhouse.open_client is open_client
    settings = TargetClickHouse.config_jsonschema["properties"]
    assert settings["database"]["default"] == DEFAULT_DATABASE
    assert settings["table_name_pattern"]["default"] == DEFAULT_TABLE_NAME_PATTERN


def test_connector_outside_a_target(warehouse):
    connector = ClickHouseConnector.from_url(warehouse.url, database=warehouse.database)
    assert connector.config == {"url": warehouse.url, "database": warehouse.database}
    assert connector.table_name("sales") == "stg_qtickets_sales_raw"
    assert connector.quote("we`ird") == "`we\\`ird`"
    assert connector.full_table_name("t") == f"`{warehouse.database}`.`t`"
    with connector:
        columns = connector.prepare_table("sales", "stg_qtickets_sales_raw", {"properties": PROPS}, ["id"])
        assert columns["id"].sql == "Int64" and columns["meta"].sql == "Nullable(String)"
        assert connector.table_columns("stg_qtickets_sales_raw") == columns
        first = connector.reserve_versions(3)
        assert connector.reserve_versions(1) == first + 3
    # closed: the directory is free for another client (or process), and the connector reopens
    other = open_client(warehouse.url, database=warehouse.database)
    other.close()
    assert connector.client.command("SELECT 1") == 1
    connector.close()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"database": "bad\nname"}, "setting 'database' name 'bad\\nname' contains control characters"),
        ({"table_name_pattern": "fixed"}, "setting 'table_name_pattern': 'fixed' must contain '{stream}'"),
    ],
)
def test_connector_validates_its_names(config, message):
    with pytest.raises(ConfigError) as info:
        ClickHouseConnector(config)
    assert str(info.value) == message


@pytest.mark.parametrize("binary", [False, True])
def test_stream_maps_and_flattening_take_the_mapped_path(warehouse, binary):
    messages = [
        warehouse.schema("items", PROPS, ["id"]),
        *[warehouse.record("items", {"id": i, "meta": {"x": i * 10}}) for i in range(5)],
    ]
    warehouse.run(
        messages,
        binary=binary,
        flattening_enabled=True,
        flattening_max_depth=1,
        stream_maps={"items": {"__alias__": "things", "__filter__": "id != 3"}},
    )
    rows = warehouse.query("SELECT id, meta__x FROM stg_qtickets_things_raw ORDER BY id")
    assert rows == [(0, 0), (1, 10), (2, 20), (4, 40)]


def test_the_sdk_reader_loads_the_same_rows(warehouse):
    """With a reader other than ours the SDK's own record path feeds `process_record`."""
    records = [
        {"id": 1, "meta": {"x": 1}, "at": "2025-03-14T15:00:00+03:00", "day": "2025-03-14"},
        {"id": 2, "at": "2025-03-14T12:00:00"},
    ]
    messages = [warehouse.schema("items", PROPS, ["id"]), *[warehouse.record("items", r) for r in records]]
    sdk_db = type(warehouse)(warehouse.directory, warehouse.database + "_sdk")
    warehouse.run(messages)
    target = TargetClickHouse(config=sdk_db.config(), message_reader=SingerReader())
    try:
        target.listen(io.StringIO(warehouse.lines(messages)))
    finally:
        target.close()
    select = "SELECT * EXCEPT (_sdc_received_at, _sdc_batched_at, _sdc_version) FROM stg_qtickets_items_raw"
    expected = warehouse.query(select + " ORDER BY id")
    assert len(expected) == 2
    assert sdk_db.query(select + " ORDER BY id") == expected


def test_batch_messages_are_refused_not_dropped(warehouse):
    batch = {
        "type": "BATCH",
        "stream": "items",
        "encoding": {"format": "jsonl", "compression": "none"},
        "manifest": ["file:///nonexistent/items.jsonl"],
    }
    with pytest.raises(TargetClickHouseError, match="stream 'items': BATCH messages are not supported"):
        warehouse.run([warehouse.schema("items", PROPS, ["id"]), batch])


def _insert(connector, table: str, columns, records: list[dict]) -> None:
    """As the sink inserts a batch."""
    encoder = RowEncoder("orders", columns, ["id"])
    rows = [encoder.from_record(record, None) for record in records]
    first = connector.reserve_versions(len(rows))
    key = connector.classifies(table)
    connector.insert(table, encoder.body(rows, first), encoder.column_names, count=len(rows),
                     token=f"{table}:{first}", first_version=first,
                     first_keys=first_key_values(rows, key) if key else None)


def test_each_batch_is_classified_new_changed_or_unchanged(warehouse, monkeypatch):
    """Against what the table held before the load, read before each batch goes in: a merge right after the
    insert (here OPTIMIZE … FINAL after every insert, which drops every older version) cannot turn the
    batch's re-read keys into new ones."""
    schema = {"properties": {"id": {"type": "integer"}, "price": {"type": ["string", "null"]},
                             "at": {"type": ["string", "null"], "format": "date-time"}}}
    rows = [{"id": n, "price": f"{n}.00", "at": "2026-01-01T00:00:00Z"} for n in range(1, 6)]
    with ClickHouseConnector(warehouse.config()) as connector:  # the first load: an empty table
        table = connector.table_name("orders")
        columns = connector.prepare_table("orders", table, schema, ["id"])
        assert connector.classifies(table) is None
        _insert(connector, table, columns, rows)
        assert connector.row_changes()["orders"].as_dict() == {"new": 5, "changed": 0, "unchanged": 0}
        assert connector.classify_seconds == 0  # nothing to compare with: no query
    with ClickHouseConnector(warehouse.config()) as connector:  # the next load
        columns = connector.prepare_table("orders", table, schema, ["id"])
        assert connector.classifies(table) == "id"
        raw_insert = connector.client.raw_insert

        def insert_then_merge(*args, **kwargs):
            raw_insert(*args, **kwargs)
            connector.client.command(f"OPTIMIZE TABLE {connector.full_table_name(table)} FINAL")

        monkeypatch.setattr(connector.client, "raw_insert", insert_then_merge)
        _insert(connector, table, columns, [rows[0], {**rows[1], "price": "9.99"}, {**rows[2], "at": None},
                                            {"id": 6, "price": None, "at": None}])
        stored = connector.client.command(f"SELECT count() FROM {connector.full_table_name(table)}")
        assert stored == 6  # merged: the earlier versions of the batch's keys are gone
        assert connector.row_changes()["orders"].as_dict() == {"new": 1, "changed": 2, "unchanged": 1}
        _insert(connector, table, columns, [rows[4], {"id": 7, "price": "7.00", "at": None}])
        assert connector.row_changes() == {"orders": RowChanges(new=2, changed=2, unchanged=2)}
        assert connector.classify_seconds > 0
    counts = {"orders": RowChanges(2, 2, 2).as_dict(), "sales": RowChanges(0, 0, 0).as_dict()}
    described = describe_changes({"orders": 6, "sales": 0}, counts)
    assert described == "orders 2 new, 2 changed, 2 unchanged; sales none"
    assert describe_changes({"orders": 3}, {}) == "orders 3 rows"
