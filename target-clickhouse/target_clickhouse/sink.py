"""One stream → one ClickHouse table: buffer records as rows, convert them column by column at batch
time and insert each batch through the target's `ClickHouseConnector`."""

from __future__ import annotations

import gc
import time
import typing as t
from collections.abc import Sequence
from time import time_ns as _time_ns

import msgspec
from clickhouse_connect.driver.exceptions import ClickHouseError
from singer_sdk.exceptions import MissingKeyPropertiesError
from singer_sdk.sinks import BatchSink

from target_clickhouse import defaults
from target_clickhouse import schema_types as st
from target_clickhouse.columns import BadColumnValue, ColumnConverter, insert_type, make_column_converter
from target_clickhouse.connector import ClickHouseConnector, ConnectorOwner
from target_clickhouse.converters import to_json_text
from target_clickhouse.errors import ConversionError, TargetClickHouseError
from target_clickhouse.record_values import raw_record_decoder, record_values_getter
from target_clickhouse.tables import VERSION_COLUMN

if t.TYPE_CHECKING:
    from singer_sdk.target_base import Target

# Metadata columns the sink fills itself: per record, and per batch at insert time.
_EXTRACTED = "_sdc_extracted_at"
_ROW_TAIL = ("_sdc_received_at",)
_DRAIN_TAIL = ("_sdc_batched_at", VERSION_COLUMN)
_SIZE_SAMPLE_EVERY = 512


class MissingKeyError(TargetClickHouseError, MissingKeyPropertiesError):
    """A record lacks one of its stream's key properties (raised when the record is read)."""

    def __init__(self, stream: str, missing: Sequence[str]) -> None:
        names = ", ".join(repr(name) for name in missing)
        noun = "property" if len(missing) == 1 else "properties"
        super().__init__(f"stream '{stream}': a record is missing key {noun} {names}")
        self.stream = stream
        self.missing = list(missing)


def _row_bytes(values: t.Iterable[object]) -> int:
    """Rough size of one buffered row, for batch_size_bytes (sampled, so it may be slow-ish)."""
    size = 64
    for value in values:
        if isinstance(value, str):
            size += len(value) + 1
        elif isinstance(value, dict | list):
            size += len(to_json_text(value)) + 1
        else:
            size += 9
    return size


