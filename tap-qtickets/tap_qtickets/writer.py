"""Singer message writer: the SDK's msgspec encoding, with RECORD lines batched into large writes."""

from __future__ import annotations

import sys
import typing as t

from singer_sdk.contrib.msgspec import MsgSpecWriter, encoder

if t.TYPE_CHECKING:
    from singer_sdk.singerlib.encoding.simple import Message

FLUSH_BYTES = 1 << 20


class BufferedMsgSpecWriter(MsgSpecWriter):
    """RECORDs collect in a 1 MB buffer; any other message (SCHEMA, STATE...) flushes it first, so a STATE
    never reaches the target before the records it covers. The SDK's writer flushes stdout per message."""

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending = bytearray()

    def write_message(self, message: Message) -> None:
        encoder.encode_into(message.to_dict(), self._pending, -1)
        self._pending.extend(b"\n")
        if getattr(message, "type", None) != "RECORD" or len(self._pending) >= FLUSH_BYTES:
            self.flush_messages()

    def write_record(self, stream: str, record: dict, version: int | None, time_extracted: t.Any) -> None:
        """A RECORD line, byte-identical to `write_message(RecordMessage(...))` minus the message object."""
        line: dict[str, t.Any] = {"type": "RECORD", "stream": stream, "record": record}
        if version is not None:
            line["version"] = version
        line["time_extracted"] = time_extracted
        encoder.encode_into(line, self._pending, -1)
        self._pending.extend(b"\n")
        if len(self._pending) >= FLUSH_BYTES:
            self.flush_messages()

    def flush_messages(self) -> None:
        if self._pending:
            sys.stdout.buffer.write(self._pending)
            self._pending.clear()
        sys.stdout.flush()
