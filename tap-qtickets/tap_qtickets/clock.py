"""The API server's clock, read from the `Date` header of its responses.

Decisions about time that must agree with the data (which shows are live, when the daily deep pass is due)
use the server's notion of "now", not this host's: a skewed local clock (or a simulated server clock in
tests) then cannot make the tap skip a show or a pass.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from email.utils import parsedate_to_datetime

if t.TYPE_CHECKING:
    import requests


class ServerClock:
    """`now()` = this host's UTC time plus the offset to the server seen in the latest `Date` header."""

    def __init__(self) -> None:
        self._offset: dt.timedelta | None = None

    @property
    def observed(self) -> bool:
        return self._offset is not None

    def observe(self, response: requests.Response) -> None:
        header = response.headers.get("Date")
        if not header:
            return
        try:
            server = parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return
        if server.tzinfo is None:
            server = server.replace(tzinfo=dt.UTC)
        self._offset = server - dt.datetime.now(dt.UTC)

    def now(self) -> dt.datetime:
        local = dt.datetime.now(dt.UTC)
        return local + self._offset if self._offset is not None else local
