"""Records → JSONEachRow lines for one table, and ClickHouse's parse errors back to the record's field.

A row is the record's own JSON with the metadata the sink fills appended: `_sdc_extracted_at` (the
message's `time_extracted`) and `_sdc_received_at` when the record is read, `_sdc_batched_at` and
`_sdc_version` when its batch is inserted (`body`). ClickHouse parses the rows (`INPUT_SETTINGS`);
properties the table has no column for are skipped by it, absent ones are NULL.

Every value is checked before it is sent (`values.py`): a record's JSON is checked by one msgspec
decode against the table's fast types and, when it passes, sent as it is (a decoded record is encoded
first). Otherwise each value is normalized on its own, which names the field and value of a bad one
(`ConversionError`). An object or array for a String column is stored as its JSON text: as the tap
sent it on the raw path, compact when the record was decoded (stream maps, the SDK's reader).
"""

from __future__ import annotations

import re
import typing as t
from collections.abc import Mapping, Sequence
from decimal import Decimal
from itertools import chain, repeat
from time import time_ns

import msgspec

from target_clickhouse import schema_types as st
from target_clickhouse.errors import ConversionError
from target_clickhouse.tables import BATCHED_AT, EXTRACTED_AT, RECEIVED_AT, VERSION_COLUMN
from target_clickhouse.values import BadValue, fast_type, normalizer

# How ClickHouse must read the rows. Set explicitly, so that a server profile cannot change them.
INPUT_SETTINGS: dict[str, object] = {
    "date_time_input_format": "best_effort",  # ISO 8601 with any UTC offset
    "input_format_skip_unknown_fields": 1,  # properties the table has no column for
    "input_format_defaults_for_omitted_fields": 1,  # absent properties: NULL
    "input_format_null_as_default": 0,
    "input_format_json_read_numbers_as_strings": 1,  # a number or boolean in a String column: its text
    "input_format_json_read_bools_as_strings": 1,
    "input_format_json_read_objects_as_strings": 1,  # an object or array in a String column: its JSON
    "input_format_json_read_arrays_as_strings": 1,
    "input_format_allow_errors_num": 0,  # a row that does not parse fails the insert, never skipped
    "input_format_allow_errors_ratio": 0,
    # A batch is about one parsing chunk (10 MiB): parallel parsing only adds threads and buffers
    # (measured with embedded ClickHouse: ~15 MiB more peak RSS, no less CPU).
    "input_format_parallel_parsing": 0,
}
# Filled by the sink, in this order after the record's own columns; a record's own values are dropped.
SINK_FILLED = (EXTRACTED_AT, RECEIVED_AT, BATCHED_AT, VERSION_COLUMN)

_decode_record = msgspec.json.Decoder(float_hook=Decimal).decode  # exact numbers, as the SDK decodes
_encode = msgspec.json.Encoder(decimal_format="number").encode
_MICROS = 1_000_000
# "…DB::Exception: <reason>: (while reading the value of key <key>): (at row <n>)", or a duplicate key.
_PARSE_ERROR = re.compile(
    r"DB::Exception: (?!Code: )(?P<reason>.*?): \(while reading the value of key (?P<key>.*?)\): "
    r"\(at row (?P<row>\d+)\)"
    r"|(?P<duplicate>Duplicate field found while parsing JSONEachRow format): (?P<dkey>.*?): "
    r"\(at row (?P<drow>\d+)\)",
    re.DOTALL,
)
_DATA_SNIPPET = re.compile(r" before: '.*", re.DOTALL)  # ClickHouse quotes the input after the error


def _checker(
    columns: Mapping[str, st.ColumnType], names: Sequence[str], required: frozenset[str]
) -> t.Callable[[bytes], object]:
    """Decodes a record's JSON against the fast types of `names`; raises msgspec.ValidationError, also
    when the record carries a metadata column the sink fills (no JSON value decodes as UNSET)."""
    # Field names are positional (f0, f1, …) and renamed to the columns, so any column name works.
    fields = [f"f{index}" for index in range(len(names) + len(SINK_FILLED))]
    spec: list[tuple[str, object] | tuple[str, object, object]] = [
        (field, fast_type(columns[name])) if name in required else (field, fast_type(columns[name]), None)
        for field, name in zip(fields, names, strict=False)
    ]
    spec += [(field, msgspec.UnsetType, msgspec.UNSET) for field in fields[len(names) :]]
    rename = dict(zip(fields, [*names, *SINK_FILLED], strict=True))
    struct = msgspec.defstruct("RecordCheck", spec, rename=rename, kw_only=True, gc=False)
    return msgspec.json.Decoder(struct).decode


