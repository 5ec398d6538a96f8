"""TargetClickHouse: settings, the connector, the record path, and the CLI entry point."""

from __future__ import annotations

import signal
import sys
import typing as t
from collections.abc import Sequence

from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import PluginCapabilities
from singer_sdk.sinks import Sink
from singer_sdk.target_base import Target

from target_clickhouse import defaults
from target_clickhouse.connector import ClickHouseConnector
from target_clickhouse.errors import ConfigError, TargetClickHouseError
from target_clickhouse.load_run import Interrupted, LoadRun, was_recorded
from target_clickhouse.reader import ChunkedMessageReader
from target_clickhouse.router import RecordRouter
from target_clickhouse.settings import SETTINGS, UNSUPPORTED_BUILTIN_SETTINGS
from target_clickhouse.sink import ClickHouseSink


class InvalidSettingsError(ConfigError, ConfigValidationError):
    """The settings fail their JSON schema; the message lists each error (setting and value)."""

    def __init__(self, errors: list[str], schema: dict | None) -> None:
        super().__init__("invalid settings: " + "; ".join(errors), errors=errors, schema=schema)


class TargetClickHouse(Target):
    """Singer target for ClickHouse: embedded chdb directory by default, any server by URL."""

    name = "target-clickhouse"
    default_sink_class = ClickHouseSink
    message_reader_class = ChunkedMessageReader
    # Record validation is done by the row encoder (rows.py), so VALIDATE_RECORDS is not offered.
    capabilities: t.ClassVar = [
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]
    config_jsonschema = SETTINGS
    run_as_cli = False  # set by `invoke`: only the CLI process takes over the signal handlers

    def __init__(self, **kwargs: t.Any) -> None:
        try:
            super().__init__(**kwargs)
        except ConfigValidationError as exc:
            raise InvalidSettingsError(exc.errors, exc.schema) from None
        self.connector = ClickHouseConnector(self.config)  # one per target, shared by its sinks
        self.load = LoadRun(self.connector, self.config, secrets=[self.config.get("password") or ""])
        self.max_parallelism = 1  # sinks share one client; inserts run one at a time
        if self.run_as_cli:
            # A signal ends the load uncommitted and recorded as failed (the SDK's handler would drain the
            # sinks and emit the latest STATE, advancing the bookmark of a load that did not finish).
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, _interrupt)
        interval = self.config.get("flush_interval_seconds")
        self.record_router = RecordRouter(
            self, float(defaults.DEFAULT_FLUSH_INTERVAL_SECONDS if interval is None else interval)
        )
        if isinstance(self.message_reader, ChunkedMessageReader):  # else the SDK's record path
            self.message_reader.records = self.record_router
            self.message_reader.load = self.load

    @classmethod
    def append_builtin_config(cls, config_jsonschema: dict) -> None:
        # Plugin-level built-ins (stream maps, flattening) stay; batch_size_rows is declared in
        # SETTINGS; the Target-level ones this target does not offer are taken out again.
        declared = set(config_jsonschema["properties"])
        super().append_builtin_config(config_jsonschema)
        for name in UNSUPPORTED_BUILTIN_SETTINGS:
            if name not in declared:
                config_jsonschema["properties"].pop(name, None)

    def get_sink(
        self,
        stream_name: str,
        *,
        record: dict | None = None,
        schema: dict | None = None,
        key_properties: Sequence[str] | None = None,
    ) -> Sink:
        self.load.begin()  # a tap that sends no STATE first: its first SCHEMA starts the load
        if schema is not None:  # a SCHEMA message: sinks may be replaced
            self.record_router.forget_sinks()
            # A changed schema may ALTER the table: insert the old sink's rows first, in their old types.
            if self.sink_exists(stream_name):
                existing = super().get_sink(stream_name)
                changed = existing.original_schema != schema or existing.key_properties != key_properties
                if changed and existing.current_size:
                    self.drain_one(existing)
        return super().get_sink(stream_name, record=record, schema=schema, key_properties=key_properties)

    def close(self) -> None:
        """Close the connector's client (with embedded ClickHouse: release the directory)."""
        self.connector.close()

    def process_endofpipe(self) -> None:
        """Insert what is buffered, then commit the load (load_run.py): after-load hook, ledger, STATE."""
        try:
            super().process_endofpipe()
            self.load.commit()
        except BaseException as exc:
            self.load.abort(exc)
            raise
        finally:
            self.close()


    @classmethod
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        cls.run_as_cli = True
        try:
            super().invoke(*args, **kwargs)
        except Interrupted:
            raise
        except Exception as exc:
            if not was_recorded(exc):  # else the load's own failure line said it
                shown = exc if isinstance(exc, TargetClickHouseError) else f"{type(exc).__name__}: {exc}"
                cls.logger.error("target-clickhouse failed: %s", shown)
            sys.exit(1)


def _interrupt(signum: int, frame: object) -> None:
    raise Interrupted(signum)


if __name__ == "__main__":
    TargetClickHouse.cli()  # `python -m target_clickhouse` (cli.main) also skips unused heavy imports
