"""The one place tap-qtickets touches singer-sdk internals: the page loop, the per-record write path, and
the sync's report around the SDK's `Tap.sync_all` (declared final: the SDK offers no hook before the first
or after the last stream).

- `PrefetchedPages.request_records` is the SDK's page loop (`RESTStream.request_records`: its own
  `_prepare_request` and `_request`, the request counter, `update_sync_costs`), except that page n+1 is
  requested in a worker thread as soon as page n's answer is in, while page n's records are processed and
  written: the API's latency and the processing overlap (the next page's token depends only on the answer).
  Where no token depends on an answer (one request per show: seats, barcodes), two requests are kept in
  flight.
  `send_now` sends one request the same way outside the loop (a request sent ahead of its read).
- For every record the SDK walks the deselection mask, calls the conformer, runs the stream-map loop and
  builds a RecordMessage object (`Stream._write_record_message`). When all of that is a no-op — no stream
  maps, no flattening, every property selected, records already conformed by our compiled normaliser — the
  record is written straight into the batched msgspec writer instead: about a fifth of the tap's CPU per
  record. Anything else takes the SDK's own path.
- Such streams also skip the SDK's per-record loop (`Stream._sync_records`: a record-limit check, the
  children dispatch, the bookmark advanced after each record, a counter tick) when it has nothing to do
  there (`lean_sync`): the same records, children, STATE messages and bookmark, the orders' unsorted one
  advanced with the greatest value before each STATE message. A stream may write its records as
  (item, tail) pairs (`joined_rows`: the sales, whose order's fields are encoded once per order).

All rely on private names of singer-sdk (`PRIVATE_NAMES`), so they are pinned: on an SDK outside
`SUPPORTED_SDK` the SDK's own loop and record path are used (always correct), and a test fails loudly so
that someone re-reads the SDK's `request_records`, `_sync_records` and `_write_record_message` and moves
the range.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import typing as t
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cached_property
from importlib.metadata import version

from packaging.specifiers import SpecifierSet
from singer_sdk import singerlib as singer
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.pagination import SinglePagePaginator
from singer_sdk.singerlib.catalog import REPLICATION_FULL_TABLE, REPLICATION_INCREMENTAL
from singer_sdk.streams import RESTStream
from singer_sdk.tap_base import Tap

from tap_qtickets.errors import QTicketsError
from tap_qtickets.pagination import IndependentPages
from tap_qtickets.schemas import ACCOUNT
from tap_qtickets.sync_report import COMPLETE, FAILED, FULL, INCREMENTAL, SYNC_KEY
from tap_qtickets.writer import BufferedMsgSpecWriter

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context

    from tap_qtickets.orders import OrdersStream
    from tap_qtickets.shared import RunShared

SUPPORTED_SDK = SpecifierSet(">=0.54.9,<0.55")
# What this module relies on (tests/test_sdk_internals.py keeps every other module off SDK internals).
PRIVATE_NAMES = ("_write_record_message", "_tap", "_stream_version", "_prepare_request", "_request",
                 "_sync_records", "_get_state_partition_context", "_write_starting_replication_value",
                 "_finalize_state", "_write_state_message", "_increment_stream_state", "_sync_children")
ENABLED = version("singer-sdk") in SUPPORTED_SDK
REQUESTS_IN_FLIGHT = 2


class PrefetchedPages(RESTStream):
    """Mixin for the tap's streams: the SDK's page loop with the next page requested ahead."""

    def request_records(self, context: Context | None) -> t.Iterable[dict]:
        if not ENABLED:
            yield from super().request_records(context)
            return
        paginator = self.get_new_paginator() or SinglePagePaginator()
        request = self.request_decorator(self._request)
        # Pages whose tokens do not depend on an answer (one request per show) keep two requests in
        # flight, the most the API reference suggests (§13); a keyset page waits for the previous answer.
        depth = REQUESTS_IN_FLIGHT if isinstance(paginator, IndependentPages) else 1
        with (self.get_http_request_counter() as request_counter,
              ThreadPoolExecutor(depth, thread_name_prefix=f"{self.name}-pages") as ahead):
            request_counter.with_context(context)
            in_flight: deque[tuple[requests.PreparedRequest, Future]] = deque()

            def send() -> None:
                # Prepared here, on the consumer's thread: building a request reads the stream's state.
                prepared = self._prepare_request(context=context, page=paginator)
                in_flight.append((prepared, ahead.submit(request, prepared, context)))

            send()
            while in_flight:
                if depth > 1:
                    while len(in_flight) < depth and not paginator.finished:
                        paginator.advance(None)  # type: ignore[arg-type]  # IndependentPages ignore it
                        if not paginator.finished:
                            send()
                prepared, pending = in_flight.popleft()
                response = pending.result()
                request_counter.increment()
                self.update_sync_costs(prepared, response, context)
                if depth == 1:
                    # The SDK stops at a page without records; the tap's paginators stop at an empty or
                    # short page themselves, so a page whose rows were all filtered out does not end the read.
                    paginator.advance(response)
                    if not paginator.finished:
                        send()
                yield from self.parse_response(response)

    def send_now(self, prepared: requests.PreparedRequest, context: Context | None) -> requests.Response:
        """One request outside the page loop (the SDK's `_request`, with its retries): for a request a
        stream sends ahead of the read that uses its answer."""
        return self.request_decorator(self._request)(prepared, context)


class FastRecordWrites(RESTStream):
    """Mixin for the tap's streams: RECORD messages written directly when the SDK's passes are no-ops."""

    joined_rows = False  # whether `lean_records` yields (item, tail) pairs

    @cached_property
    def plain_record_messages(self) -> bool:
        """No stream maps, no flattening, every property selected: records go out exactly as built."""
        maps = self.stream_maps
        # Deselected properties need no SDK pass either: the stream's normaliser is compiled from the
        # selected schema, so records hold nothing else.
        return (ENABLED and len(maps) == 1 and type(maps[0]) is SameRecordTransform
                and not maps[0].flattening_enabled and maps[0].stream_alias == self.name)

    def lean_sync(self, context: Context | None, write_messages: bool) -> bool:
        """Whether the SDK's loop would do nothing per record that `_sync_records` below leaves out: plain
        records written, no partitions, no record limit, and either no replication key or an unsorted one
        (whose bookmark is the greatest value seen: a sort check is per record)."""
        partitions = context is not None or not self.partitions
        bookmark = self.replication_method == REPLICATION_FULL_TABLE or (
            self.replication_method == REPLICATION_INCREMENTAL and not self.is_sorted)
        return (self.plain_record_messages and write_messages and self.selected and partitions and bookmark
                and not self.state_partitioning_keys and self.ABORT_AT_RECORD_COUNT is None
                and isinstance(self._tap.message_writer, BufferedMsgSpecWriter))

    def _sync_records(self, context: Context | None = None, *,
                      write_messages: bool = True) -> t.Generator[dict, t.Any, t.Any]:
        """The SDK's loop (`Stream._sync_records`) for a stream whose records need no SDK pass: the same
        records, children, STATE messages and final state, without its per-record steps that do nothing
        here. An unsorted bookmark is advanced with the greatest value seen before each STATE message
        instead of after each record (the SDK keeps the greatest). Any other stream or sync takes the SDK's
        own loop."""
        if not self.lean_sync(context, write_messages):
            yield from super()._sync_records(context, write_messages=write_messages)
            return
        record_counter, timer = self.get_record_counter(), self.get_sync_timer()
        key = self.replication_key if self.replication_method == REPLICATION_INCREMENTAL else None
        with record_counter, timer:
            record_counter.with_context(context)
            timer.with_context(context)
            state_partition_context = self._get_state_partition_context(context)
            self._write_starting_replication_value(context)
            child_context = None if context is None else copy.copy(context)
            children = bool(self.child_streams)
            write = self.record_writer()
            newest: t.Any = None
            written = 0
            for record in self.lean_records(context):
                row = self.post_process(record, context)
                if row is None:
                    continue
                if children:
                    for child in self.generate_child_contexts(row, child_context):
                        self._sync_children(copy.copy(child))
                write(row)
                written += 1
                self.records_written += 1  # type: ignore[attr-defined]  # QTicketsStream's (progress lines)
                if key is not None:
                    value = row[key]
                    if value is None:
                        self._increment_stream_state(row, context=context)  # the SDK's warning
                    elif newest is None or value >= newest:
                        newest = value
                if written % self.STATE_MSG_FREQUENCY == 0:
                    record_counter.increment(self.STATE_MSG_FREQUENCY)  # its periodic log line, if due
                    self._advance(key, newest, context)
                    self._write_state_message()
                yield row
            self._advance(key, newest, context)
            record_counter.value += written % self.STATE_MSG_FREQUENCY  # logged as the counter closes
            if context == state_partition_context:
                self._finalize_state(self.get_context_state(context))
        if not context:
            self._finalize_state(self.stream_state)
        self._write_state_message()

    def _advance(self, key: str | None, newest: t.Any, context: Context | None) -> None:
        self.state_manager.is_flushed = False
        if key is not None and newest is not None:
            self._increment_stream_state({key: newest}, context=context)

    def lean_records(self, context: Context | None) -> t.Iterable[t.Any]:
        """The records `_sync_records` writes: `get_records`'s, unless the stream yields, with
        `joined_rows`, (item, tail) pairs for `BufferedMsgSpecWriter.write_joined` (`account` among the
        tail's fields)."""
        return self.get_records(context)

    def record_writer(self) -> t.Callable[[t.Any], None]:
        """Writes one finished record into the batched msgspec writer (`lean_sync` streams)."""
        account, name, version = self.account, self.name, self._stream_version  # type: ignore[attr-defined]
        writer = t.cast("BufferedMsgSpecWriter", self._tap.message_writer)
        write_record, write_joined = writer.write_record, writer.write_joined

        def write(record: dict) -> None:
            record[ACCOUNT] = account
            write_record(name, record, version)

        def write_pair(pair: tuple[t.Any, bytes]) -> None:
            write_joined(name, pair[0], pair[1], version)

        return write_pair if self.joined_rows else write

    def _write_record_message(self, record: dict) -> None:
        record[ACCOUNT] = self.account  # type: ignore[attr-defined]  # QTicketsStream's
        self.records_written += 1  # type: ignore[attr-defined]
        if not self.plain_record_messages:
            super()._write_record_message(record)
            return
        writer = self._tap.message_writer
        if isinstance(writer, BufferedMsgSpecWriter):
            writer.write_record(self.name, record, self._stream_version)
        else:
            self._tap.write_message(singer.RecordMessage(stream=self.name, record=record,
                                                         version=self._stream_version,
                                                         time_extracted=dt.datetime.now(dt.UTC)))
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
        self.shared.progress.streams = [s for s in self.streams.values()  # type: ignore[misc]
                                        if s.selected or s.has_selected_descendents]
        try:
            super().sync_all()
        except Exception as exc:
            report.finish(FAILED, describe_failure(exc))
            self.write_sync_report()
            raise
        report.finish(COMPLETE)
        self.shared.progress.summarise(report.requests)
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