def clickhouse_reason(text: str) -> str:
    """ClickHouse's error message on one line, without the input it quotes."""
    first = _DATA_SNIPPET.sub("", text).strip().splitlines()
    return first[0] if first else text


class RowEncoder:
    """One table's rows: `from_raw` / `from_record` per record, `body` per batch."""

    def __init__(
        self, stream: str, columns: Mapping[str, st.ColumnType], key_properties: Sequence[str]
    ) -> None:
        self.stream = stream
        self.record_names = [name for name in columns if name not in SINK_FILLED]
        self.column_names = [*self.record_names, *SINK_FILLED]
        self.keys = frozenset(key_properties)
        self._check = _checker(columns, self.record_names, self.keys)
        self._normalizers = [(name, normalizer(columns[name])) for name in self.record_names]
        self._extracted_at = normalizer(columns[EXTRACTED_AT])
        self._extracted_value: object = object()
        self._extracted_json = b""

    def from_raw(self, raw: msgspec.Raw | bytes, time_extracted: object) -> bytes | None:
        """The row of a record still as raw JSON; None when it is not a JSON object or lacks a key
        property (the caller then takes the decoded path, which reports it)."""
        try:
            self._check(raw)
        except msgspec.ValidationError:
            pass
        except msgspec.DecodeError:
            return None
        else:
            return self._row(raw, time_extracted)
        try:
            record = _decode_record(raw)
        except msgspec.DecodeError:
            return None
        if record.__class__ is not dict or not record.keys() >= self.keys:
            return None
        return self.from_record(record, time_extracted)

    def from_record(self, record: dict[str, t.Any], time_extracted: object) -> bytes:
        """The row of a decoded record (its key properties present); ConversionError for a bad value."""
        if any(name in record for name in SINK_FILLED):
            record = {name: value for name, value in record.items() if name not in SINK_FILLED}
        try:
            data = _encode(record)
            self._check(data)
        except (msgspec.ValidationError, msgspec.EncodeError, TypeError):
            pass
        else:
            return self._row(data, time_extracted)
        values = {}
        for name, normalize in self._normalizers:
            if name in record:
                value = record[name]
                try:
                    values[name] = normalize(value)
                except BadValue as exc:
                    raise ConversionError(self.stream, name, value, str(exc)) from None
        return self._row(_encode(values), time_extracted)

    def _row(self, data: msgspec.Raw | bytes, time_extracted: object) -> bytes:
        """`data` (a JSON object) with `_sdc_extracted_at` and `_sdc_received_at`, left open for `body`."""
        if time_extracted != self._extracted_value:  # usually one value per stream: converted once
            try:
                extracted = self._extracted_at(time_extracted)
            except BadValue as exc:
                raise ConversionError(self.stream, EXTRACTED_AT, time_extracted, str(exc)) from None
            self._extracted_json = b',"%s":%s,"%s":"' % (EXTRACTED_AT.encode(), _encode(extracted),
                                                           RECEIVED_AT.encode())
            self._extracted_value = time_extracted
        data = bytes(data)
        received = b'%d.%06d"' % divmod(time_ns() // 1000, _MICROS)  # as Unix seconds: read exactly
        if data[-2] in b"{ \t\r\n" and not data[1:-1].strip():  # an empty object
            return b"{" + self._extracted_json[1:] + received
        return data[:-1] + self._extracted_json + received

    def body(self, rows: Sequence[bytes], first_version: int) -> bytes:
        """The JSONEachRow payload of a batch: each row closed with `_sdc_batched_at` (now) and its
        `_sdc_version` (`first_version`, `first_version + 1`, …)."""
        batched = b',"%s":"%d.%06d","%s":' % (
            BATCHED_AT.encode(), *divmod(time_ns() // 1000, _MICROS), VERSION_COLUMN.encode()
        )
        versions = map(b"%d}\n".__mod__, range(first_version, first_version + len(rows)))
        return b"".join(chain.from_iterable(zip(rows, repeat(batched), versions)))

    def parse_error(self, error: Exception, body: bytes) -> ConversionError | None:
        """ClickHouse's report of a value in `body` it could not read, as the record's field and value."""
        match = _PARSE_ERROR.search(str(error))
        if match is None:
            return None
        duplicate = match["key"] is None
        key = match["dkey"] if duplicate else match["key"]
        index = int(match["drow"] if duplicate else match["row"]) - 1
        rows = body.split(b"\n")
        if not 0 <= index < len(rows):
            return None
        try:
            record = _decode_record(rows[index])
        except msgspec.DecodeError:
            return None
        value = record.get(key) if isinstance(record, dict) else None
        reason = clickhouse_reason(match["duplicate"] if duplicate else match["reason"])
        return ConversionError(self.stream, key, value, f"ClickHouse cannot read it: {reason}")
