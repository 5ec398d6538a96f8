"""One stream → one ClickHouse table: convert records to rows, insert them in batches (Native format)."""

from __future__ import annotations

import gc
import re
import time
import typing as t
from time import time_ns as _time_ns

import backoff
import msgspec
from clickhouse_connect.driver.exceptions import ClickHouseError, DatabaseError, OperationalError
from singer_sdk.sinks import BatchSink

from target_clickhouse import schema_types as st
from target_clickhouse.columns import BadColumnValue, insert_type, make_column_converter
from target_clickhouse.converters import to_json_text
from target_clickhouse.errors import ConversionError, TargetClickHouseError
from target_clickhouse.identifiers import qualified_table
from target_clickhouse.record_values import raw_record_decoder, record_values_getter
from target_clickhouse.tables import (
    VERSION_COLUMN,
    EngineOptions,
    desired_columns,
    ensure_table,
    max_version,
)

if t.TYPE_CHECKING:
    from target_clickhouse.target import TargetClickHouse

# Metadata columns the sink fills itself: per record, and per batch at insert time.
_EXTRACTED = "_sdc_extracted_at"
_ROW_TAIL = ("_sdc_received_at",)
_DRAIN_TAIL = ("_sdc_batched_at", VERSION_COLUMN)
# Server error codes worth retrying: timeouts, network, too many parts/queries, read-only replica.
_RETRYABLE_CODES = {159, 202, 209, 210, 242, 252, 425, 999}
_CODE = re.compile(r"Code: (\d+)")
_SIZE_SAMPLE_EVERY = 512


def _is_retryable(exc: Exception) -> bool:
    if isinstance(exc, OperationalError):
        return True
    match = _CODE.search(str(exc))
    return bool(match and int(match.group(1)) in _RETRYABLE_CODES)


