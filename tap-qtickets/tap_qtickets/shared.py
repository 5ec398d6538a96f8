"""What the streams of one tap run share: the server's clock, the run's start, the shows the events stream
listed (for the orders stream's ticket-change fallback) and the sync's report."""

from __future__ import annotations

import datetime as dt
import threading
import typing as t
from dataclasses import dataclass, field

from tap_qtickets.clock import ServerClock
from tap_qtickets.progress import Progress
from tap_qtickets.sync_report import SyncReport

if t.TYPE_CHECKING:
    from tap_qtickets.ticket_changes import ShowSpan

DEFAULT_START_DAYS = 30


@dataclass
class RunShared:
    clock: ServerClock = field(default_factory=ServerClock)
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(microsecond=0))
    # Every show by id, filled while the events stream runs (None: it did not run).
    shows: dict[int, ShowSpan] | None = None
    sync: SyncReport = field(default_factory=lambda: SyncReport("tap-qtickets"))  # what the STATE reports
    progress: Progress = field(default_factory=Progress)  # the INFO lines while reading and at the end
    lock: threading.Lock = field(default_factory=threading.Lock)  # answers are validated in several threads

    @property
    def snapshot_at(self) -> str:
        return self.started_at.isoformat()

    @property
    def default_start_date(self) -> dt.datetime:
        return self.started_at - dt.timedelta(days=DEFAULT_START_DAYS)
