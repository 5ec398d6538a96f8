"""Engines, keys, schema evolution, idempotent re-runs and `_sdc_version` ordering."""

from __future__ import annotations

from decimal import Decimal

import pytest
from target_clickhouse.errors import SchemaEvolutionError
from target_clickhouse.schema_types import widen

pytestmark = pytest.mark.integration

KEYED = {"id": {"type": "integer"}, "v": {"type": ["integer", "null"]}}
EVENTS = {"kind": {"type": ["string", "null"]}, "n": {"type": ["integer", "null"]}}


def _engine(warehouse, table):
    rows = warehouse.query(
        "SELECT engine_full, sorting_key FROM system.tables "
        "WHERE database = {db:String} AND name = {t:String}",
        db=warehouse.database,
        t=table,
    )
    return rows[0]


def test_key_and_no_key_streams(warehouse):
    messages = [
        warehouse.schema("keyed", KEYED, ["id"]),
        warehouse.schema("events", EVENTS, []),
        warehouse.schema("pairs", {"a": {"type": "string"}, "b": {"type": "integer"}}, ["a", "b"]),
        warehouse.record("keyed", {"id": 1, "v": 1}),
        warehouse.record("events", {"kind": "x", "n": 1}),
        warehouse.record("events", {"kind": "x", "n": 1}),
        warehouse.record("pairs", {"a": "k", "b": 2}),
    ]
    warehouse.run(messages)
    keyed_engine, keyed_key = _engine(warehouse, "stg_qtickets_keyed_raw")
    assert keyed_engine.startswith("ReplacingMergeTree(_sdc_version)")
    assert keyed_key == "id"
    events_engine, events_key = _engine(warehouse, "stg_qtickets_events_raw")
    assert events_engine.startswith("MergeTree") and events_key == ""
    assert _engine(warehouse, "stg_qtickets_pairs_raw")[1] == "a, b"
    assert warehouse.column_types("stg_qtickets_pairs_raw")["a"] == "String"  # key → not Nullable
    # a stream without keys keeps every row, duplicates included
    assert warehouse.query("SELECT count() FROM stg_qtickets_events_raw") == [(2,)]


def test_rerun_is_idempotent_and_latest_record_wins(warehouse):
    def messages(value_offset):
        out = [warehouse.schema("keyed", KEYED, ["id"])]
        for round_ in range(3):  # every key three times, later rounds carry later values
            out += [warehouse.record("keyed", {"id": i, "v": value_offset + round_}) for i in range(50)]
        return out

    warehouse.run(messages(0), batch_size_rows=7)
    warehouse.run(messages(0), batch_size_rows=7)
    table = "stg_qtickets_keyed_raw"
    assert warehouse.query(f"SELECT count() FROM {table}")[0][0] >= 50  # background merges may collapse
    assert warehouse.query(f"SELECT count(), uniqExact(id), min(v), max(v) FROM {table} FINAL") == [
        (50, 50, 2, 2)
    ]
    warehouse.run(messages(100), batch_size_rows=1000)
    assert warehouse.query(f"SELECT count(), min(v), max(v) FROM {table} FINAL") == [(50, 102, 102)]


def test_versions_strictly_increase_in_record_order_across_batches_and_runs(warehouse):
    def run(start):
        records = [warehouse.record("keyed", {"id": start + i, "v": start + i}) for i in range(40)]
        warehouse.run([warehouse.schema("keyed", KEYED, ["id"]), *records], batch_size_rows=6)

    run(0)
    run(40)
    rows = warehouse.query("SELECT v FROM stg_qtickets_keyed_raw ORDER BY _sdc_version")
    assert [v for (v,) in rows] == list(range(80))
    distinct = warehouse.query("SELECT uniqExact(_sdc_version) FROM stg_qtickets_keyed_raw")
    assert distinct == [(80,)]


