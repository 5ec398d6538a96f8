"""RECORD messages → sinks: the target's record path, through public singer-sdk APIs only.

The SDK's own RECORD handling copies, maps, annotates, validates and tallies every record, and calls
several hooks per record: that costs more than converting and inserting it. The target's reader
(`ChunkedMessageReader`) hands every RECORD to this router instead, which does the same job:

* a stream whose only stream map is the unflattened identity (no `stream_maps`, no flattening: the
  usual case) goes straight to its sink: `add_raw` while the record is still raw JSON, else
  `add_record` with the decoded dict;
* any other stream takes each of its maps (`stream_map.transform`) and the aliased sinks;
* a record before its schema → the SDK's `RecordsWithoutSchemaException`, a record without a key
  property → `MissingKeyError` (an SDK `MissingKeyPropertiesError`), both when the record is read;
* a full sink is drained at once (`Target.drain_one`), and every sink (then the latest STATE) at least
  every `flush_interval_seconds` (`Target.drain_all`).

It mirrors the SDK Target's own RECORD handling in singer-sdk `SUPPORTED_SINGER_SDK`; a test pins that
range, so an SDK upgrade gets this module re-checked.
"""

from __future__ import annotations

import copy
import typing as t
from time import monotonic as _monotonic

import msgspec
from singer_sdk.exceptions import RecordsWithoutSchemaException
from singer_sdk.mapper import SameRecordTransform, StreamMap

from target_clickhouse.errors import InvalidRecordError
from target_clickhouse.sink import ClickHouseSink

if t.TYPE_CHECKING:
    from singer_sdk.target_base import Target

SUPPORTED_SINGER_SDK = ">=0.54.9,<0.55"


def _without_schema(stream: object) -> RecordsWithoutSchemaException:
    return RecordsWithoutSchemaException(
        f"A record for stream '{stream}' was encountered before a corresponding schema. Check that the "
        "Tap correctly implements the Singer spec."
    )


def _is_identity(stream_name: str, maps: list[StreamMap]) -> bool:
    if len(maps) != 1:
        return False
    stream_map = maps[0]
    return (
        type(stream_map) is SameRecordTransform
        and not stream_map.flattening_enabled
        and stream_map.stream_alias == stream_name
    )


class RecordRouter:
    """Routes RECORD messages to the target's sinks (see the module docstring)."""

    def __init__(self, target: Target, flush_interval_seconds: float) -> None:
        self.target = target
        self.flush_interval_seconds = flush_interval_seconds
        self._flush_due = _monotonic() + flush_interval_seconds
        self._direct: dict[object, ClickHouseSink] = {}  # identity-mapped streams → their sink

    def forget_sinks(self) -> None:
        """Called when sinks or stream maps change (a SCHEMA message)."""
        self._direct.clear()

    def take_raw(self, stream_name: object, raw: msgspec.Raw, time_extracted: object) -> bool:
        """A RECORD whose record is still raw JSON; False → the caller decodes it and calls
        `take_message` (a stream's first record, stream maps, odd records)."""
        sink = self._direct.get(stream_name) if stream_name.__class__ is str else None
        if sink is None:
            return False
        full = sink.add_raw(raw, time_extracted)
        if full is None:
            return False
        if full:
            self._drain(sink)
        if _monotonic() >= self._flush_due:  # `_check_flush` inlined: this runs once per record
            self.flush()
        return True

    def take_message(self, message: dict[str, t.Any]) -> None:
        """A decoded RECORD message."""
        stream_name, record = message.get("stream"), message.get("record")
        sink = self._direct.get(stream_name) if stream_name.__class__ is str else None
        if sink is None or record.__class__ is not dict:
            self._take_other(message)
        elif sink.add_record(record, message.get("time_extracted")):
            self._drain(sink)
        self._check_flush()

    def flush(self) -> None:
        """Insert every buffered row and emit the latest STATE; restarts the flush interval."""
        self.target.drain_all()
        self._flush_due = _monotonic() + self.flush_interval_seconds

    def _check_flush(self) -> None:
        if _monotonic() >= self._flush_due:
            self.flush()

    def _drain(self, sink: ClickHouseSink) -> None:
        self.target.logger.info("Sink '%s' is full (%d rows); inserting", sink.stream_name, sink.current_size)
        self.target.drain_one(sink)

    def _take_other(self, message: dict[str, t.Any]) -> None:
        """A stream's first record (finds out whether the direct path applies), or the mapped path."""
        self.target.message_reader.assert_line_requires(message, requires={"stream", "record"})
        stream_name, record = message["stream"], message["record"]
        if stream_name.__class__ is not str:
            raise InvalidRecordError(f"a RECORD message's stream is not a string: {stream_name!r:.200}")
        maps = self.target.mapper.stream_maps.get(stream_name)
        if maps is None:
            raise _without_schema(stream_name)
        if record.__class__ is not dict:
            raise InvalidRecordError(
                f"stream '{stream_name}': the record is not a JSON object: {record!r:.200}"
            )
        time_extracted = message.get("time_extracted")
        if _is_identity(stream_name, maps):
            sink = self._sink(stream_name, record)
            self._direct[stream_name] = sink
            if sink.add_record(record, time_extracted):
                self._drain(sink)
            return
        for stream_map in maps:
            transformed = stream_map.transform(copy.copy(record))
            if transformed is None:  # filtered out by the map
                continue
            sink = self._sink(stream_map.stream_alias, transformed)
            if sink.add_record(transformed, time_extracted):
                self._drain(sink)

    def _sink(self, stream_name: str, record: dict) -> ClickHouseSink:
        if not self.target.sink_exists(stream_name):
            raise _without_schema(stream_name)
        sink = self.target.get_sink(stream_name, record=record)
        if not isinstance(sink, ClickHouseSink):
            raise TypeError(f"stream '{stream_name}': expected a ClickHouseSink, got {type(sink).__name__}")
        return sink
