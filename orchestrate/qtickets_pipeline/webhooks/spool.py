"""The receiver's durable queue: verified webhook bodies appended to segment files, fsync'd before the 200.

Layout (`<state dir>/webhooks/`):
- `spool-<n>.log` — segments, appended in order. A frame is one JSON header line (`account`, `event`,
  `received_at`, body length `n`, `crc` of the body) + the raw body + `\\n`. Each start of the receiver
  opens a new segment, so a frame torn by a crash can only be the last of its segment: readers stop there
  (it was never acknowledged: the 200 follows the fsync).
- `cursor.json` — how far the loader has put the frames into the warehouse (segment, offset), replaced
  atomically after each batch; segments wholly before it are deleted.
- `receiver.lock` — held by the one receiver using this spool.

Appends are group-committed: the requests waiting while one fsync runs share the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

SEGMENT_BYTES = 16 << 20  # a new segment after this many bytes
CURSOR = "cursor.json"
LOCK = "receiver.lock"
PREFIX, SUFFIX = "spool-", ".log"


class SpoolBusyError(RuntimeError):
    """Another receiver holds this spool."""


@dataclass(frozen=True)
class Position:
    segment: int
    offset: int

    def __lt__(self, other: Position) -> bool:
        return (self.segment, self.offset) < (other.segment, other.offset)


@dataclass(frozen=True)
class Frame:
    account: str
    event: str
    received_at: float  # Unix seconds
    body: bytes
    end: Position  # where the next frame starts: the cursor once this one is loaded


def encode(account: str, event: str, received_at: float, body: bytes) -> bytes:
    header = {"account": account, "event": event, "received_at": received_at, "n": len(body),
              "crc": zlib.crc32(body)}
    return json.dumps(header, separators=(",", ":")).encode() + b"\n" + body + b"\n"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _segment_name(number: int) -> str:
    return f"{PREFIX}{number:012d}{SUFFIX}"


class Spool:
    """One directory of segments; one writer (the receiver's event loop) and one reader (the loader thread),
    in the same process."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(directory / LOCK, "a+")  # noqa: SIM115  # held for the spool's life
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise SpoolBusyError(f"another receiver uses the spool {directory}") from None
        self._segment = max(self.segments(), default=0) + 1
        self._file = open(directory / _segment_name(self._segment), "ab", buffering=0)  # noqa: SIM115
        _fsync_dir(directory)
        self._written = 0
        self._durable = Position(self._segment, 0)
        self._changed = threading.Condition()
        self._pending: list[tuple[bytes, asyncio.Future]] = []
        self._committing: asyncio.Task | None = None

    # --- writing (the event loop) ------------------------------------------------------------------

    async def append(self, account: str, event: str, received_at: float, body: bytes) -> None:
        """Returns once the frame is on disk (fsync'd); raises if it could not be written."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._pending.append((encode(account, event, received_at, body), done))
        if self._committing is None or self._committing.done():
            self._committing = loop.create_task(self._commit())
        await done

    async def _commit(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await asyncio.to_thread(self._write, [frame for frame, _ in batch])
            except OSError as exc:
                for _, done in batch:
                    done.set_exception(exc)
                continue
            for _, done in batch:
                done.set_result(None)

    def _write(self, frames: list[bytes]) -> None:
        if self._written >= SEGMENT_BYTES:
            self._file.close()
            self._segment += 1
            self._file = open(self.directory / _segment_name(self._segment), "ab", buffering=0)  # noqa: SIM115
            _fsync_dir(self.directory)
            self._written = 0
        data = b"".join(frames)
        try:
            view = memoryview(data)
            while view:  # unbuffered: nothing is left in a buffer to be written after a failure
                view = view[self._file.write(view) or 0:]
            os.fsync(self._file.fileno())
        except OSError:  # (a full disk) the requests get a 500; what was written of them is cut off again,
            # so that frames appended later are not behind a torn one (readers stop at a torn frame)
            with contextlib.suppress(OSError):
                self._file.truncate(self._written)
            raise
        self._written += len(data)
        with self._changed:
            self._durable = Position(self._segment, self._written)
            self._changed.notify_all()

    def close(self) -> None:
        self._file.close()
        self._lock_file.close()

    # --- reading (the loader thread) ---------------------------------------------------------------

    def segments(self) -> list[int]:
        numbers = []
        for path in self.directory.glob(f"{PREFIX}*{SUFFIX}"):
            try:
                numbers.append(int(path.name[len(PREFIX):-len(SUFFIX)]))
            except ValueError:
                continue
        return sorted(numbers)

    def cursor(self) -> Position:
        try:
            data = json.loads((self.directory / CURSOR).read_text())
            return Position(int(data["segment"]), int(data["offset"]))
        except (OSError, ValueError, KeyError, TypeError):
            return Position(0, 0)

    def wait(self, after: Position, timeout: float) -> None:
        """Until something beyond `after` is durable, or `timeout` seconds."""
        with self._changed:
            self._changed.wait_for(lambda: after < self._durable, timeout)

    def read(self, after: Position, limit: int) -> list[Frame]:
        """Up to `limit` durable frames after `after`, in order."""
        durable = self._durable
        frames: list[Frame] = []
        for number in self.segments():
            if number < after.segment or len(frames) >= limit:
                continue
            start = after.offset if number == after.segment else 0
            stop = durable.offset if number == durable.segment else None
            if number > durable.segment:
                break
            frames += self._read_segment(number, start, stop, limit - len(frames))
        return frames

    def _read_segment(self, number: int, start: int, stop: int | None, limit: int) -> list[Frame]:
        frames: list[Frame] = []
        try:
            with open(self.directory / _segment_name(number), "rb") as handle:
                handle.seek(start)
                offset = start
                while len(frames) < limit and (stop is None or offset < stop):
                    header_line = handle.readline()
                    if not header_line.endswith(b"\n"):
                        break  # the end, or a header torn by a crash
                    try:
                        header = json.loads(header_line)
                        body = handle.read(int(header["n"]) + 1)
                    except (ValueError, KeyError, TypeError):
                        break
                    if len(body) != int(header["n"]) + 1 or zlib.crc32(body[:-1]) != header["crc"]:
                        break  # torn by a crash before it was acknowledged
                    offset += len(header_line) + len(body)
                    frames.append(Frame(str(header["account"]), str(header["event"]),
                                        float(header["received_at"]), body[:-1], Position(number, offset)))
        except FileNotFoundError:
            pass
        return frames

    def consume(self, upto: Position) -> None:
        """Frames up to `upto` are in the warehouse: the cursor moves there (atomically) and segments wholly
        before it go."""
        temp = self.directory / f"{CURSOR}.tmp"
        with open(temp, "w") as handle:
            json.dump({"segment": upto.segment, "offset": upto.offset}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, self.directory / CURSOR)
        _fsync_dir(self.directory)
        for number in self.segments():
            if number < upto.segment and number != self._segment:
                (self.directory / _segment_name(number)).unlink(missing_ok=True)

    def backlog(self, after: Position) -> int:
        """Bytes spooled after `after` (for the status line)."""
        total = 0
        for number in self.segments():
            if number < after.segment:
                continue
            size = (self.directory / _segment_name(number)).stat().st_size
            total += size - (after.offset if number == after.segment else 0)
        return total
