"""What a load's rows were, per table: new keys, changed rows, unchanged re-reads.

Every load appends versions (ReplacingMergeTree), so "rows inserted" counts a re-read of an unchanged order
the same as a new one. For each batch, against the latest version of each of its keys that the table held
before the load (below the first version the load could hand out for that table): no earlier version →
new; the same content → unchanged; else changed. Content is a hash of every column but the keys and the
`_sdc_*` ones (which differ on every load).

The earlier versions are read **before** the batch is inserted: a background merge collapses a key's older
versions into its newest as soon as the parts meet, often within milliseconds of an insert on a small
table, so a query after the insert would find re-read keys without their earlier version (new, wrongly).
So, per batch: one query for the earlier content of the batch's keys (selected by their first key column,
`IN` a literal list, `PRIOR_CHUNK` values per query), the insert, then one query for the content of the
batch's own versions, which no merge removes. A key sent in two batches of one load is counted in each.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

import msgspec

from target_clickhouse.identifiers import escape_str, quote_identifier

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


PRIOR_CHUNK = 5000  # first-key values per query: the literal list stays far below max_query_size (256 KiB)


def _content(keys: Sequence[str], columns: Sequence[str]) -> str:
    data = [quote_identifier(c) for c in columns if not c.startswith(SDC_PREFIX) and c not in keys]
    return f"sipHash64(tuple({', '.join(data)}))" if data else "toUInt64(0)"


def _version() -> str:
    from target_clickhouse.tables import VERSION_COLUMN  # here: `tables` imports the driver

    return quote_identifier(VERSION_COLUMN)


def _literal(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    return str(value) if isinstance(value, int) else f"'{escape_str(value)}'"


def first_key_values(rows: Sequence[bytes], key: str) -> list[object]:
    """The distinct values of the first key property `key` in a batch's rows (JSON objects left open for
    `RowEncoder.body`: without their closing brace)."""
    struct = msgspec.defstruct("FirstKey", [("k", object, None)], rename={"k": key})
    decode = msgspec.json.Decoder(struct).decode
    return list({decode(row + b"}").k for row in rows})  # type: ignore[attr-defined]


class BatchChanges:
    """One table's batches classified (see the module docstring): `before` reads the earlier content of a
    batch's keys, `after` compares it with what was inserted."""

    def __init__(self, client: t.Any, table: str, keys: Sequence[str], columns: Sequence[str],
                 floor: int) -> None:
        self.client, self.table, self.keys, self.floor = client, table, tuple(keys), floor
        self.key_sql = ", ".join(quote_identifier(k) for k in keys)
        self.content = _content(keys, columns)
        self.version = _version()

    def _contents(self, where: str) -> dict[tuple, int]:
        rows = self.client.query(f"SELECT {self.key_sql}, argMax({self.content}, {self.version}) FROM "
                                 f"{self.table} WHERE {where} GROUP BY {self.key_sql}").result_rows
        return {tuple(row[:-1]): row[-1] for row in rows}

    def before(self, first_keys: Sequence[object]) -> dict[tuple, int] | None:
        """The latest content before the load of every key whose first key value is in `first_keys`; None
        when those values cannot be written as literals (the batch is then not classified)."""
        literals = [_literal(value) for value in first_keys]
        if any(literal is None for literal in literals):
            return None
        found: dict[tuple, int] = {}
        first = quote_identifier(self.keys[0])
        for start in range(0, len(literals), PRIOR_CHUNK):
            chunk = ", ".join(t.cast("list[str]", literals[start:start + PRIOR_CHUNK]))
            found.update(self._contents(f"{self.version} < {int(self.floor)} AND {first} IN ({chunk})"))
        return found

    def after(self, before: dict[tuple, int], first: int, last: int) -> RowChanges:
        """The keys inserted with versions `first`…`last`, against `before`."""
        inserted = self._contents(f"{self.version} BETWEEN {int(first)} AND {int(last)}")
        new = changed = 0
        for key, content in inserted.items():
            earlier = before.get(key)
            if earlier is None:
                new += 1
            elif earlier != content:
                changed += 1
        return RowChanges(new, changed, len(inserted) - new - changed)


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
