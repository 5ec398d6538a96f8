"""One stream → one ClickHouse table: buffer records as JSONEachRow rows (`rows.py`) and insert each
batch through the target's `ClickHouseConnector`."""

from __future__ import annotations

import time
import typing as t
from collections.abc import Sequence

import msgspec
from clickhouse_connect.driver.exceptions import ClickHouseError
from singer_sdk.exceptions import MissingKeyPropertiesError
from singer_sdk.sinks import BatchSink

from target_clickhouse import defaults
from target_clickhouse.changes import first_key_values
from target_clickhouse.connector import ClickHouseConnector, ConnectorOwner
from target_clickhouse.errors import TargetClickHouseError
from target_clickhouse.rows import RowEncoder, clickhouse_reason
from target_clickhouse.tables import EXTRACTED_AT

if t.TYPE_CHECKING:
    from singer_sdk.target_base import Target


class MissingKeyError(TargetClickHouseError, MissingKeyPropertiesError):
    """A record lacks one of its stream's key properties (raised when the record is read)."""

    def __init__(self, stream: str, missing: Sequence[str]) -> None:
        names = ", ".join(repr(name) for name in missing)
        noun = "property" if len(missing) == 1 else "properties"
        super().__init__(f"stream '{stream}': a record is missing key {noun} {names}")
        self.stream = stream
        self.missing = list(missing)


class ClickHouseSink(BatchSink):
    """Loads one stream into `{database}.{table_name_pattern}` (ReplacingMergeTree on the key properties).

    Records arrive through `add_record` / `add_raw` (the target's record path, see `router.py`) or
    the SDK's `process_record`; the sink counts them itself (`current_size` is its buffered rows)
    and reports them to the SDK's tallies and `record_count` metric once per batch (the connector
    counts the rows of successful inserts, for the load ledger)."""

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
        self._rows: list[bytes] = []
        self._row_bytes = 0
        self._uncounted = 0  # records buffered since the SDK's tallies and metric were last updated

    # --- SDK hooks: metadata and validation are done by the row encoder, once per record ----------

    @property
    def include_sdc_metadata_properties(self) -> bool:
        return True  # the metadata columns are part of the table contract, not optional

    def get_validator(self) -> None:
        """No per-record jsonschema pass: the row encoder checks each value against its column."""
        return

    @property
    def current_size(self) -> int:
        return len(self._rows)

    @property
    def is_full(self) -> bool:
        return len(self._rows) >= self._max_rows or self._row_bytes >= self._max_bytes

    def process_batch_files(self, encoding: object, files: Sequence[str]) -> None:
        raise TargetClickHouseError(
            f"stream '{self.stream_name}': BATCH messages are not supported; send RECORD messages"
        )

    # --- table setup ---------------------------------------------------------------------------

    def setup(self) -> None:
        # `original_schema`: the stream's schema as sent (the SDK adds its metadata to `schema`).
        connector = self.connector
        columns = connector.prepare_table(
            self.stream_name, self.table_name, self.original_schema, self.key_properties
        )
        self._encoder = RowEncoder(self.stream_name, columns, self.key_properties)
        self.logger.info(
            "Stream '%s' → %s.%s (%d columns, keys %s)",
            self.stream_name,
            connector.database,
            self.table_name,
            len(columns),
            list(self.key_properties) or "none",
        )

    # --- records → rows --------------------------------------------------------------------------

    def process_record(self, record: dict, context: dict) -> None:
        """The SDK's record path (a reader other than ours): the SDK has checked the keys, counted the
        record and set `_sdc_extracted_at` from the message (its metadata hook)."""
        self._add_row(self._encoder.from_record(record, record.get(EXTRACTED_AT)))

    def add_record(self, record: dict, time_extracted: object) -> bool:
        """The target's path for a decoded record; True when the batch is full."""
        if not record.keys() >= self._key_set:
            raise MissingKeyError(self.stream_name, [key for key in self.key_properties if key not in record])
        self._add_row(self._encoder.from_record(record, time_extracted))
        self._uncounted += 1
        return self.is_full

    def add_raw(self, raw: msgspec.Raw, time_extracted: object) -> bool | None:
        """The reader's fast path: a record still as raw JSON. True when the batch is full; None
        (nothing buffered) when the record is not a JSON object or lacks a key property, so the caller
        sends it down the decoded path, which reports it."""
        row = self._encoder.from_raw(raw, time_extracted)
        if row is None:
            return None
        rows = self._rows  # `_add_row` and `is_full` inlined: this runs once per record
        rows.append(row)
        self._row_bytes += len(row)
        self._uncounted += 1
        return len(rows) >= self._max_rows or self._row_bytes >= self._max_bytes

    def _add_row(self, row: bytes) -> None:
        self._rows.append(row)
        self._row_bytes += len(row)

    # --- batches → ClickHouse ----------------------------------------------------------------

    def process_batch(self, context: dict) -> None:
        if self._uncounted:  # the SDK's per-record tally and metric, once per batch
            self.tally_record_read(self._uncounted)
            self.record_counter_metric.increment(self._uncounted)
            self._uncounted = 0
        rows, self._rows, self._row_bytes = self._rows, [], 0
        if not rows:
            return
        count = len(rows)
        connector, encoder = self.connector, self._encoder
        first = connector.reserve_versions(count)
        key = connector.classifies(self.table_name)
        first_keys = first_key_values(rows, key) if key else None  # for new / changed / unchanged
        # The token makes a retried (possibly already applied) insert a no-op on tables with
        # non_replicated_deduplication_window (or replicated engines); same versions either way.
        token = f"{connector.database}.{self.table_name}:{first}:{count}"
        started = time.perf_counter()
        body = encoder.body(rows, first)
        del rows  # the body holds them: half the batch's memory during the insert
        try:
            connector.insert(self.table_name, body, encoder.column_names, count=count, token=token,
                             first_version=first, first_keys=first_keys)
        except ClickHouseError as exc:
            bad_value = encoder.parse_error(exc, body)
            if bad_value is not None:
                raise bad_value from exc
            raise TargetClickHouseError(
                f"stream '{self.stream_name}': inserting {count} rows into {connector.database}."
                f"{self.table_name} failed: {clickhouse_reason(str(exc))}"
            ) from exc
        self.logger.info(
            "Inserted %d rows into %s.%s in %.2fs",
            count,
            connector.database,
            self.table_name,
            time.perf_counter() - started,
        )
