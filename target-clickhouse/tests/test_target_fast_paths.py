"""The CLI's fast paths load exactly what the SDK's paths load: the chunked byte reader with raw
records (vs. the SDK's text reader), raw records sent as they are (vs. decoded records), and the lean
CLI entry point."""

from __future__ import annotations

import ast
import contextlib
import io
import json
import subprocess
import sys
from decimal import Decimal

import msgspec
import pytest
from singer_sdk.singerlib.exceptions import InvalidInputLine
from target_clickhouse.cli import modules_absent
from target_clickhouse.errors import ConversionError
from target_clickhouse.reader import ChunkedMessageReader
from target_clickhouse.rows import RowEncoder
from target_clickhouse.tables import desired_columns
from target_clickhouse.target import TargetClickHouse

PROPS = {
    "id": {"type": "integer"},
    "n": {"type": ["integer", "null"]},
    "ratio": {"type": ["number", "null"]},
    "price": {"type": ["string", "null"], "format": "x-singer.decimal", "precision": 18, "scale": 2},
    "exact": {"type": ["string", "null"], "format": "x-singer.decimal", "precision": 10, "scale": 3},
    "at": {"type": ["string", "null"], "format": "date-time"},
    "day": {"type": ["string", "null"], "format": "date"},
    "flag": {"type": ["boolean", "null"]},
    "name with space": {"type": ["string", "null"]},
    "ключ": {"type": ["string", "null"]},
    "meta": {"type": ["object", "null"]},
    "tags": {"type": ["array", "null"]},
}
RECORDS = [
    {"id": 1, "n": 5, "ratio": 0.1, "price": "12.50", "exact": "1.5", "at": "2025-03-14T15:00:00+03:00",
     "day": "2025-03-14", "flag": True, "name with space": "a\nb", "ключ": "значение",
     "meta": {"x": [1, 2.5, None]}, "tags": ["t", 1], "not_in_schema": 7},
    {"id": 2, "_sdc_extracted_at": "1999-01-01T00:00:00Z"},  # the message's time_extracted wins
    {"id": 3, "n": None, "ratio": 3, "price": None, "exact": 2, "at": "2025-03-14T12:00:00",
     "flag": False, "meta": None, "tags": []},
    {"id": 4, "price": "7", "exact": "0.125", "ratio": 1e300, "at": "2025-03-14T12:00:00.123456Z"},
]
SELECT = (
    "SELECT * EXCEPT (_sdc_received_at, _sdc_batched_at, _sdc_version) "
    "FROM stg_qtickets_items_raw ORDER BY id"
)


def _messages(warehouse, records=RECORDS, stream="items"):
    """Messages written as singer-sdk taps write them: compact JSON (objects for String columns are
    stored as the JSON text the tap sent, so compact input loads the same by either reader)."""
    return [
        warehouse.schema(stream, PROPS, ["id"]),
        *[warehouse.record(stream, r, extracted=f"2025-03-14T12:00:0{i}Z") for i, r in enumerate(records)],
        {"type": "STATE", "value": {"done": len(records)}},
    ]


def _other_database(warehouse):
    return type(warehouse)(warehouse.directory, warehouse.database + "_bin")


@pytest.mark.integration
@pytest.mark.parametrize("chunk_bytes", [7, 1 << 20])
def test_byte_reader_loads_the_same_rows_as_the_sdk_reader(warehouse, monkeypatch, chunk_bytes):
    monkeypatch.setattr(ChunkedMessageReader, "chunk_bytes", chunk_bytes)  # 7: lines split across reads
    binary = _other_database(warehouse)
    assert warehouse.run(_messages(warehouse), compact=True) == [{"done": 4}]
    assert binary.run(_messages(binary), binary=True, compact=True) == [{"done": 4}]
    expected = warehouse.query(SELECT)
    assert len(expected) == 4
    assert binary.query(SELECT) == expected
    assert expected[3][:5] == (4, None, 1e300, Decimal("7.00"), Decimal("0.125"))


@pytest.mark.integration
def test_byte_reader_batches_and_versions_like_the_sdk_reader(warehouse):
    records = [{"id": i % 7, "n": i} for i in range(50)]  # keys repeat: the latest record must win
    binary = _other_database(warehouse)
    warehouse.run(_messages(warehouse, records), batch_size_rows=8)
    binary.run(_messages(binary, records), binary=True, batch_size_rows=8)
    final = "SELECT id, n FROM stg_qtickets_items_raw FINAL ORDER BY id"
    assert binary.query(final) == warehouse.query(final) == [(k, max(range(k, 50, 7))) for k in range(7)]