class ClickHouseSink(BatchSink):
    """Loads one stream into `{database}.{table_name_pattern}` (ReplacingMergeTree on the key properties).

    Records arrive through `add_record` / `add_raw` (the target's record path, see `router.py`) or
    the SDK's `process_record`; the sink counts them itself (`current_size` is its buffered rows)
    and reports them to the SDK's tallies and `record_count` metric once per batch."""

    MAX_SIZE_DEFAULT = defaults.DEFAULT_BATCH_SIZE_ROWS  # `max_size` when batch_size_rows is unset

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: Sequence[str] | None,
        connector: ClickHouseConnector | None = None,
    ) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        if connector is None:  # the target's shared one; else one of its own, like the SDK's SQLSink
            connector = target.connector if isinstance(target, ConnectorOwner) else None
        self.connector = connector or ClickHouseConnector(dict(target.config))
        self.table_name: str = self.connector.table_name(stream_name)
        self._max_rows = self.max_size
        self._max_bytes = int(self.config.get("batch_size_bytes") or defaults.DEFAULT_BATCH_SIZE_BYTES)
        self._key_set = frozenset(self.key_properties)
        self._rows: list[tuple] = []
        self._received: list[int] = []
        self._uncounted = 0  # records buffered since the SDK's tallies and metric were last updated
        self._avg_row_bytes = 0
        self._columns: dict[str, st.ColumnType] = {}

    # --- SDK hooks: metadata and validation are done by the converters, once per value -------------

    @property
    def include_sdc_metadata_properties(self) -> bool:
        return True  # the metadata columns are part of the table contract, not optional

    def get_validator(self) -> None:
        """No per-record jsonschema pass: each converter checks its value while converting it."""
        return

    @property
    def current_size(self) -> int:
        return len(self._rows)

    @property
    def is_full(self) -> bool:
        rows = len(self._rows)
        return rows >= self._max_rows or rows * self._avg_row_bytes >= self._max_bytes

    def process_batch_files(self, encoding: object, files: Sequence[str]) -> None:
        raise TargetClickHouseError(
            f"stream '{self.stream_name}': BATCH messages are not supported; send RECORD messages"
        )

    # --- table setup ---------------------------------------------------------------------------

    def setup(self) -> None:
        # `original_schema`: the stream's schema as sent (the SDK adds its metadata to `schema`).
        connector = self.connector
        self._columns = connector.prepare_table(
            self.stream_name, self.table_name, self.original_schema, self.key_properties
        )
        from_record = [name for name in self._columns if name not in (*_ROW_TAIL, *_DRAIN_TAIL, _EXTRACTED)]
        self._record_values = record_values_getter(from_record)
        self._raw_record_values = raw_record_decoder(from_record, required=self._key_set)
        self._value_names = [*from_record, _EXTRACTED]  # time_extracted comes from the message
        self._converters = [self._column_converter(name) for name in self._value_names]
        self._column_names = [*self._value_names, *_ROW_TAIL, *_DRAIN_TAIL]
        self._column_types = [self._columns[name].sql for name in self._column_names]
        self._converts_types = connector.converts_native_types
        self.logger.info(
            "Stream '%s' → %s.%s (%d columns, keys %s)",
            self.stream_name,
            connector.database,
            self.table_name,
            len(self._column_names),
            list(self.key_properties) or "none",
        )

    def _column_converter(self, name: str) -> ColumnConverter:
        converter = make_column_converter(self._columns[name])
        if converter is None:  # prepare_table only returns types the converters handle
            raise TargetClickHouseError(f"stream '{self.stream_name}', field '{name}': no converter")
        return converter

    # --- records → rows --------------------------------------------------------------------------

    def process_record(self, record: dict, context: dict) -> None:
        """The SDK's record path (a reader other than ours): the SDK has checked the keys, counted the
        record and set `_sdc_extracted_at` from the message (its metadata hook)."""
        self._add_values((*self._record_values(record), record.get(_EXTRACTED)))

    def add_record(self, record: dict, time_extracted: object) -> bool:
        """The target's path for a decoded record; True when the batch is full.

        Only gathers the values: they are checked and converted column by column at drain."""
        if not record.keys() >= self._key_set:
            raise MissingKeyError(self.stream_name, [key for key in self.key_properties if key not in record])
        self._add_values((*self._record_values(record), time_extracted))
        self._uncounted += 1
        return self.is_full

    def _add_values(self, values: tuple) -> None:
        rows = self._rows
        if not len(rows) % _SIZE_SAMPLE_EVERY:
            size = _row_bytes(values)
            self._avg_row_bytes = max(size, (self._avg_row_bytes + size) // 2)
        rows.append(values)
        self._received.append(_time_ns() // 1000)

    def add_raw(self, raw: msgspec.Raw, time_extracted: object) -> bool | None:
        """The reader's fast path: the record's JSON decoded straight into row values.

        True when the batch is full; None (nothing buffered) when the record is not a JSON object or
        lacks a key property, so the caller sends it down the decoded path, which reports it.
        (`_add_values` and the full check inlined: this runs once per record.)"""
        try:
            values = self._raw_record_values(raw)
        except msgspec.DecodeError:
            return None
        values = (*values, time_extracted)
        rows = self._rows
        count = len(rows)
        if not count % _SIZE_SAMPLE_EVERY:
            size = _row_bytes(values)
            self._avg_row_bytes = max(size, (self._avg_row_bytes + size) // 2)
        rows.append(values)
        self._received.append(_time_ns() // 1000)
        self._uncounted += 1
        count += 1
        return count >= self._max_rows or count * self._avg_row_bytes >= self._max_bytes

    # --- batches → ClickHouse ----------------------------------------------------------------

    def process_batch(self, context: dict) -> None:
        if self._uncounted:  # the SDK's per-record tally and metric, once per batch
            self.tally_record_read(self._uncounted)
            self.record_counter_metric.increment(self._uncounted)
            self._uncounted = 0
        rows, self._rows = self._rows, []
        if not rows:
            return
        count = len(rows)
        columns = self._convert_columns(list(zip(*rows, strict=True)))
        del rows
        columns.append(self._received)
        self._received = []
        connector = self.connector
        first = connector.reserve_versions(count)
        columns.append([time.time_ns() // 1000] * count)
        columns.append(range(first, first + count))
        # The token makes a retried (possibly already applied) insert a no-op on tables with
        # non_replicated_deduplication_window (or replicated engines); same versions either way.
        token = f"{connector.database}.{self.table_name}:{first}:{count}"
        started = time.perf_counter()
        try:
            types = self._insert_types(columns)
            connector.insert(self.table_name, columns, self._column_names, types, token=token)
        except ClickHouseError as exc:
            raise TargetClickHouseError(
                f"stream '{self.stream_name}': inserting {count} rows into {connector.database}."
                f"{self.table_name} failed: {exc}"
            ) from exc
        del columns
        gc.collect(1)  # an insert leaves reference cycles holding its buffers: free them per batch
        self.logger.info(
            "Inserted %d rows into %s.%s in %.2fs",
            count,
            connector.database,
            self.table_name,
            time.perf_counter() - started,
        )

    def _convert_columns(self, raw_columns: list[tuple]) -> list[Sequence[t.Any]]:
        converted = []
        for name, convert, column in zip(self._value_names, self._converters, raw_columns, strict=True):
            try:
                converted.append(convert(column))
            except BadColumnValue as exc:
                raise ConversionError(self.stream_name, name, column[exc.index], exc.reason) from None
        return converted

    def _insert_types(self, columns: list[Sequence[t.Any]]) -> list[str]:
        if not self._converts_types:
            return self._column_types
        names = self._column_names
        return [insert_type(self._columns[name], values) for name, values in zip(names, columns, strict=True)]