def test_schema_evolution_adds_and_widens_columns(warehouse):
    before = {
        "id": {"type": "integer"},
        "qty": {"type": ["integer", "null"]},
        "price": {"type": ["string", "null"], "format": "x-singer.decimal", "precision": 10, "scale": 2},
        "code": {"type": ["integer", "null"]},
        "day": {"type": ["string", "null"], "format": "date"},
    }
    warehouse.run(
        [
            warehouse.schema("items", before, ["id"]),
            warehouse.record("items", {"id": 1, "qty": 3, "price": "12.50", "code": 7, "day": "2025-01-02"}),
        ]
    )
    after = {
        "id": {"type": "integer"},
        "qty": {"type": ["number", "null"]},  # Int64 → Float64
        "price": {"type": ["string", "null"], "format": "x-singer.decimal", "precision": 20, "scale": 4},
        "code": {"type": ["string", "null"]},  # Int64 → String
        "day": {"type": ["string", "null"], "format": "date-time"},  # Date32 → DateTime64
        "note": {"type": ["string", "null"]},  # new column
    }
    record = {"id": 2, "qty": 2.5, "price": "1234567890.1234", "code": "A7", "day": "2025-01-03T04:05:06Z"}
    warehouse.run(
        [warehouse.schema("items", after, ["id"]), warehouse.record("items", record | {"note": "n"})]
    )
    types = warehouse.column_types("stg_qtickets_items_raw")
    assert types["qty"] == "Nullable(Float64)"
    assert types["price"] == "Nullable(Decimal(20, 4))"
    assert types["code"] == "Nullable(String)"
    assert types["day"] == "Nullable(DateTime64(6, 'UTC'))"
    assert types["note"] == "Nullable(String)"
    rows = warehouse.query(
        "SELECT id, qty, price, code, toString(day), note FROM stg_qtickets_items_raw ORDER BY id"
    )
    assert rows == [
        (1, 3.0, Decimal("12.5"), "7", "2025-01-02 00:00:00.000000", None),
        (2, 2.5, Decimal("1234567890.1234"), "A7", "2025-01-03 04:05:06.000000", "n"),
    ]


def test_narrower_schema_keeps_the_wider_column(warehouse):
    wide = {"id": {"type": "integer"}, "x": {"type": ["number", "null"]}}
    narrow = {"id": {"type": "integer"}, "x": {"type": ["integer", "null"]}}
    warehouse.run([warehouse.schema("s", wide, ["id"]), warehouse.record("s", {"id": 1, "x": 1.5})])
    warehouse.run([warehouse.schema("s", narrow, ["id"]), warehouse.record("s", {"id": 2, "x": 2})])
    assert warehouse.column_types("stg_qtickets_s_raw")["x"] == "Nullable(Float64)"
    assert warehouse.query("SELECT x FROM stg_qtickets_s_raw ORDER BY id") == [(1.5,), (2.0,)]


def test_schema_change_mid_stream_loads_both_shapes(warehouse):
    v1 = {"id": {"type": "integer"}, "a": {"type": ["integer", "null"]}}
    v2 = v1 | {"a": {"type": ["number", "null"]}, "b": {"type": ["boolean", "null"]}}
    messages = [
        warehouse.schema("s", v1, ["id"]),
        *[warehouse.record("s", {"id": i, "a": i}) for i in range(5)],
        warehouse.schema("s", v2, ["id"]),
        *[warehouse.record("s", {"id": i, "a": i + 0.5, "b": True}) for i in range(5, 8)],
        {"type": "STATE", "value": {"n": 8}},
    ]
    assert warehouse.run(messages) == [{"n": 8}]
    rows = warehouse.query("SELECT id, a, b FROM stg_qtickets_s_raw ORDER BY id")
    assert rows == [(i, float(i), None) for i in range(5)] + [(i, i + 0.5, True) for i in range(5, 8)]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ({"type": ["boolean", "null"]}, {"type": ["integer", "null"]}, "not a widening"),
        ({"type": ["number", "null"]}, {"type": ["string", "null"], "format": "x-singer.decimal"}, "Float64"),
    ],
)
def test_incompatible_change_is_a_clear_error(warehouse, old, new, message):
    warehouse.run([warehouse.schema("s", {"id": {"type": "integer"}, "x": old}, ["id"])])
    with pytest.raises(SchemaEvolutionError) as info:
        warehouse.run([warehouse.schema("s", {"id": {"type": "integer"}, "x": new}, ["id"])])
    assert "stream 's', field 'x'" in str(info.value)
    assert message in str(info.value)