@pytest.mark.integration
def test_rows_loaded_counts_the_rows_of_successful_inserts(warehouse):
    """Batches of 8: the first two insert, the third holds a row ClickHouse refuses (a property twice)."""
    text = warehouse.lines(_messages(warehouse, [{"id": i, "n": i} for i in range(20)]), compact=True)
    text = text.replace('"n":17', '"n":17,"n":18')
    target = TargetClickHouse(config=warehouse.config(batch_size_rows=8))
    try:
        with contextlib.redirect_stdout(io.StringIO()), pytest.raises(ConversionError):
            target.listen(io.BytesIO(text.encode()))
        assert target.connector.rows_loaded() == {"items": 16}  # what the ledger records
    finally:
        target.close()
    assert warehouse.query("SELECT count() FROM stg_qtickets_items_raw") == [(16,)]


@pytest.mark.integration
def test_byte_reader_takes_the_sdk_path_for_stream_maps(warehouse):
    warehouse.run(
        _messages(warehouse, [{"id": 1, "name with space": "a"}, {"id": 2}]),
        binary=True,
        stream_maps={"items": {"upper": "str(id) + 'x'", "__filter__": "id != 2"}},
    )
    rows = warehouse.query("SELECT id, upper FROM stg_qtickets_items_raw ORDER BY id")
    assert rows == [(1, "1x")]


@pytest.mark.integration
@pytest.mark.parametrize("bad_line", [b"{not json", b"", b'{"stream": "items"}'])
def test_bad_line_is_reported_after_the_messages_before_it(warehouse, bad_line):
    good = warehouse.lines(_messages(warehouse, RECORDS[:2])).encode()
    seen: list[str] = []
    reader = ChunkedMessageReader()
    callbacks = {kind: (lambda m: seen.append(m["type"])) for kind in ("SCHEMA", "RECORD", "STATE")}
    with pytest.raises((InvalidInputLine, msgspec.DecodeError)) as info:
        reader.process_lines(io.BytesIO(good + bad_line + b"\n" + good), callbacks)
    assert seen == ["SCHEMA", "RECORD", "RECORD", "STATE"]
    assert "type" in str(info.value) or "parse" in str(info.value)


class _Records:
    """A record consumer that takes stream "items" raw and the rest decoded."""

    def __init__(self):
        self.raw, self.decoded = [], []

    def take_raw(self, stream, raw, time_extracted):
        self.raw.append(bytes(raw))
        return stream == "items"

    def take_message(self, message):
        self.decoded.append(message["record"])


@pytest.mark.integration
@pytest.mark.parametrize("binary", [True, False])
def test_reader_counts_every_message_type(warehouse, binary):
    reader = ChunkedMessageReader()
    reader.records = records = _Records()
    sdk_records = []
    callbacks = {kind: (lambda message: None) for kind in ("SCHEMA", "STATE")}
    callbacks["RECORD"] = sdk_records.append  # replaced by the consumer
    data = warehouse.lines([*_messages(warehouse, RECORDS[:2]), *_messages(warehouse, RECORDS[:1], "other")])
    source = io.BytesIO(data.encode()) if binary else io.StringIO(data)
    counts = reader.process_lines(source, callbacks)
    assert counts == {"SCHEMA": 2, "RECORD": 3, "STATE": 2}
    assert sdk_records == []
    if binary:  # offered raw first; "other" is declined and comes back decoded
        assert len(records.raw) == 3 and json.loads(records.raw[0])["id"] == 1
        assert [r["id"] for r in records.decoded] == [1]
    else:
        assert records.raw == [] and [r["id"] for r in records.decoded] == [1, 2, 1]


@pytest.mark.integration
def test_unknown_message_type_is_an_error(warehouse):
    reader = ChunkedMessageReader()
    with pytest.raises(ValueError, match="Unknown message type 'NOPE'"):
        reader.process_lines(io.BytesIO(b'{"type": "NOPE"}\n'), {})


SAMPLES = [
    {"id": 1, "name with space": "x", "ключ": None, "meta": {"a": 1.25}, "tags": [1], "extra": 2},
    {"id": -(2**63), "meta": {"nested": {"deep": [True, None, "s"]}}, "_sdc_deleted_at": "2025-01-01"},
    {"id": 3, "n": 2.0, "price": "+1.5e1", "at": "2025-03-14 12:00:00", "day": "2024-02-29"},  # normalized
    {"id": 4, "_sdc_extracted_at": "1999-01-01T00:00:00Z", "_sdc_version": 9, "ratio": 1e300},
]


