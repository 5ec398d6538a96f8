"""Singer message writer: the SDK's msgspec encoding, with RECORD lines batched into large writes."""

from __future__ import annotations

import datetime as dt
import sys
import time
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
        self._frames: dict[tuple[str, int | None], tuple[bytes, bytes]] = {}
        self._frames_second = -1

    def write_message(self, message: Message) -> None:
        encoder.encode_into(message.to_dict(), self._pending, -1)
        self._pending.extend(b"\n")
        if getattr(message, "type", None) != "RECORD" or len(self._pending) >= FLUSH_BYTES:
            self.flush_messages()

    def write_record(self, stream: str, record: t.Any, version: int | None,
                     time_extracted: dt.datetime | None = None) -> None:
        """A RECORD line, byte-identical to `write_message(RecordMessage(...))` minus the message object.

        Without `time_extracted` it is now, to the second: the rest of the line around the record is then
        encoded once per second and stream, not once per record."""
        frame = self._frame_now(stream, version) if time_extracted is None else _frame(
            stream, version, time_extracted)
        pending = self._pending
        pending += frame[0]
        encoder.encode_into(record, pending, -1)
        pending += frame[1]
        if len(pending) >= FLUSH_BYTES:
            self.flush_messages()

    def write_joined(self, stream: str, item: t.Any, tail: bytes, version: int | None) -> None:
        """A RECORD (extracted now) whose record is the object `item` encodes to (never empty: it holds the
        key) followed by the members `tail` holds (`joined_tail`): fields shared by many records, encoded
        once for all of them."""
        frame = self._frame_now(stream, version)
        pending = self._pending
        pending += frame[0]
        encoder.encode_into(item, pending, -1)
        pending[-1:] = tail
        pending += frame[1]
        if len(pending) >= FLUSH_BYTES:
            self.flush_messages()

    def _frame_now(self, stream: str, version: int | None) -> tuple[bytes, bytes]:
        second = int(time.time())
        if second != self._frames_second:
            self._frames, self._frames_second = {}, second
        frame = self._frames.get((stream, version))
        if frame is None:
            extracted = dt.datetime.fromtimestamp(second, dt.UTC)
            frame = self._frames[(stream, version)] = _frame(stream, version, extracted)
        return frame

    def flush_messages(self) -> None:
        if self._pending:
            sys.stdout.buffer.write(self._pending)
            self._pending.clear()
        sys.stdout.flush()


def joined_tail(fields: dict) -> bytes:
    """`fields` encoded as the end of an object that has members before them: `,"k":v...}` (`}` if none)."""
    encoded = encoder.encode(fields)
    return b"}" if encoded == b"{}" else b"," + encoded[1:]


def _frame(stream: str, version: int | None, time_extracted: dt.datetime) -> tuple[bytes, bytes]:
    """The encoded RECORD line before and after its record (`...,"record":` and `,...}` + newline)."""
    line: dict[str, t.Any] = {"type": "RECORD", "stream": stream, "record": 0}
    if version is not None:
        line["version"] = version
    line["time_extracted"] = time_extracted
    encoded = encoder.encode(line)
    cut = encoded.index(b'"record":0') + len(b'"record":')
    return encoded[:cut], encoded[cut + 1:] + b"\n"
