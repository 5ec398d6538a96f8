"""What the streams of one tap run share: the server's clock, the run's start, and which events are live."""

from __future__ import annotations

import datetime as dt
import typing as t
from dataclasses import dataclass, field

from tap_qtickets.clock import ServerClock
from tap_qtickets.sync_report import SyncReport

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream

DEFAULT_START_DAYS = 30


@dataclass
class RunShared:
    clock: ServerClock = field(default_factory=ServerClock)
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(microsecond=0))
    # Events with a live show, filled while the events stream runs (None: it did not run).
    live_events: set[int] | None = None
    streams: dict[str, Stream] = field(default_factory=dict)  # by name: children read their parent's payload
    sync: SyncReport = field(default_factory=lambda: SyncReport("tap-qtickets"))  # what the STATE reports

    @property
    def snapshot_at(self) -> str:
        return self.started_at.isoformat()

    @property
    def default_start_date(self) -> dt.datetime:
        return self.started_at - dt.timedelta(days=DEFAULT_START_DAYS)
