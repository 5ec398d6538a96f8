"""singer-sdk's standard target test suite (`get_target_test_class`) against embedded ClickHouse.

Every test of the SDK's suite runs (a guard below fails when an SDK upgrade adds one this file does
not know), each on a fresh database in the session's chdb directory. Where the SDK only checks that
the sync succeeds, `validate()` reads the rows back from ClickHouse. Also pins the singer-sdk
version range the target's record path (`router.py`) mirrors.
"""

from __future__ import annotations

import json
from importlib.metadata import version

import pytest
from packaging.specifiers import SpecifierSet
from singer_sdk.testing import get_target_test_class
from singer_sdk.testing import target_tests as sdk
from singer_sdk.testing.runners import TargetTestRunner
from singer_sdk.testing.suites import SingerTestSuite
from singer_sdk.testing.suites import target_tests as standard_suite
from target_clickhouse.identifiers import quote_identifier
from target_clickhouse.naming import table_name
from target_clickhouse.router import SUPPORTED_SINGER_SDK
from target_clickhouse.target import TargetClickHouse

pytestmark = pytest.mark.integration


def _select(warehouse, stream: str, columns: str, *, final: bool = True, order: str = "1") -> list[tuple]:
    table = quote_identifier(table_name(stream))
    return warehouse.query(f"SELECT {columns} FROM {table}{' FINAL' if final else ''} ORDER BY {order}")


class ArrayData(sdk.TargetArrayData):
    def validate(self) -> None:
        rows = _select(self.resource, "test_array_data", "id, fruits")
        assert [(i, json.loads(fruits)) for i, fruits in rows] == [
            (1, ["apple", "orange", "pear"]),
            (2, ["banana", "apple"]),
            (3, ["pear"]),
            (4, ["orange", "banana", "apple", "pear"]),
        ]


class CamelcaseComplexSchema(sdk.TargetCamelcaseComplexSchema):
    def validate(self) -> None:
        types = self.resource.column_types(table_name("ForecastingTypeToCategory"))
        assert types["Id"] == "String"
        assert types["IsDeleted"] == "Nullable(Bool)"
        assert types["CreatedDate"] == "Nullable(DateTime64(6, 'UTC'))"
        assert types["DisplayPosition"] == "Nullable(Int64)"


class Camelcase(sdk.TargetCamelcaseTest):
    def validate(self) -> None:
        assert list(self.resource.column_types(table_name("TestCamelcase")))[:2] == ["Id", "clientName"]
        rows = _select(self.resource, "TestCamelcase", "Id, clientName")
        assert rows == [("1", "Gitter Windows Desktop App"), ("2", "Gitter iOS App")]


class DuplicateRecords(sdk.TargetDuplicateRecords):
    def validate(self) -> None:
        assert _select(self.resource, "test_duplicate_records", "id, metric") == [(1, 100), (2, 20)]
        every = _select(self.resource, "test_duplicate_records", "count()", final=False)[0][0]
        assert 2 <= every <= 5  # every version was inserted; FINAL shows the latest per key


class EncodedStringData(sdk.TargetEncodedStringData):
    def validate(self) -> None:
        strings = dict(_select(self.resource, "test_strings", "id, info"))
        assert strings[2] == "απλή συμβολοσειρά" and strings[3] == "简单的字串"
        assert strings[6] == 'various " \\ / \n escape sequences'
        assert strings[10] == "Double quoting: \\u0000 \\u0041 \\u0001"
        assert strings[11] == "Control Characters in string: \x00 A \x01"
        objects = dict(_select(self.resource, "test_strings_in_objects", "id, info"))
        assert json.loads(objects[11]) == {"name": "Control Characters in string", "value": "\x00 A \x01"}
        arrays = dict(_select(self.resource, "test_strings_in_arrays", "id, strings"))
        assert json.loads(arrays[4]) == ["m", "ā", "ƙ"]


class NoPrimaryKeys(sdk.TargetNoPrimaryKeys):
    def validate(self) -> None:
        rows = _select(self.resource, "test_no_pk", "id, metric", final=False)
        assert rows == [(1, 11), (2, 22), (3, 33)]


class OptionalAttributes(sdk.TargetOptionalAttributes):
    def validate(self) -> None:
        rows = _select(self.resource, "test_optional_attributes", "id, optional")
        assert rows == [(1, "This is optional"), (2, None), (3, "Also optional"), (4, None)]


class PrimaryKeyUpdates(sdk.TargetPrimaryKeyUpdates):
    def validate(self) -> None:  # key_properties sit inside the schema there: a stream without keys
        rows = _select(self.resource, "example_stream", "id, name, email", final=False)
        assert rows == [(1, "Alice", "alice@example.com"), (2, "Bob", "bob@example.com")]


class RecordMissingOptionalFields(sdk.TargetRecordMissingOptionalFields):
    def validate(self) -> None:
        rows = _select(self.resource, "record_missing_fields", "id, optional")
        assert rows == [(1, "now you see me"), (2, None)]


class RecordMissingKeyProperty(sdk.TargetRecordMissingKeyProperty):
    def validate(self) -> None:  # raised when the record was read: nothing was inserted
        assert _select(self.resource, "test_record_missing_key_property", "count()") == [(0,)]


