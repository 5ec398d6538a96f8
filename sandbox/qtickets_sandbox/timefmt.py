"""Datetimes as the API writes them: Moscow wall clock, second precision, `+03:00`."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import overload

MSK = timezone(timedelta(hours=3))  # Moscow has had a fixed +03:00 offset since 2014
_DT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?")


@overload
def fmt(dt: datetime) -> str: ...


@overload
def fmt(dt: None) -> None: ...


def fmt(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    if dt.tzinfo is not MSK:
        dt = dt.astimezone(MSK)
    if dt.microsecond:
        dt = dt.replace(microsecond=0)
    return dt.isoformat()


def parse(value: str) -> datetime:
    """Parse an ISO-8601 string (`+03:00`, `+0300`, `Z` or naive = Moscow)."""
    text = value.strip().replace(" ", "T", 1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    m = re.search(r"([+-])(\d{2})(\d{2})$", text)
    if m and ":" not in text[-6:]:
        text = text[: m.start()] + f"{m.group(1)}{m.group(2)}:{m.group(3)}"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=MSK)
    return dt.astimezone(MSK)


def looks_like_datetime(value) -> bool:
    return isinstance(value, str) and bool(_DT.match(value))


def normalise(value: str) -> str:
    """A filter value in any ISO form → the API's own `+03:00` form, so strings compare in time order."""
    return fmt(parse(value))
