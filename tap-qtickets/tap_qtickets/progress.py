"""What the tap says about its progress at INFO (logger `tap_qtickets.progress`): while it reads, a line at
most every `PROGRESS_SECONDS` (records so far per stream, and how far the orders have got in `updated_at`),
so a long backfill is never silent for minutes; at the end, one line per stream read (records, requests,
pages, and for orders the passes that produced them)."""

from __future__ import annotations

import logging
import time
import typing as t

if t.TYPE_CHECKING:
    from tap_qtickets.client import QTicketsStream

PROGRESS_SECONDS = 15.0
logger = logging.getLogger("tap_qtickets.progress")


class Progress:
    """Shared by the streams of one run (RunShared); called on the consumer's thread only."""

    def __init__(self, every_seconds: float | None = None) -> None:
        self.every = PROGRESS_SECONDS if every_seconds is None else every_seconds
        self.last = time.monotonic()
        self.streams: list[QTicketsStream] = []  # the streams the sync reads (set when it starts)

    def tick(self, stream: QTicketsStream) -> None:
        """A page came in: a progress line when the last one is `every` seconds old."""
        now = time.monotonic()
        if now - self.last < self.every:
            return
        self.last = now
        parts = [f"{s.name} {s.records_written:,} records{s.position_note()}"
                 for s in self.streams if s.records_written or s.pages_fetched]
        logger.info("reading: %s (%s now)", "; ".join(parts), stream.name)

    def summarise(self, requests: t.Mapping[str, int]) -> None:
        """One line per stream the sync read, at its end."""
        for stream in self.streams:
            if stream.selected:
                logger.info("%s: %s", stream.name, stream.summary(requests.get(stream.name, 0)))
