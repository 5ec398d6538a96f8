"""TargetClickHouse: settings, the shared client, and the CLI entry point."""

from __future__ import annotations

import sys
import typing as t
from functools import cached_property
from time import monotonic as _monotonic

from clickhouse_connect.driver import options as ch_options
from clickhouse_connect.driver.client import Client
from singer_sdk import typing as th
from singer_sdk.helpers.capabilities import PluginCapabilities
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.plugin_base import PluginBase
from singer_sdk.target_base import Target

from target_clickhouse.connection import default_url, open_client, redact_url
from target_clickhouse.errors import ConfigError, TargetClickHouseError
from target_clickhouse.identifiers import validate_identifier
from target_clickhouse.reader import ChunkedMessageReader
from target_clickhouse.sink import ClickHouseSink
from target_clickhouse.versions import VersionSequence

DEFAULT_TABLE_SETTINGS = {"non_replicated_deduplication_window": 1000}


class TargetClickHouse(Target):
    """Singer target for ClickHouse: embedded chdb directory by default, any server by URL."""

    name = "target-clickhouse"
    default_sink_class = ClickHouseSink
    message_reader_class = ChunkedMessageReader
    # Record validation is done by the column converters, so VALIDATE_RECORDS is not offered.
    capabilities: t.ClassVar = [
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]
    DEFAULT_BATCH_SIZE_ROWS = 20_000
    DEFAULT_BATCH_SIZE_BYTES = 64 * 1024 * 1024

    config_jsonschema = th.PropertiesList(
        th.Property(
            "url",
            th.StringType,
            description=(
                "Where ClickHouse is: `chdb:///abs/dir` opens an embedded ClickHouse (chdb) in that "
                "directory (one process at a time); `http://[user:pass@]host:8123` or `https://…:8443` "
                "reaches a server or ClickHouse Cloud. Default: `chdb://` + the absolute path of "
                "`./data/clickhouse` under the current working directory."
            ),
        ),
        th.Property("username", th.StringType, description="ClickHouse user (overrides one in `url`)."),
        th.Property(
            "password",
            th.StringType,
            secret=True,
            description="ClickHouse password (overrides one in `url`). Never logged.",
        ),
        th.Property(
            "database",
            th.StringType,
            default="zakaz",
            description="Database to load into; created if missing.",
        ),
        th.Property(
            "table_name_pattern",
            th.StringType,
            default="stg_qtickets_{stream}_raw",
            description="Table name per stream; `{stream}` is replaced by the stream name.",
        ),
        th.Property(
            "batch_size_rows",
            th.IntegerType,
            default=DEFAULT_BATCH_SIZE_ROWS,
            description="Insert a stream's rows once this many are buffered (bounds memory).",
        ),
        th.Property(
            "batch_size_bytes",
            th.IntegerType,
            default=DEFAULT_BATCH_SIZE_BYTES,
            description="Insert a stream's rows once their estimated size reaches this many bytes.",
        ),
        th.Property(
            "insert_retries",
            th.IntegerType,
            default=3,
            description=(
                "Retries (exponential backoff) of a failed insert on network errors and transient server "
                "errors; retried blocks carry the same versions and deduplication token."
            ),
        ),
        th.Property(
            "flush_interval_seconds",
            th.NumberType,
            default=300,
            description=(
                "Insert every buffered row and emit the latest STATE at least this often (seconds), "
                "so a long run checkpoints its progress."
            ),
        ),
        th.Property(
            "engine",
            th.StringType,
            default="ReplacingMergeTree",
            allowed_values=["ReplacingMergeTree", "MergeTree"],
            description=(
                "Table engine for streams with key properties: `ReplacingMergeTree(_sdc_version)` keeps the "
                "latest row per key; `MergeTree` keeps every row. Streams without keys always use MergeTree."
            ),
        ),
        th.Property(
            "partition_by",
            th.StringType,
            description="Optional PARTITION BY expression for new tables, e.g. `toYYYYMM(created_at)`.",
        ),
        th.Property(
            "table_settings",
            th.ObjectType(additional_properties=True),
            default=DEFAULT_TABLE_SETTINGS,
            description=(
                "SETTINGS for new tables. The default `non_replicated_deduplication_window: 1000` makes a "
                "retried insert a no-op on non-replicated tables."
            ),
        ),
        th.Property(
            "json_as",
            th.StringType,
            default="String",
            allowed_values=["String", "JSON"],
            description=(
                "Column type for object properties: `String` holds the JSON text, `JSON` uses ClickHouse's "
                "JSON type. Arrays are always stored as JSON text."
            ),
        ),
    ).to_dict()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._client: Client | None = None
        self._direct_sinks: dict[str, ClickHouseSink] = {}
        self.versions = VersionSequence()
        self.max_parallelism = 1  # sinks share one client; inserts run one at a time
        interval = float(self.config.get("flush_interval_seconds") or 300)
        self._MAX_RECORD_AGE_IN_MINUTES = interval / 60
        self._age_check_period = min(0.25, interval / 4)
        self._next_age_check = 0.0
        if isinstance(self.message_reader, ChunkedMessageReader):
            self.message_reader.record_handler = self._process_raw_record
        pattern = self.config.get("table_name_pattern") or "stg_qtickets_{stream}_raw"
        if "{stream}" not in pattern:
            raise ConfigError(f"setting 'table_name_pattern': {pattern!r} must contain '{{stream}}'")
        self._table_pattern = pattern
        self.database = validate_identifier(self.config.get("database") or "zakaz", "setting 'database'")
        for name, minimum in (("batch_size_rows", 1), ("batch_size_bytes", 1), ("insert_retries", 0)):
            value = self.config.get(name)
            if value is not None and (not isinstance(value, int) or value < minimum):
                raise ConfigError(f"setting '{name}': {value!r} must be an integer >= {minimum}")
        if interval <= 0:
            raise ConfigError(f"setting 'flush_interval_seconds': {interval!r} must be > 0")

    @classmethod
    def append_builtin_config(cls, config_jsonschema: dict) -> None:
        # Skip the Target-level built-ins (add_record_metadata, load_method, validate_records,
        # batch_size_rows): metadata columns are always written, loads are upserts by key, and
        # batch_size_rows is declared above. Plugin-level ones (stream maps, flattening) stay.
        PluginBase.append_builtin_config.__func__(cls, config_jsonschema)  # type: ignore[attr-defined]

    @cached_property
    def table_settings(self) -> dict:
        settings = self.config.get("table_settings")
        return dict(DEFAULT_TABLE_SETTINGS if settings is None else settings)

    def table_name_for(self, stream_name: str) -> str:
        name = self._table_pattern.replace("{stream}", stream_name)
        return validate_identifier(name, f"stream '{stream_name}' table")

    @property
    def client(self) -> Client:
        if self._client is None:
            url = self.config.get("url") or default_url()
            self.logger.info("Opening ClickHouse at %s (database %s)", redact_url(url), self.database)
            self._client = open_client(
                url,
                username=self.config.get("username"),
                password=self.config.get("password"),
                database=self.database,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def get_sink(self, stream_name: str, *, record=None, schema=None, key_properties=None):
        # A changed schema may ALTER the table: insert the old sink's rows first, in their old types.
        existing = self._sinks_active.get(stream_name)
        if (
            existing is not None
            and schema is not None
            and existing.current_size
            and (existing.original_schema != schema or existing.key_properties != key_properties)
        ):
            self.drain_one(existing)
        return super().get_sink(stream_name, record=record, schema=schema, key_properties=key_properties)

    def _process_schema_message(self, message_dict: dict) -> None:
        self._direct_sinks.clear()
        super()._process_schema_message(message_dict)

    def _direct_sink(self, stream_name: str) -> ClickHouseSink | None:
        """The sink for a stream whose only stream map is the unflattened identity, else None."""
        maps = self.mapper.stream_maps.get(stream_name)
        if not maps or len(maps) != 1:
            return None
        stream_map = maps[0]
        if type(stream_map) is not SameRecordTransform or stream_map.flattening_enabled:
            return None
        if stream_map.stream_alias != stream_name:
            return None
        return t.cast("ClickHouseSink | None", self._sinks_active.get(stream_name))

    def _process_record_message(self, message_dict: dict) -> None:
        # The SDK's generic path (record copy, map transform, metadata, validation) costs more per
        # record than converting and inserting it. For identity-mapped streams do the same steps
        # directly; stream maps and flattening keep the SDK path.
        sink = self._direct_sinks.get(message_dict.get("stream"))  # type: ignore[arg-type]
        record = message_dict.get("record")
        if sink is None or record.__class__ is not dict:
            self._process_record_other(message_dict)
            return
        self._after_direct_record(sink, sink.add_direct(record, message_dict.get("time_extracted")))

    def _process_raw_record(self, stream_name: object, raw: t.Any, time_extracted: object) -> bool:
        """The reader's RECORD fast path (record still raw JSON); False → send the message the SDK way."""
        sink = self._direct_sinks.get(stream_name) if stream_name.__class__ is str else None
        if sink is None:
            return False
        full = sink.add_raw(raw, time_extracted)
        if full is None:
            return False
        self._after_direct_record(sink, full)
        return True

    def _after_direct_record(self, sink: ClickHouseSink, full: bool) -> None:
        if full:
            self.logger.info("Sink '%s' is full (%d rows); inserting", sink.stream_name, sink.current_size)
            self.drain_one(sink)
        if _monotonic() >= self._next_age_check:  # flush_interval_seconds, checked a few times a second
            self._next_age_check = _monotonic() + self._age_check_period
            self._handle_max_record_age()

    def _process_record_other(self, message_dict: dict) -> None:
        """First record of a stream (finds out whether the fast path applies), or the SDK path."""
        stream_name = message_dict.get("stream")
        sink = self._direct_sinks.get(stream_name) or self._direct_sink(stream_name)  # type: ignore[arg-type]
        record = message_dict.get("record")
        if sink is None or record.__class__ is not dict:
            super()._process_record_message(message_dict)
            return
        self._direct_sinks[stream_name] = sink  # type: ignore[index]
        self._process_record_message(message_dict)

    def process_endofpipe(self) -> None:
        try:
            super().process_endofpipe()
        finally:
            self.close()

    @classmethod
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        if "pandas" not in sys.modules:
            # clickhouse-connect checks every insert for a DataFrame, which imports pandas (~1.5 s).
            # This CLI process never inserts DataFrames, so resolve that lazy option to "absent".
            ch_options.pd = None
        try:
            super().invoke(*args, **kwargs)
        except TargetClickHouseError as exc:
            cls.logger.error("target-clickhouse failed: %s", exc)
            sys.exit(1)


if __name__ == "__main__":
    TargetClickHouse.cli()  # `python -m target_clickhouse` (cli.main) also skips unused heavy imports
