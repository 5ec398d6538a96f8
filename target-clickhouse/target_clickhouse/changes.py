"""What a load's rows were, per table: new keys, changed rows, unchanged re-reads.

Every load appends versions (ReplacingMergeTree), so "rows inserted" counts a re-read of an unchanged order
the same as a new one. Right after each batch is inserted, one query classifies the keys it holds (its
`_sdc_version` range) against the latest version the table held before the load (below the first version
the load could hand out for that table): no earlier version → new; the same content → unchanged; else
changed. Content is a hash of every column but the keys and the `_sdc_*` ones (which differ on every load).

Right after the insert, not at the end of the load: a background merge collapses a key's older versions
into its newest, so the further the query is from the insert, the likelier a re-read key has lost the
version it is compared with (a full refresh of 100 000 orders, classified at the end, counted its 208 000
unchanged tickets as new). A merge committed in the milliseconds between a batch's insert and its query
would still do that to the keys of that batch: the counts are a log figure; the data never depend on them.
A key sent twice in one load (in two batches) is counted in each.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from target_clickhouse.identifiers import quote_identifier

if t.TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

SDC_PREFIX = "_sdc_"


@dataclass(frozen=True)
class RowChanges:
    new: int
    changed: int
    unchanged: int

    def __add__(self, other: RowChanges) -> RowChanges:
        return RowChanges(self.new + other.new, self.changed + other.changed,
                          self.unchanged + other.unchanged)

    def as_dict(self) -> dict[str, int]:
        return {"new": self.new, "changed": self.changed, "unchanged": self.unchanged}


def classify_sql(table: str, keys: Sequence[str], columns: Sequence[str]) -> str:
    """The query giving new, changed, unchanged for the rows of `table` (qualified and quoted) with versions
    `first`..`last` (parameters) against the versions below `floor`; keyed by `keys`; `columns` are the
    table's columns."""
    key = ", ".join(quote_identifier(k) for k in keys)
    data = [quote_identifier(c) for c in columns if not c.startswith(SDC_PREFIX) and c not in keys]
    content = f"sipHash64(tuple({', '.join(data)}))" if data else "toUInt64(0)"
    from target_clickhouse.tables import VERSION_COLUMN  # here: `tables` imports the driver

    version = quote_identifier(VERSION_COLUMN)
    batch = f"{version} BETWEEN {{first:UInt64}} AND {{last:UInt64}}"
    return (
        f"WITH loaded AS (SELECT {key}, argMax({content}, {version}) AS content FROM {table} WHERE {batch} "
        f"GROUP BY {key}), "
        f"before AS (SELECT {key}, argMax({content}, {version}) AS content, 1 AS seen FROM {table} "
        f"WHERE {version} < {{floor:UInt64}} AND ({key}) IN (SELECT {key} FROM {table} WHERE {batch}) "
        f"GROUP BY {key}) "
        "SELECT countIf(b.seen = 0), countIf(b.seen = 1 AND b.content != l.content), "
        "countIf(b.seen = 1 AND b.content = l.content) "
        f"FROM loaded AS l LEFT JOIN before AS b USING ({key}) "
        "SETTINGS join_use_nulls = 0"
    )


def classify(client: t.Any, table: str, keys: Sequence[str], columns: Sequence[str], floor: int,
             first: int, last: int) -> RowChanges:
    """New / changed / unchanged keys among the rows of versions `first`..`last` of `table`, against the
    versions below `floor`."""
    new, changed, unchanged = client.query(classify_sql(table, keys, columns),
                                           parameters={"floor": floor, "first": first, "last": last}
                                           ).result_rows[0]
    return RowChanges(int(new), int(changed), int(unchanged))


def describe_changes(rows_loaded: Mapping[str, int], changes: Mapping[str, Mapping[str, int]]) -> str:
    """`events 0 new, 1 changed, 11 unchanged; inventory 52 new; …` (the rows per stream when the changes are
    unknown)."""
    parts = []
    for stream, rows in sorted(rows_loaded.items()):
        counts = changes.get(stream)
        if counts is None:
            parts.append(f"{stream} {rows} rows")
            continue
        kinds = [f"{counts[kind]} {kind}" for kind in ("new", "changed", "unchanged") if counts[kind]]
        parts.append(f"{stream} {', '.join(kinds) or 'none'}")
    return "; ".join(parts) or "no rows"
