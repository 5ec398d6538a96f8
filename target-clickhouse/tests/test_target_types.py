"""Every JSON type lands in the contract's ClickHouse type with the right value (including nulls)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from target_clickhouse.errors import ConversionError

pytestmark = pytest.mark.integration

PROPERTIES = {
    "id": {"type": "integer"},
    "count": {"type": ["integer", "null"]},
    "ratio": {"type": ["number", "null"]},
    "price": {"type": ["string", "null"], "format": "x-singer.decimal", "precision": 18, "scale": 2},
    "amount": {"type": ["string", "null"], "format": "x-singer.decimal"},
    "at": {"type": ["string", "null"], "format": "date-time"},
    "day": {"type": ["string", "null"], "format": "date"},
    "flag": {"type": ["boolean", "null"]},
    "name": {"type": ["string", "null"]},
    "meta": {"type": ["object", "null"], "properties": {"a": {"type": "integer"}}},
    "tags": {"type": ["array", "null"], "items": {"type": "string"}},
    "anything": {},
}


def _messages(warehouse, records):
    messages = [warehouse.schema("items", PROPERTIES, ["id"])]
    messages += [warehouse.record("items", record) for record in records]
    messages.append({"type": "STATE", "value": {"done": True}})
    return messages


def _load(warehouse, records, binary=False, **config):
    return warehouse.run(_messages(warehouse, records), binary=binary, **config)


def test_types_values_and_nulls(warehouse):
    full = {
        "id": 1,
        "count": -9007199254740993,
        "ratio": 0.1,
        "price": "1234567.89",
        "amount": "-0.000000001",
        "at": "2025-03-14T18:02:11.123456+03:00",
        "day": "2025-03-14",
        "flag": False,
        "name": "Привет",
        "meta": {"a": 1, "nested": {"b": [1, 2.5, None]}},
        "tags": ["x", "y"],
        "anything": 42,
    }
    empty = dict.fromkeys(PROPERTIES) | {"id": 2}
    sparse = {"id": 3, "at": "2025-03-14T15:02:11Z", "name": ""}  # absent properties → NULL
    states = _load(warehouse, [full, empty, sparse], table_name_pattern="{stream}")

    assert states == [{"done": True}]
    types = warehouse.column_types("items")
    assert types["id"] == "Int64"
    assert types["count"] == "Nullable(Int64)"
    assert types["ratio"] == "Nullable(Float64)"
    assert types["price"] == "Nullable(Decimal(18, 2))"
    assert types["amount"] == "Nullable(Decimal(38, 9))"
    assert types["at"] == "Nullable(DateTime64(6, 'UTC'))"
    assert types["day"] == "Nullable(Date32)"
    assert types["flag"] == "Nullable(Bool)"
    assert types["name"] == types["meta"] == types["tags"] == types["anything"] == "Nullable(String)"
    assert types["_sdc_version"] == "UInt64"
    for column in ("_sdc_extracted_at", "_sdc_received_at", "_sdc_batched_at", "_sdc_deleted_at"):
        assert types[column] == "Nullable(DateTime64(6, 'UTC'))"

    rows = warehouse.query(
        "SELECT id, count, ratio, price, amount, toString(at), day, flag, name, meta, tags, anything, "
        "toString(_sdc_extracted_at), _sdc_received_at IS NOT NULL, _sdc_batched_at IS NOT NULL "
        "FROM items ORDER BY id"
    )
    assert rows[0] == (
        1,
        -9007199254740993,
        0.1,
        Decimal("1234567.89"),
        Decimal("-0.000000001"),
        "2025-03-14 15:02:11.123456",  # +03:00 → UTC
        dt.date(2025, 3, 14),
        False,
        "Привет",
        '{"a":1,"nested":{"b":[1,2.5,null]}}',
        '["x","y"]',
        "42",
        "2025-03-14 12:00:00.000000",
        True,
        True,
    )
    assert rows[1][1:12] == (None,) * 11
    assert rows[2][5] == "2025-03-14 15:02:11.000000"
    assert rows[2][8] == ""  # an empty string stays an empty string, not NULL
    assert rows[2][1] is None


def test_offsets_all_land_on_the_same_instant(warehouse):
    instants = [
        "2025-03-14T18:02:11+03:00",
        "2025-03-14T15:02:11Z",
        "2025-03-14T15:02:11+00:00",
        "2025-03-14T10:02:11-05:00",
        "2025-03-14T15:02:11",  # naive → UTC
        "2025-03-15T00:32:11+09:30",
    ]
    _load(warehouse, [{"id": i, "at": value} for i, value in enumerate(instants)])
    rows = warehouse.query("SELECT DISTINCT toUnixTimestamp64Micro(at) FROM stg_qtickets_items_raw")
    expected = int(dt.datetime(2025, 3, 14, 15, 2, 11, tzinfo=dt.UTC).timestamp()) * 1_000_000
    assert rows == [(expected,)]


def test_json_as_json_type(warehouse):
    _load(warehouse, [{"id": 1, "meta": {"a": 7, "b": "x"}}, {"id": 2, "meta": None}], json_as="JSON")
    assert warehouse.column_types("stg_qtickets_items_raw")["meta"] == "Nullable(JSON)"
    rows = warehouse.query("SELECT id, meta.a, meta IS NULL FROM stg_qtickets_items_raw ORDER BY id")
    assert rows == [(1, 7, False), (2, None, True)]


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("count", "12", "expected an integer"),
        ("count", 1.5, "fractional"),
        ("count", 2**63, "Int64 range"),
        ("ratio", "abc", "expected a number"),
        ("price", "12.345", "more than 2 decimal places"),
        ("price", "1e20", "too many integer digits"),
        ("price", "twelve", "not a decimal number"),
        ("at", "yesterday", "not an ISO-8601 date-time"),
        ("at", "1812-06-24T00:00:00Z", "outside 1900-01-01"),
        ("day", "2025-13-01", "not an ISO-8601 date"),
        ("flag", "true", "expected a boolean"),
        ("id", None, "null is not allowed in a key column"),
    ],
)
def test_bad_value_is_a_clear_error(warehouse, field, value, reason):
    good = {"id": 1, "count": 5, "price": "1.50"}
    bad = {"id": 2, field: value}
    with pytest.raises(ConversionError) as info:
        _load(warehouse, [good, bad], binary=True)
    message = str(info.value)
    assert "stream 'items'" in message
    assert f"field '{field}'" in message
    assert repr(value)[:30] in message
    assert reason in message


# (field, value sent, value loaded): the edges of the values sent as they are (values.fast_type) and
# of those normalized first, through the CLI's path (raw records).
EDGES = [
    ("count", 2**63 - 1, 2**63 - 1),
    ("count", -(2**63), -(2**63)),
    ("count", 7.0, 7),
    ("ratio", 9007199254740993, 9007199254740992.0),
    ("ratio", -1.7976931348623157e308, -1.7976931348623157e308),
    ("ratio", 5e-324, 5e-324),
    ("price", "9999999999999999.99", Decimal("9999999999999999.99")),
    ("price", "-0.5", Decimal("-0.50")),
    ("price", -9999999999999999, Decimal("-9999999999999999")),
    ("price", "1.500", Decimal("1.50")),
    ("price", 0.1, Decimal("0.10")),
    ("amount", 12345678901234567890123456789, Decimal("12345678901234567890123456789")),
    ("amount", "-0.000000001", Decimal("-0.000000001")),
    ("at", "1901-01-01T00:00:00+23:59", dt.datetime(1900, 12, 31, 0, 1)),
    ("at", "2298-12-31T23:59:59.999999-23:59", dt.datetime(2299, 1, 1, 23, 58, 59, 999999)),
    ("at", "1900-01-01T00:00:00Z", dt.datetime(1900, 1, 1)),
    ("at", "2299-12-31T23:59:59.999999Z", dt.datetime(2299, 12, 31, 23, 59, 59, 999999)),
    ("at", "2024-02-29T12:00:00Z", dt.datetime(2024, 2, 29, 12)),
    ("at", "2025-03-14 12:00:00.5+03:00", dt.datetime(2025, 3, 14, 9, 0, 0, 500000)),
    ("at", "2025-03-14T12:00", dt.datetime(2025, 3, 14, 12)),
    ("day", "1900-01-01", dt.date(1900, 1, 1)),
    ("day", "2299-12-31", dt.date(2299, 12, 31)),
    ("day", "2024-02-29", dt.date(2024, 2, 29)),
    ("name", 1.50, "1.5"),
    ("name", True, "true"),
    ("name", "Ж \" \\ \n", "Ж \" \\ \n"),
    ("meta", {"a": "Ж", "b": [1.0, None]}, '{"a": "\\u0416", "b": [1.0, null]}'),  # the JSON text as sent
]


def test_values_at_the_edges_load_exactly(warehouse):
    records = [{"id": index, field: value} for index, (field, value, _) in enumerate(EDGES)]
    _load(warehouse, records, binary=True)
    for index, (field, value, loaded) in enumerate(EDGES):
        rows = warehouse.query(f"SELECT `{field}` FROM stg_qtickets_items_raw WHERE id = {index}")
        assert rows == [(loaded,)], (field, value)


def test_a_value_clickhouse_cannot_read_names_stream_field_and_value(warehouse):
    """A record with a property twice passes the check (msgspec keeps the last) and ClickHouse refuses
    the row: its error is reported as the record's field and value."""
    text = warehouse.lines(_messages(warehouse, [{"id": 1, "count": 5}, {"id": 2, "count": 6}]))
    text = text.replace('"count": 6', '"count": 6, "count": 7')
    with pytest.raises(ConversionError) as info:
        warehouse.run_text(text, binary=True)
    assert str(info.value) == (
        "stream 'items', field 'count': cannot load value 7: ClickHouse cannot read it: Duplicate field "
        "found while parsing JSONEachRow format"
    )