def _row_bytes(values: t.Iterable) -> int:
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
    """Loads one stream into `{database}.{table_name_pattern}` (ReplacingMergeTree on the key properties)."""

    target: TargetClickHouse

    def __init__(self, target: TargetClickHouse, stream_name: str, schema: dict, key_properties) -> None:
        self.target = target
        super().__init__(target, stream_name, schema, key_properties)
        config = target.config
        self._batch_size_rows = int(config.get("batch_size_rows") or target.DEFAULT_BATCH_SIZE_ROWS)
        self._max_bytes = int(config.get("batch_size_bytes") or target.DEFAULT_BATCH_SIZE_BYTES)
        self.database: str = target.database
        self.table_name: str = target.table_name_for(stream_name)
        self._rows: list[tuple] = []
        self._received: list[int] = []
        self._uncounted = 0  # fast-path records not yet added to the record_count metric
        self._avg_row_bytes = 0
        self._columns: dict[str, st.ColumnType] = {}

    # --- SDK hooks: metadata and validation are done by the converters, once per value -------------

    @property
    def include_sdc_metadata_properties(self) -> bool:
        return True  # the metadata columns are part of the table contract, not optional

    def _add_sdc_metadata_to_schema(self) -> None:
        """Metadata columns are added by `desired_columns`; the stream schema stays as sent."""

    def _add_sdc_metadata_to_record(self, record: dict, message: dict, context: dict) -> None:
        record["_sdc_extracted_at"] = message.get("time_extracted")

    def get_validator(self) -> None:
        """No per-record jsonschema pass: each converter checks its value while converting it."""
        return

    def _validate_and_parse(self, record: dict) -> dict:
        return record  # date-times are parsed (with their offsets) by the converters

    # --- table setup ---------------------------------------------------------------------------

    def setup(self) -> None:
        client = self.target.client
        config = self.config
        wanted = desired_columns(
            self.stream_name, self.schema, self.key_properties, config.get("json_as") or "String"
        )
        options = EngineOptions(
            engine=config.get("engine") or "ReplacingMergeTree",
            partition_by=config.get("partition_by") or None,
            table_settings=self.target.table_settings,
        )
        self._columns = ensure_table(
            client, self.stream_name, self.database, self.table_name, wanted, self.key_properties, options
        )
        self.target.versions.ensure_above(max_version(client, self.database, self.table_name))
        from_record = [name for name in self._columns if name not in (*_ROW_TAIL, *_DRAIN_TAIL, _EXTRACTED)]
        self._record_values = record_values_getter(from_record)
        self._raw_record_values = raw_record_decoder(from_record)
        self._value_names = [*from_record, _EXTRACTED]  # time_extracted comes from the message
        self._converters = [make_column_converter(self._columns[name]) for name in self._value_names]
        self._column_names = [*self._value_names, *_ROW_TAIL, *_DRAIN_TAIL]
        self._column_types = [self._columns[name].sql for name in self._column_names]
        setting = client.server_settings.get("input_format_native_allow_types_conversion")
        self._converts_types = getattr(setting, "value", None) == "1"
        self._qualified_table = qualified_table(self.database, self.table_name)
        retries = config.get("insert_retries")
        retries = 3 if retries is None else retries
        self._insert_with_retries = backoff.on_exception(
            backoff.expo,
            (OperationalError, DatabaseError),
            max_tries=retries + 1,
            giveup=lambda exc: not _is_retryable(exc),
            max_value=30,
            logger=self.logger,
        )(self._insert_block)
        self.logger.info(
            "Stream '%s' → %s.%s (%d columns, keys %s)",
            self.stream_name,
            self.database,
            self.table_name,
            len(self._column_names),
            list(self.key_properties) or "none",
        )

    # --- records → rows --------------------------------------------------------------------------

    @property
    def is_full(self) -> bool:
        rows = self._batch_records_read
        return rows >= self._batch_size_rows or rows * self._avg_row_bytes >= self._max_bytes

    def process_record(self, record: dict, context: dict) -> None:
        """SDK path (stream maps / flattening); `_sdc_extracted_at` was set by the metadata hook."""
        self.add_record(record, record.get("_sdc_extracted_at"))

    def add_record(self, record: dict, time_extracted: object) -> None:
        # Only gather the values here; they are checked and converted column by column at drain.
        self._add_values((*self._record_values(record), time_extracted))

    def _add_values(self, values: tuple) -> None:
        rows = self._rows
        if not len(rows) % _SIZE_SAMPLE_EVERY:
            size = _row_bytes(values)
            self._avg_row_bytes = max(size, (self._avg_row_bytes + size) // 2)
        rows.append(values)
        self._received.append(time.time_ns() // 1000)

    def add_direct(self, record: dict, time_extracted: object) -> bool:
        """The target's fast path for a decoded record; True when the batch is full."""
        self.add_record(record, time_extracted)
        return self._tally()

    def add_raw(self, raw: msgspec.Raw, time_extracted: object) -> bool | None:
        """The reader's fast path: the record's JSON decoded straight into row values.

        True when the batch is full; None (nothing buffered) when the record is not a JSON object,
        so the caller sends it down the SDK path, which reports it. (`_add_values` and `_tally`
        inlined: this runs once per record.)"""
        try:
            values = self._raw_record_values(raw)
        except msgspec.DecodeError:
            return None
        values = (*values, time_extracted)
        rows = self._rows
        if not len(rows) % _SIZE_SAMPLE_EVERY:
            size = _row_bytes(values)
            self._avg_row_bytes = max(size, (self._avg_row_bytes + size) // 2)
        rows.append(values)
        self._received.append(_time_ns() // 1000)
        self._batch_records_read = count = self._batch_records_read + 1
        self._total_records_read += 1
        self._uncounted += 1
        return count >= self._batch_size_rows or count * self._avg_row_bytes >= self._max_bytes

    def _tally(self) -> bool:
        # The SDK's per-record steps (tally, metric, is_full) without their call chain; the
        # record_count metric is incremented once per batch instead of once per record.
        self._batch_records_read += 1
        self._total_records_read += 1
        self._uncounted += 1
        rows = self._batch_records_read
        return rows >= self._batch_size_rows or rows * self._avg_row_bytes >= self._max_bytes

    # --- batches → ClickHouse ----------------------------------------------------------------

    def process_batch(self, context: dict) -> None:
        if self._uncounted:
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
        first = self.target.versions.take(count)
        columns.append([time.time_ns() // 1000] * count)
        columns.append(range(first, first + count))
        # The token makes a retried (possibly already applied) insert a no-op on tables with
        # non_replicated_deduplication_window (or replicated engines); same versions either way.
        token = f"{self.database}.{self.table_name}:{first}:{count}"
        started = time.perf_counter()
        try:
            self._insert_with_retries(columns, token, self._insert_types(columns))
        except ClickHouseError as exc:
            raise TargetClickHouseError(
                f"stream '{self.stream_name}': inserting {count} rows into {self.database}.{self.table_name} "
                f"failed: {exc}"
            ) from exc
        del columns
        gc.collect(1)  # an insert leaves reference cycles holding its buffers: free them per batch
        self.logger.info(
            "Inserted %d rows into %s.%s in %.2fs",
            count,
            self.database,
            self.table_name,
            time.perf_counter() - started,
        )

    def _convert_columns(self, raw_columns: list) -> list:
        converted = []
        for name, convert, column in zip(self._value_names, self._converters, raw_columns, strict=True):
            try:
                converted.append(convert(column))
            except BadColumnValue as exc:
                raise ConversionError(self.stream_name, name, column[exc.index], exc.reason) from None
        return converted

    def _insert_types(self, columns: list) -> list[str]:
        if not self._converts_types:
            return self._column_types
        names = self._column_names
        return [insert_type(self._columns[name], values) for name, values in zip(names, columns, strict=True)]

    def _insert_block(self, columns: list, token: str, types: list[str] | None = None) -> None:
        self.target.client.insert(
            table=self._qualified_table,  # pre-quoted: clickhouse-connect passes dotted names through
            data=columns,
            column_names=self._column_names,
            column_type_names=types or self._column_types,
            column_oriented=True,
            settings={"insert_deduplication_token": token, "async_insert": 0},
        )
