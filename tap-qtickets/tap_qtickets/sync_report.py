"""The tap's account of its own sync, carried in its STATE under `SYNC_KEY`.

A Singer target only ever sees messages, so it cannot tell a finished sync from input that stopped early
(the tap failed or was killed), nor what the tap read. Every STATE this tap writes therefore holds a
`sync` object: `status` `running` in the first STATE of the sync, `complete` (with the request counts) or
`failed` (with the cause, secret-free) in the last. target-clickhouse reads it for its load ledger and
commits nothing unless the sync is complete; any other target stores it with the bookmarks, where it is
harmless: the next sync drops it before it starts.

    {"bookmarks": {...}, "sync": {"tap": "tap-qtickets", "status": "complete", "mode": "incremental",
     "started_at": "...", "finished_at": "...", "window_start": "...", "window_end": null,
     "requests": {"events": 1, "orders": 3}, "error": null}}
"""

from __future__ import annotations

import datetime as dt
import typing as t
from collections import Counter
from dataclasses import asdict, dataclass, field

SYNC_KEY = "sync"
RUNNING, COMPLETE, FAILED = "running", "complete", "failed"
INCREMENTAL, FULL = "incremental", "full"


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


@dataclass
class SyncReport:
    tap: str
    account: str = ""  # the tap's `account` setting
    mode: str = FULL  # incremental: the orders stream resumes from a bookmark; full: from start_date
    status: str = RUNNING
    started_at: str = field(default_factory=_now)
    finished_at: str | None = None
    window_start: str | None = None  # orders updated at or after this (UTC) are read
    window_end: str | None = None
    requests: Counter[str] = field(default_factory=Counter)  # HTTP requests sent, per stream
    error: str | None = None

    def finish(self, status: str, error: str | None = None) -> None:
        self.status, self.error, self.finished_at = status, error, _now()

    def as_dict(self) -> dict[str, t.Any]:
        return {**asdict(self), "requests": dict(sorted(self.requests.items()))}


def failed_state(tap: str, error: str) -> dict[str, t.Any]:
    """The STATE of a sync that failed before it could start (its settings were refused)."""
    report = SyncReport(tap)
    report.finish(FAILED, error)
    return {SYNC_KEY: report.as_dict()}
