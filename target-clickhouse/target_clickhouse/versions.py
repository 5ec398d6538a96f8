"""The `_sdc_version` sequence: strictly increasing in record order, across batches and runs."""

from __future__ import annotations

import time


class VersionSequence:
    """Starts at the wall clock in nanoseconds and never goes below a table's existing maximum.

    One version is used per record, far fewer than one per nanosecond, so a later run starts above
    every version an earlier run wrote; `ensure_above` covers a clock that moved backwards.
    """

    def __init__(self) -> None:
        self._next = time.time_ns()

    def ensure_above(self, value: int) -> None:
        if self._next <= value:
            self._next = value + 1

    def peek(self) -> int:
        """The next version `take` hands out."""
        return self._next

    def take(self, count: int) -> int:
        """Reserve `count` consecutive versions; returns the first."""
        first = self._next
        self._next += count
        return first
