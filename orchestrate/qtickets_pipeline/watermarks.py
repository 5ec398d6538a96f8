"""How far the marts are (table mart_watermarks, transform/05_marts.sql): per staging table a refresh reads,
the highest `_sdc_version` and `_sdc_batched_at` it has seen. A staging row is new when it is above either
mark: the target's versions only grow, and a row written by
something other than the target is found by its batch time. The target's `_sdc_minmax` skip index on both
columns lets ClickHouse skip every granule below the marks (tables.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from target_clickhouse import table_name

FOLDED = ("sales", "inventory")  # the staging tables folded in incrementally
STREAMS = (*FOLDED, "events", "shows")  # every staging table a refresh reads (events, shows: rebuilt whole)
BATCHED = "_sdc_batched_at"


def timestamp(value: datetime | None) -> str:
    """A UTC instant as a ClickHouse DateTime64(6, 'UTC') literal (NULL for None)."""
    return "NULL" if value is None else f"toDateTime64('{value:%Y-%m-%d %H:%M:%S.%f}', 6, 'UTC')"


@dataclass(frozen=True)
class Mark:
    version: int
    batched_at: datetime | None

    def since(self) -> str:
        """The SQL condition on a staging row: written after this mark (no batch time seen yet: any row
        with one is new)."""
        after = "IS NOT NULL" if self.batched_at is None else f"> {timestamp(self.batched_at)}"
        return f"(_sdc_version > {self.version} OR {BATCHED} {after})"


@dataclass(frozen=True)
class Watermarks:
    marks: dict[str, Mark]

    def complete(self) -> bool:
        """Whether the marts can be refreshed incrementally: every stream has a mark."""
        return all(stream in self.marks for stream in STREAMS)

    def template_names(self) -> dict[str, str]:
        """`since.<stream>` and `version.<stream>` for the refresh files (no mark: every row is new, and
        above version -1)."""
        names = {}
        for stream in FOLDED:
            mark = self.marks.get(stream)
            names[f"since.{stream}"] = mark.since() if mark else "1"
            names[f"version.{stream}"] = str(mark.version if mark else -1)
        return names


NONE = Watermarks({})


def read(client, database: str) -> Watermarks:
    rows = client.query(f"SELECT name, max_version, max_batched_at FROM {database}.mart_watermarks FINAL"
                        ).result_rows
    return Watermarks({name: Mark(int(version), batched)
                       for name, version, batched in rows if name in STREAMS})


def current(client, database: str, previous: Watermarks) -> dict[str, Mark]:
    """The marks staging is at now: taken before a refresh reads any row, so rows written while it runs are
    new again for the next one (reading a row twice is harmless, missing one is not). Only the rows above
    the previous marks are read: the others are below them."""
    marks = {}
    for stream in STREAMS:
        old = previous.marks.get(stream)
        version, batched = client.query(
            f"SELECT max(_sdc_version), max({BATCHED}) FROM {database}.{table_name(stream)} "
            f"WHERE {old.since() if old else '1'}"
        ).result_rows[0]
        if old is not None:
            version = max(int(version or 0), old.version)
            batched = max((b for b in (batched, old.batched_at) if b is not None), default=None)
        marks[stream] = Mark(int(version or 0), batched)
    return marks


def write(client, database: str, marks: dict[str, Mark]) -> None:
    rows = [f"('{stream}', {mark.version}, {timestamp(mark.batched_at)}, '', now64(6))"
            for stream, mark in marks.items()]
    client.command(f"INSERT INTO {database}.mart_watermarks (name, max_version, max_batched_at, value, "
                   f"updated_at) VALUES {', '.join(rows)}")


def reset(client, database: str) -> None:
    """Forget every mark: the next refresh rebuilds the marts from all of staging."""
    client.command(f"TRUNCATE TABLE {database}.mart_watermarks")
