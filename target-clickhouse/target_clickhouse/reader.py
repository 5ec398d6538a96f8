"""Reads Singer messages from stdin in chunks, with a decode-once fast path for RECORD messages.

The SDK reader iterates the text stream line by line and decodes every message into a dict. This one
reads whatever the pipe has (up to `CHUNK_BYTES`, without waiting for more) and splits it into lines.
A line is first decoded into `_Head` (type, stream, time_extracted, and the record left undecoded as
raw JSON); with a `records` consumer (the target's `RecordRouter`), a RECORD is offered to it as raw
JSON, so the sink decodes it straight into its columns. Every other line — SCHEMA, STATE,
ACTIVATE_VERSION, BATCH, records the consumer declines (stream maps, a stream's first record, odd
records), and lines that do not decode — is decoded by `deserialize_json` (its errors, e.g.
`InvalidInputLine`) and dispatched in input order: RECORD messages to `records.take_message`, the
rest to the SDK callbacks. Text streams (no `read1`, e.g. `io.StringIO` given to `listen()`) use the
SDK's line reader with the same dispatch.
"""

from __future__ import annotations

import sys
import typing as t
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecReader

CHUNK_BYTES = 1 << 20

Callback = Callable[[dict], None]


class RecordConsumer(t.Protocol):
    """Takes RECORD messages in place of the SDK's RECORD callback (`router.RecordRouter`)."""

    def take_raw(self, stream_name: object, raw: msgspec.Raw, time_extracted: object) -> bool:
        """A record still as raw JSON; False when declined (then `take_message` gets it decoded)."""
        ...

    def take_message(self, message: dict[str, t.Any]) -> None: ...


class LoadConsumer(t.Protocol):
    """The target's current load (`load_run.LoadRun`): takes the value of every STATE message in place of
    the SDK's STATE callback (it emits the state itself, once, when the load is committed), and hears of
    whatever ends the reading early (an error, a signal)."""

    def take_state(self, state: t.Any) -> None: ...

    def abort(self, exc: BaseException) -> None: ...


class _Head(msgspec.Struct, gc=False):
    type: t.Any
    stream: t.Any = None
    record: msgspec.Raw = msgspec.Raw()  # empty when absent
    time_extracted: t.Any = None


_head_decoder = msgspec.json.Decoder(_Head)


class ChunkedMessageReader(MsgSpecReader):
    """Singer message reader for byte streams: chunked reads, RECORD lines decoded once."""

    chunk_bytes = CHUNK_BYTES
    records: RecordConsumer | None = None
    load: LoadConsumer | None = None

    def process_lines(self, file_input: t.IO[t.Any] | None, callbacks: dict[str, Callback]) -> t.Counter[str]:
        records = self.records
        if records is not None:
            callbacks = {**callbacks, "RECORD": records.take_message}
        load = self.load
        if load is not None:

            def take_state(message: dict) -> None:
                self.assert_line_requires(message, requires={"value"})
                load.take_state(message["value"])

            callbacks = {**callbacks, "STATE": take_state}
        try:
            return self._process(file_input, callbacks, records)
        except BaseException as exc:
            if load is not None:
                load.abort(exc)
            raise

    def _process(self, file_input: t.IO[t.Any] | None, callbacks: dict[str, Callback],
                 records: RecordConsumer | None) -> t.Counter[str]:
        source = file_input if file_input is not None else getattr(sys.stdin, "buffer", sys.stdin)
        read1 = getattr(source, "read1", None)
        if read1 is None:
            return super().process_lines(source, callbacks)
        stats: dict[str, int] = defaultdict(int)
        handled = 0  # RECORD messages taken as raw JSON
        take_raw = records.take_raw if records is not None else None
        head_decode = _head_decoder.decode
        for lines in self._line_chunks(read1):
            for line in lines:
                if take_raw is not None:
                    try:
                        head = head_decode(line)
                    except msgspec.DecodeError:
                        pass  # the SDK path below reports it
                    else:
                        if (
                            head.type == "RECORD"
                            and head.record
                            and take_raw(head.stream, head.record, head.time_extracted)
                        ):
                            handled += 1
                            continue
                message = self.deserialize_json(t.cast("str", line))  # msgspec decodes bytes as well
                self.assert_line_requires(message, requires={"type"})
                message_type = message["type"]
                callback = callbacks.get(message_type)
                if callback is None:  # as the SDK reader does
                    raise ValueError(f"Unknown message type '{message_type}' in message.")
                callback(message)
                stats[message_type] += 1
        if handled:
            stats["RECORD"] += handled
        return Counter(**stats)

    def _line_chunks(self, read: Callable[[int], bytes]) -> Iterator[list[bytes]]:
        """Lists of complete lines (without "\\n"), as the pipe delivers them (`read` = a `read1`)."""
        size = self.chunk_bytes
        pending = b""
        while chunk := read(size):
            end = chunk.rfind(b"\n")
            if end < 0:  # no complete line yet
                pending += chunk
                continue
            lines = (pending + chunk[:end] if pending else chunk[:end]).split(b"\n")
            pending = chunk[end + 1 :]
            yield lines
        if pending:
            yield [pending]
