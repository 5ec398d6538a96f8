"""The one place tap-qtickets touches singer-sdk internals: the per-record write path.

For every record the SDK walks the deselection mask, calls the conformer, runs the stream-map loop and
builds a RecordMessage object (`Stream._write_record_message`). When all of that is a no-op — no stream
maps, no flattening, every property selected, records already conformed by our compiled normaliser — the
record is written straight into the batched msgspec writer instead: about a fifth of the tap's CPU per
record. Anything else takes the SDK's own path.

The override relies on private names of singer-sdk (`Stream._write_record_message`, `Stream._tap`,
`Stream._stream_version`), so it is pinned: on an SDK outside `SUPPORTED_SDK` the fast path stays off (the
SDK's path is always correct), and a test fails loudly so that someone re-reads the SDK's
`_write_record_message` and moves the range.
"""

from __future__ import annotations

import datetime as dt
from functools import cached_property
from importlib.metadata import version

from packaging.specifiers import SpecifierSet
from singer_sdk import singerlib as singer
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.streams import RESTStream

from tap_qtickets.writer import BufferedMsgSpecWriter

SUPPORTED_SDK = SpecifierSet(">=0.54.9,<0.55")
PRIVATE_NAMES = ("_write_record_message", "_tap", "_stream_version")  # what this module relies on
ENABLED = version("singer-sdk") in SUPPORTED_SDK


class FastRecordWrites(RESTStream):
    """Mixin for the tap's streams: RECORD messages written directly when the SDK's passes are no-ops."""

    @cached_property
    def plain_record_messages(self) -> bool:
        """No stream maps, no flattening, every property selected: records go out exactly as built."""
        maps = self.stream_maps
        # Deselected properties need no SDK pass either: the stream's normaliser is compiled from the
        # selected schema, so records hold nothing else.
        return (ENABLED and len(maps) == 1 and type(maps[0]) is SameRecordTransform
                and not maps[0].flattening_enabled and maps[0].stream_alias == self.name)

    def _write_record_message(self, record: dict) -> None:
        if not self.plain_record_messages:
            super()._write_record_message(record)
            return
        writer = self._tap.message_writer
        now = dt.datetime.now(dt.UTC)
        if isinstance(writer, BufferedMsgSpecWriter):
            writer.write_record(self.name, record, self._stream_version, now)
        else:
            self._tap.write_message(singer.RecordMessage(
                stream=self.name, record=record, version=self._stream_version, time_extracted=now))
        self.state_manager.is_flushed = False
