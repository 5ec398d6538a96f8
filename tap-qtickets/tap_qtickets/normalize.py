"""Schema-driven record clean-up: UTC date-times, decimal strings, PHP empties, unknown keys dropped.

A schema is compiled once into converter functions (records are many, schemas are few).
"""

from __future__ import annotations

import datetime as dt
import typing as t
from decimal import Decimal
from functools import lru_cache

MOSCOW = dt.timezone(dt.timedelta(hours=3))
DECIMAL_FORMAT = "x-singer.decimal"
Converter = t.Callable[[t.Any], t.Any]


def parse_api_datetime(value: str) -> dt.datetime:
    """Parse an API datetime (`+03:00`, `+0300`, `Z` or naive = Moscow wall clock)."""
    parsed = dt.datetime.fromisoformat(value.strip())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=MOSCOW)


@lru_cache(maxsize=8192)  # bounded: peak memory must not grow with history size
def _utc_text(value: str) -> str:
    return parse_api_datetime(value).astimezone(dt.UTC).isoformat()


def to_utc_iso(value: t.Any) -> str | None:
    """`2025-03-14T18:02:11+03:00` → `2025-03-14T15:02:11+00:00`; empty → None."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=MOSCOW)).astimezone(dt.UTC).isoformat()
    return _utc_text(str(value))


def to_api_datetime(value: dt.datetime) -> str:
    """Format a datetime the way the API writes them (Moscow wall clock, colon offset)."""
    return value.astimezone(MOSCOW).replace(microsecond=0).isoformat()


def to_decimal_str(value: t.Any) -> str | None:
    """Money as an exact decimal string (never a binary float)."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        value = repr(value)
    return format(Decimal(str(value)), "f")


def _types(schema: dict) -> set[str]:
    kind = schema.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


def _scalar(value: t.Any, types: frozenset[str]) -> t.Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if "boolean" in types and "integer" not in types:
            return bool(value)
        if "string" in types and "integer" not in types and "number" not in types:
            return str(value)
        return value
    if isinstance(value, Decimal):
        if "integer" in types and value == value.to_integral_value():
            return int(value)
        if "number" in types:
            return float(value)
        if "string" in types:
            return str(value)
    return value


def compile_schema(schema: dict) -> Converter | None:
    """Converter for values of `schema`, or None when values pass through unchanged."""
    fmt = schema.get("format")
    if fmt == "date-time":
        return to_utc_iso
    if fmt == DECIMAL_FORMAT:
        return to_decimal_str
    types = frozenset(_types(schema))
    if "object" in types:
        props = schema.get("properties")
        fields = compile_properties(props) if props else None

        def convert_object(value: t.Any) -> t.Any:
            if not isinstance(value, dict):
                # PHP serialises an empty map as `[]` (and some maps as `""`).
                return None if value == [] or value == "" else value
            return value if fields is None else apply_fields(value, fields)

        return convert_object
    if "array" in types:
        item = compile_schema(schema["items"]) if isinstance(schema.get("items"), dict) else None
        if item is None:
            return None
        return lambda value: [item(v) for v in value] if isinstance(value, list) else value
    if types & {"boolean", "integer", "number", "string"}:
        return lambda value: None if value is None else _scalar(value, types)
    return None


def compile_properties(props: dict) -> dict[str, Converter | None]:
    return {name: compile_schema(prop) for name, prop in props.items()}


def apply_fields(row: dict, fields: dict[str, Converter | None]) -> dict:
    """Keys missing from the schema (PII when excluded, bulky maps) are dropped."""
    out = {}
    for key, value in row.items():
        if key in fields:
            convert = fields[key]
            out[key] = value if convert is None or value is None else convert(value)
    return out


class RecordNormalizer:
    """Top-level record conformer for one stream schema."""

    def __init__(self, schema: dict) -> None:
        self.fields = compile_properties(schema["properties"])

    def __call__(self, row: dict) -> dict:
        return apply_fields(row, self.fields)


def normalize_record(record: dict, schema: dict) -> dict:
    """One-off variant (tests, small streams); streams keep a compiled RecordNormalizer."""
    return RecordNormalizer(schema)(record)