def test_changed_keys_are_a_clear_error(warehouse):
    warehouse.run([warehouse.schema("s", KEYED, ["id"])])
    with pytest.raises(
        SchemaEvolutionError, match=r"key properties \['v'\] differ from the ORDER BY \['id'\]"
    ):
        warehouse.run([warehouse.schema("s", KEYED, ["v"])])


def test_keys_grow_in_place_by_a_new_property_whose_default_the_old_rows_take(warehouse):
    """A stream gains an `account` key: the rows already loaded take the schema's default, nothing is
    reloaded, and from then on the same id in two accounts is two rows."""
    warehouse.run([warehouse.schema("keyed", KEYED, ["id"]), warehouse.record("keyed", {"id": 1, "v": 10})])
    with_account = {**KEYED, "account": {"type": "string", "default": "main"}}
    warehouse.run([warehouse.schema("keyed", with_account, ["id", "account"]),
                   warehouse.record("keyed", {"id": 1, "v": 11, "account": "spb"}),
                   warehouse.record("keyed", {"id": 2, "v": 20, "account": "main"})])
    assert _engine(warehouse, "stg_qtickets_keyed_raw")[1] == "id, account"
    rows = warehouse.query("SELECT account, id, v FROM stg_qtickets_keyed_raw FINAL ORDER BY account, id")
    assert rows == [("main", 1, 10), ("main", 2, 20), ("spb", 1, 11)]


def test_widening_rules():
    assert widen("Int64", "Float64") == "Float64"
    assert widen("Float64", "Int64") == "Float64"
    assert widen("Decimal(18, 2)", "Decimal(10, 4)") == "Decimal(20, 4)"
    assert widen("Int64", "Decimal(18, 2)") == "Decimal(21, 2)"
    assert widen("Date32", "DateTime64(6, 'UTC')") == "DateTime64(6, 'UTC')"
    assert widen("Bool", "String") == "String"
    assert widen("String", "JSON") == "String"
    assert widen("JSON", "String") is None
    assert widen("Bool", "Int64") is None
    assert widen("Float64", "Decimal(18, 2)") is None
    assert widen("Decimal(76, 0)", "Decimal(10, 9)") is None


def test_quoted_identifiers(warehouse):
    odd = {
        "id": {"type": "integer"},
        "weird `name`": {"type": ["string", "null"]},
        "select": {"type": "integer"},
    }
    warehouse.run(
        [
            warehouse.schema("odd-stream.x", odd, ["id"]),
            warehouse.record("odd-stream.x", {"id": 1, "select": 2}),
        ],
        table_name_pattern="raw_{stream}",
    )
    rows = warehouse.query("SELECT id, `select`, `weird \\`name\\`` FROM `raw_odd-stream.x`")
    assert rows == [(1, 2, None)]


def test_batch_size_rows_and_bytes_bound_each_insert(warehouse):
    def batches(**config):
        records = [warehouse.record("keyed", {"id": i, "v": i}) for i in range(50)]
        warehouse.run([warehouse.schema("keyed", KEYED, ["id"]), *records], **config)
        rows = warehouse.query(
            "SELECT _sdc_batched_at, count() FROM stg_qtickets_keyed_raw GROUP BY 1 ORDER BY 1"
        )
        warehouse.query("TRUNCATE TABLE stg_qtickets_keyed_raw")
        return [count for _, count in rows]

    assert batches(batch_size_rows=7) == [7] * 7 + [1]
    by_bytes = batches(batch_size_rows=1000, batch_size_bytes=1500)  # ~100 bytes per buffered row
    assert sum(by_bytes) == 50 and len(by_bytes) >= 3 and max(by_bytes) <= 20
    assert batches(batch_size_rows=1000) == [50]