def _without_received_at(row: bytes) -> bytes:
    return row[: row.rindex(b'"_sdc_received_at"')]


@pytest.mark.unit
@pytest.mark.parametrize("sample", SAMPLES, ids=lambda sample: str(sample["id"]))
def test_raw_and_decoded_records_make_the_same_row(sample):
    encoder = RowEncoder("items", desired_columns("items", {"properties": PROPS}, ["id"], "String"), ["id"])
    raw = msgspec.json.encode(sample)
    from_raw = encoder.from_raw(raw, "2025-03-14T12:00:00Z")
    decoded = msgspec.json.Decoder(float_hook=Decimal).decode(raw)  # as the SDK decodes records
    from_record = encoder.from_record(decoded, "2025-03-14T12:00:00Z")
    assert from_raw is not None
    assert _without_received_at(from_raw) == _without_received_at(from_record)
    assert b'"_sdc_extracted_at":"2025-03-14T12:00:00.000000Z"' in from_raw
    assert from_raw.count(b'"_sdc_extracted_at"') == 1 and b'"_sdc_version"' not in from_raw


@pytest.mark.unit
@pytest.mark.parametrize("raw", [b"[1, 2]", b'{"n": 1}', b"{not json"])
def test_raw_record_that_is_no_object_or_lacks_a_key_takes_the_decoded_path(raw):
    encoder = RowEncoder("items", desired_columns("items", {"properties": PROPS}, ["id"], "String"), ["id"])
    assert encoder.from_raw(raw, None) is None


@pytest.mark.integration
def test_modules_absent_blocks_imports_and_restores():
    name = "target_clickhouse_test_absent_module"
    with modules_absent((name, "json")), pytest.raises(ImportError):
        __import__(name)
    assert name not in sys.modules and "json" in sys.modules  # already-imported modules stay usable


_REPORT_MODULES = (
    "import atexit, runpy, sys; "
    "atexit.register(lambda: print('LOADED', sorted(m for m in sys.modules if sys.modules[m] is not None "
    "and m.split('.')[0] in ('numpy', 'pandas', 'pyarrow', 'singer_sdk', 'chdb')), file=sys.stderr)); "
    "sys.argv[0] = 'target-clickhouse'; runpy.run_module('target_clickhouse', run_name='__main__')"
)


@pytest.mark.e2e
def test_cli_skips_numpy_pandas_and_pyarrow(warehouse, tmp_path):
    """`python -m target_clickhouse` (= the console script's `cli.main`) never loads them."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps(warehouse.config()))
    run = subprocess.run(
        [sys.executable, "-c", _REPORT_MODULES, "--config", str(config)],
        input=warehouse.lines(_messages(warehouse)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == {"done": 4}
    report = next(line for line in run.stderr.splitlines() if line.startswith("LOADED"))
    loaded = {name.split(".")[0] for name in ast.literal_eval(report.removeprefix("LOADED "))}
    assert loaded == {"singer_sdk", "chdb"}
    assert warehouse.query("SELECT count() FROM stg_qtickets_items_raw") == [(4,)]


@pytest.mark.integration
def test_decimal_strings_sent_as_text_load_exactly(warehouse):
    """Checked decimal strings go to the server as String; every shape the check lets through must
    parse to the exact value (the server's type conversion would turn a parse failure into NULL)."""
    prices = ["5.", "-0", "007", "0.10", "-5.", "9999999999999999.99", "-9999999999999999.99", "0", "12.3"]
    exacts = ["1", "-0.000", "0010.5", "9999999.999", "-9999999.999", "0.001", "7.", "42", "-1.25"]
    records = [{"id": i, "price": p, "exact": e} for i, (p, e) in enumerate(zip(prices, exacts, strict=True))]
    warehouse.run(_messages(warehouse, records), binary=True)
    rows = warehouse.query("SELECT price, exact FROM stg_qtickets_items_raw ORDER BY id")
    cents, mills = Decimal("0.01"), Decimal("0.001")
    pairs = zip(prices, exacts, strict=True)
    expected = [(Decimal(p).quantize(cents), Decimal(e).quantize(mills)) for p, e in pairs]
    assert rows == expected
