"""Reads Singer messages from stdin in chunks, with a decode-once fast path for RECORD messages.

The SDK reader iterates the text stream line by line and decodes every message into a dict. This one
reads whatever the pipe has (up to `CHUNK_BYTES`, without waiting for more) and splits it into lines.
A line is first decoded into `_Head` (type, stream, time_extracted, and the record left undecoded as
raw JSON); a RECORD whose stream has a `record_handler` is handed over as raw JSON, so the sink decodes
it straight into its columns. Every other line — SCHEMA, STATE, ACTIVATE_VERSION, BATCH, records the
handler declines (stream maps, a stream's first record, odd records), and lines that do not decode —
takes the SDK's path: `deserialize_json` (its errors, e.g. `InvalidInputLine`) and the SDK callbacks,
in input order. Text streams (no `read1`, e.g. `io.StringIO` given to `listen()`) use the SDK reader.
"""

from __future__ import annotations

import sys
import typing as t
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecReader

CHUNK_BYTES = 1 << 20

# (stream, raw record JSON, time_extracted) → True when the record was buffered.
RecordHandler = Callable[[t.Any, msgspec.Raw, t.Any], bool]


class _Head(msgspec.Struct, gc=False):
    type: t.Any
    stream: t.Any = None
    record: msgspec.Raw = msgspec.Raw()  # empty when absent
    time_extracted: t.Any = None


_head_decoder = msgspec.json.Decoder(_Head)


class ChunkedMessageReader(MsgSpecReader):
    """Singer message reader for byte streams: chunked reads, RECORD lines decoded once."""

    chunk_bytes = CHUNK_BYTES
    record_handler: RecordHandler | None = None

    @property
    def default_input(self) -> t.IO:  # type: ignore[override]
        return sys.stdin.buffer

    def process_lines(self, file_input, callbacks) -> t.Counter[str]:  # type: ignore[override]
        source = file_input or self.default_input
        if not hasattr(source, "read1"):
            return super().process_lines(source, callbacks)
        stats: dict[str, int] = defaultdict(int)
        handled = 0  # RECORD messages taken by record_handler
        handler = self.record_handler
        head_decode = _head_decoder.decode
        for lines in self._line_chunks(source):
            for line in lines:
                if handler is not None:
                    try:
                        head = head_decode(line)
                    except msgspec.DecodeError:
                        pass  # the SDK path below reports it
                    else:
                        if (
                            head.type == "RECORD"
                            and head.record
                            and handler(head.stream, head.record, head.time_extracted)
                        ):
                            handled += 1
                            continue
                message = self.deserialize_json(line)
                self.assert_line_requires(message, requires={"type"})
                message_type = message["type"]
                callback = callbacks.get(message_type)
                if callback is None:
                    self._process_unknown_message(message)
                else:
                    callback(message)
                stats[message_type] += 1
        if handled:
            stats["RECORD"] += handled
        return Counter(**stats)

    def _line_chunks(self, source: t.IO[bytes]) -> Iterator[list[bytes]]:
        """Lists of complete lines (without "\\n"), as the pipe delivers them."""
        read = source.read1  # type: ignore[attr-defined]
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
