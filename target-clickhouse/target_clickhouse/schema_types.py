"""JSON schema property → ClickHouse column type, and the widening rules used for schema evolution.

Types are kept as ClickHouse prints them in `system.columns` (e.g. `Decimal(18, 2)`,
`DateTime64(6, 'UTC')`), without the `Nullable(...)` wrapper, which is tracked separately.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from target_clickhouse.errors import SchemaEvolutionError

INT64 = "Int64"
UINT64 = "UInt64"
FLOAT64 = "Float64"
BOOL = "Bool"
STRING = "String"
DATE32 = "Date32"
DATETIME64 = "DateTime64(6, 'UTC')"
JSON_TYPE = "JSON"

DECIMAL_FORMATS = ("x-singer.decimal", "singer.decimal")
SQL_TYPE_PROPERTIES = "x-sql-datatype-properties"
DEFAULT_DECIMAL = (38, 9)
MAX_DECIMAL_PRECISION = 76
INT64_DIGITS = 19

_DECIMAL_RE = re.compile(r"^Decimal\((\d+),\s*(\d+)\)$")
_DATETIME64_RE = re.compile(r"^DateTime64\(6,\s*'UTC'\)$")


@dataclass(frozen=True)
class ColumnType:
    base: str
    nullable: bool

    @property
    def sql(self) -> str:
        return f"Nullable({self.base})" if self.nullable else self.base


def decimal_type(precision: int, scale: int) -> str:
    return f"Decimal({precision}, {scale})"


def parse_decimal(base: str) -> tuple[int, int] | None:
    match = _DECIMAL_RE.match(base)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _json_types(prop: dict) -> tuple[set[str], str | None, dict]:
    """Non-null JSON types, the string format and the sub-schema carrying decimal hints."""
    types: set[str] = set()
    fmt = prop.get("format")
    carrier = prop
    declared = prop.get("type")
    if isinstance(declared, str):
        types.add(declared)
    elif isinstance(declared, list):
        types.update(t for t in declared if isinstance(t, str))
    for option in prop.get("anyOf", []) + prop.get("oneOf", []):
        if isinstance(option, dict):
            sub_types, sub_fmt, _ = _json_types(option)
            types |= sub_types
            if sub_fmt and not fmt:
                fmt, carrier = sub_fmt, option
    types.discard("null")
    return types, fmt, carrier


def column_base_type(stream: str, name: str, prop: dict, json_as: str) -> str:
    """The ClickHouse type (without Nullable) for one schema property, per docs/contracts.md."""
    if not isinstance(prop, dict):
        return STRING
    types, fmt, carrier = _json_types(prop)
    if fmt in DECIMAL_FORMATS and types <= {"string", "number", "integer"}:
        # `x-sql-datatype-properties` survives the SDK's catalog model; top-level precision/scale is what
        # other taps write.
        hints = {**(prop.get(SQL_TYPE_PROPERTIES) or {}), **(carrier.get(SQL_TYPE_PROPERTIES) or {})}
        precision = carrier.get("precision", prop.get("precision", hints.get("precision")))
        scale = carrier.get("scale", prop.get("scale", hints.get("scale")))
        if precision is None and scale is None:
            precision, scale = DEFAULT_DECIMAL
        elif precision is None:
            precision = DEFAULT_DECIMAL[0]
        elif scale is None:
            scale = min(DEFAULT_DECIMAL[1], precision)
        if not (isinstance(precision, int) and isinstance(scale, int)) or not (
            1 <= precision <= MAX_DECIMAL_PRECISION and 0 <= scale <= precision
        ):
            raise SchemaEvolutionError(
                f"stream '{stream}', field '{name}': decimal precision/scale ({precision}, {scale}) out of "
                f"range (need 1 <= precision <= {MAX_DECIMAL_PRECISION}, 0 <= scale <= precision)"
            )
        return decimal_type(precision, scale)
    if types == {"boolean"}:
        return BOOL
    if types == {"integer"}:
        return INT64
    if types and types <= {"integer", "number"}:
        return FLOAT64
    if types == {"string"}:
        if fmt == "date-time":
            return DATETIME64
        if fmt == "date":
            return DATE32
        return STRING
    if types == {"object"} and json_as == "JSON":
        return JSON_TYPE
    return STRING


def normalize_existing(sql_type: str) -> ColumnType:
    """Parse a type from `system.columns` into (base, nullable)."""
    text = sql_type.strip()
    if text.startswith("LowCardinality(") and text.endswith(")"):
        text = text[len("LowCardinality(") : -1]
    nullable = text.startswith("Nullable(") and text.endswith(")")
    if nullable:
        text = text[len("Nullable(") : -1]
    if _DATETIME64_RE.match(text):
        text = DATETIME64
    elif (dec := parse_decimal(text)) is not None:
        text = decimal_type(*dec)
    return ColumnType(text, nullable)


def _widen_decimals(a: tuple[int, int], b: tuple[int, int]) -> str | None:
    scale = max(a[1], b[1])
    precision = max(a[0] - a[1], b[0] - b[1]) + scale
    if precision > MAX_DECIMAL_PRECISION:
        return None
    return decimal_type(precision, scale)


def widen(existing: str, incoming: str) -> str | None:
    """The narrowest type that holds both, or None when the change is incompatible.

    Returning `existing` means the column stays as it is and incoming values are converted into it.
    """
    if existing == incoming:
        return existing
    if JSON_TYPE in (existing, incoming):
        return STRING if existing == STRING else None
    if STRING in (existing, incoming):
        return STRING
    pair = {existing, incoming}
    if pair == {INT64, FLOAT64}:
        return FLOAT64
    if pair == {DATE32, DATETIME64}:
        return DATETIME64
    existing_dec, incoming_dec = parse_decimal(existing), parse_decimal(incoming)
    if existing_dec and incoming_dec:
        return _widen_decimals(existing_dec, incoming_dec)
    either_dec = existing_dec or incoming_dec
    if INT64 in pair and either_dec:
        return _widen_decimals(either_dec, (INT64_DIGITS, 0))
    return None
