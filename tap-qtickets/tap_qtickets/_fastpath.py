"""The one place tap-qtickets touches singer-sdk internals: the per-record write path, and the sync's
report around the SDK's `Tap.sync_all` (declared final: the SDK offers no hook before the first or after
the last stream).

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
import logging
import typing as t
from functools import cached_property
from importlib.metadata import version

from packaging.specifiers import SpecifierSet
from singer_sdk import singerlib as singer
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.streams import RESTStream
from singer_sdk.tap_base import Tap

from tap_qtickets.errors import QTicketsError
from tap_qtickets.sync_report import COMPLETE, FAILED, FULL, INCREMENTAL, SYNC_KEY
from tap_qtickets.writer import BufferedMsgSpecWriter

if t.TYPE_CHECKING:
    from tap_qtickets.orders import OrdersStream
    from tap_qtickets.shared import RunShared

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


class _UnsortedNotice(logging.Filter):
    """The SDK warns on every sync of a stream declared unsorted (orders) that its progress is not
    resumable. By design here: the orders bookmark is committed once, after the load (sync_report.py)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Stream is assumed to be unsorted")


logging.getLogger("singer_sdk").addFilter(_UnsortedNotice())


class ReportedSync(Tap):
    """Mixin for the tap: the SDK's sync between two STATE messages that report it (sync_report.py),
    `running` first, then `complete` or `failed` with the cause."""

    shared: RunShared

    def sync_all(self) -> None:  # type: ignore[misc]  # final in the SDK: see the module docstring
        report = self.shared.sync
        state = t.cast("dict[str, t.Any]", self.state)
        state.pop(SYNC_KEY, None)  # the previous sync's report
        orders = self.streams.get("orders")
        resumes = orders is not None and orders.get_context_state(None).get("replication_key_value")
        report.mode = INCREMENTAL if resumes else FULL
        if orders is not None and (orders.selected or orders.has_selected_descendents):
            window = t.cast("OrdersStream", orders).describe_window()
            logging.getLogger("tap_qtickets.sync").info("sync started (%s): %s", report.mode, window,
                             extra={"window_start": report.window_start, "window_end": report.window_end,
                                    "mode": report.mode})
        self.write_sync_report()
        try:
            super().sync_all()
        except Exception as exc:
            report.finish(FAILED, describe_failure(exc))
            self.write_sync_report()
            raise
        report.finish(COMPLETE)
        self.write_sync_report()

    def write_sync_report(self) -> None:
        state = t.cast("dict[str, t.Any]", self.state)
        state[SYNC_KEY] = self.shared.sync.as_dict()
        self.write_message(singer.StateMessage(value=state))


def describe_failure(exc: BaseException) -> str:
    """The cause of a failed sync in one line: our own errors say it already (never the token)."""
    if isinstance(exc, QTicketsError):
        return f"tap-qtickets failed: {exc}"
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"tap-qtickets failed: {type(exc).__name__}: {first}"[:500]