def test_exact_values_that_need_the_careful_path_still_load(warehouse):
    records = [
        {"id": 1, "price": "1.500", "count": 3.0, "ratio": 2},  # trailing zero, integral float, int
        {"id": 2, "price": 7, "at": "2025-03-14T15:02:11"},  # number for a decimal, naive date-time
        {"id": 3, "price": "+2.5E1"},
    ]
    _load(warehouse, records)
    rows = warehouse.query("SELECT id, price, count, ratio FROM stg_qtickets_items_raw ORDER BY id")
    assert rows == [
        (1, Decimal("1.50"), 3, 2.0),
        (2, Decimal("7.00"), None, None),
        (3, Decimal("25.00"), None, None),
    ]


def test_record_metadata_columns(warehouse):
    deleted = {"id": 1, "_sdc_deleted_at": "2025-03-14T18:00:00+03:00"}
    messages = [warehouse.schema("items", PROPERTIES, ["id"]), warehouse.record("items", deleted)]
    messages.append({"type": "RECORD", "stream": "items", "record": {"id": 2}})  # no time_extracted
    warehouse.run(messages)
    rows = warehouse.query(
        "SELECT id, toString(_sdc_deleted_at), toString(_sdc_extracted_at), "
        "_sdc_batched_at >= _sdc_received_at FROM stg_qtickets_items_raw ORDER BY id"
    )
    assert rows == [
        (1, "2025-03-14 15:00:00.000000", "2025-03-14 12:00:00.000000", True),
        (2, None, None, True),
    ]


def test_stream_maps_and_flattening_take_the_sdk_path(warehouse):
    messages = [warehouse.schema("items", PROPERTIES, ["id"])]
    messages += [
        warehouse.record("items", {"id": 1, "name": "a", "meta": {"a": 5}, "price": "2.50"}),
        warehouse.record("items", {"id": 2, "name": "b", "meta": {"a": 6}}),
    ]
    warehouse.run(
        messages,
        stream_maps={"items": {"name_upper": "name.upper()", "__filter__": "id != 2"}},
        flattening_enabled=True,
        flattening_max_depth=1,
    )
    types = warehouse.column_types("stg_qtickets_items_raw")
    assert "meta__a" in types and "meta" not in types
    rows = warehouse.query("SELECT id, name_upper, meta__a, price FROM stg_qtickets_items_raw")
    assert rows == [(1, "A", 5, Decimal("2.50"))]
