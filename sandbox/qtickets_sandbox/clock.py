"""Where the sandbox clock starts: `--start-date` at 12:00 Moscow time, else now to the minute."""

from __future__ import annotations

from datetime import date, datetime, time

from .timefmt import MSK


def start_time(start_date: str | None, start_at: str | None = None) -> datetime:
    """`start_at` (an ISO date-time, to the minute) wins; else `start_date` at 12:00 Moscow; else now."""
    if start_at:
        try:
            moment = datetime.fromisoformat(start_at)
        except ValueError as exc:
            raise ValueError(f"--start-at must be an ISO date-time, got {start_at!r}") from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=MSK)
        return moment.astimezone(MSK).replace(second=0, microsecond=0)
    if start_date:
        try:
            day = date.fromisoformat(start_date)
        except ValueError as exc:
            raise ValueError(f"--start-date must be YYYY-MM-DD, got {start_date!r}") from exc
        return datetime.combine(day, time(12, 0), tzinfo=MSK)
    return datetime.now(MSK).replace(second=0, microsecond=0)