class SchemaNoProperties(sdk.TargetSchemaNoProperties):
    def validate(self) -> None:
        with_props = _select(self.resource, "test_object_schema_with_properties", "object_store", final=False)
        no_props = _select(self.resource, "test_object_schema_no_properties", "object_store", final=False)
        assert [json.loads(v) for (v,) in with_props] == [{"id": 1, "metric": 187}, {"id": 2, "metric": 203}]
        assert [json.loads(v) for (v,) in no_props] == [{"id": 1, "metric": 1}, {"id": 2, "metric": 2}]


class SchemaUpdates(sdk.TargetSchemaUpdates):
    def validate(self) -> None:
        types = self.resource.column_types(table_name("test_schema_updates"))
        assert [types[f"a{i}"] for i in range(1, 7)] == [
            "Nullable(Float64)",
            "Nullable(String)",
            "Nullable(Bool)",
            "Nullable(String)",  # object → JSON text
            "Nullable(String)",  # array → JSON text
            "Nullable(Int64)",
        ]
        rows = _select(self.resource, "test_schema_updates", "id, a1, a2, a3, a4, a5, a6")
        assert rows[0] == (1, 101.0, "string1", None, None, None, None)
        assert rows[1] == (2, 102.0, "string2", True, None, None, None)
        assert rows[2][:4] == (3, 103.0, "string3", False)
        assert json.loads(rows[2][4]) == {"id": 1, "value": 1}
        assert json.loads(rows[2][5]) == ["banana", "apple"]
        assert rows[5][:4] == (6, 106.0, "string6", True) and rows[5][6] == 341
        assert [row[6] for row in rows] == [None, None, None, None, 985, 341]


class SpecialCharsInAttributes(sdk.TargetSpecialCharsInAttributes):
    def validate(self) -> None:
        stream = "test:SpecialChars!in?attributes"
        assert list(self.resource.column_types(table_name(stream)))[:2] == ["_id", "d"]
        rows = _select(self.resource, stream, "_id, d, toString(_sdc_extracted_at)")
        (key, nested, extracted), = rows
        assert key == "a2e98886" and extracted == "2018-11-02 22:57:04.841020"
        assert json.loads(nested) == {"env": "prod", "agent:type": "desktop", "agent:os:version": "10.13.1"}


READ_BACK = [
    ArrayData,
    CamelcaseComplexSchema,
    Camelcase,
    DuplicateRecords,
    EncodedStringData,
    NoPrimaryKeys,
    OptionalAttributes,
    PrimaryKeyUpdates,
    RecordMissingKeyProperty,
    RecordMissingOptionalFields,
    SchemaNoProperties,
    SchemaUpdates,
    SpecialCharsInAttributes,
]
# The standard suite, each test replaced by its read-back subclass where there is one.
SUITE = SingerTestSuite(
    kind="target",
    tests=[
        next((ours for ours in READ_BACK if issubclass(ours, test)), test) for test in standard_suite.tests
    ],
)


class _ClosingRunner(TargetTestRunner):
    """Closes every target it made: a failing sync never reaches process_endofpipe, and an open
    client would hold the chdb directory against the CLI tests' subprocesses."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.targets: list[TargetClickHouse] = []

    def new_target(self) -> TargetClickHouse:
        target = super().new_target()
        assert isinstance(target, TargetClickHouse)
        self.targets.append(target)
        return target


StandardTests = get_target_test_class(
    TargetClickHouse, config={}, custom_suites=[SUITE], include_target_tests=False
)


class TestTargetClickHouseStandardSuite(StandardTests):
    @pytest.fixture
    def resource(self, warehouse):
        return warehouse

    @pytest.fixture
    def runner(self, warehouse):
        runner = _ClosingRunner(target_class=TargetClickHouse, config=warehouse.config())
        yield runner
        for target in runner.targets:
            target.close()


def test_the_suite_is_the_whole_standard_suite():
    assert len(SUITE.tests) == len(standard_suite.tests) == 16
    pairs = list(zip(SUITE.tests, standard_suite.tests, strict=True))
    assert all(issubclass(ours, test) for ours, test in pairs)
    assert sum(ours is not test for ours, test in pairs) == len(READ_BACK)


@pytest.mark.parametrize("binary", [False, True])
def test_missing_key_is_reported_when_the_record_is_read(warehouse, binary):
    messages = [
        warehouse.schema("orders", {"id": {"type": "integer"}, "n": {"type": ["integer", "null"]}}, ["id"]),
        warehouse.record("orders", {"id": 1, "n": 1}),  # the first record takes the decoded path
        warehouse.record("orders", {"n": 2}),  # the next one the raw fast path (binary)
    ]
    with pytest.raises(sdk.MissingKeyPropertiesError) as info:
        warehouse.run(messages, binary=binary)
    assert str(info.value) == "stream 'orders': a record is missing key property 'id'"
    assert warehouse.query("SELECT count() FROM stg_qtickets_orders_raw") == [(0,)]


def test_singer_sdk_version_is_the_supported_one():
    installed = version("singer-sdk")
    assert installed in SpecifierSet(SUPPORTED_SINGER_SDK), (
        f"singer-sdk {installed} is outside {SUPPORTED_SINGER_SDK}, the range target_clickhouse/router.py "
        "mirrors (the SDK Target's RECORD handling: stream maps, key check, tallies, drains). "
        "Re-check router.py and the sink's SDK hooks against the new SDK, then widen the range."
    )
