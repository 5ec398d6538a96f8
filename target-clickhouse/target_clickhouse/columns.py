"""Whole-column conversion at insert time: one batch column of raw JSON values → insertable values.

The fast paths check and convert a column with C-level builtins (`map`, `set`, `min`, `max`) instead
of one Python call per value. Anything irregular (a wrong type, a naive date-time, an out-of-range
value, a null in a key column) drops to the per-value converters in `converters.py`, which convert
the odd values correctly or raise `BadValue`; `BadColumnValue` then says which row failed.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from itertools import repeat
from operator import floordiv, sub

from target_clickhouse import schema_types as st
from target_clickhouse.converters import BadValue, Converter, make_converter, to_json_text

ColumnConverter = Callable[[Sequence], Sequence]

_NONE = type(None)
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
_UTC = dt.UTC
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=_UTC)
_ONE_US = dt.timedelta(microseconds=1)
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_MIN_US = (dt.datetime(1900, 1, 1, tzinfo=_UTC) - _EPOCH) // _ONE_US
_MAX_US = (dt.datetime(2300, 1, 1, tzinfo=_UTC) - _EPOCH) // _ONE_US
_MIN_DAY = dt.date(1900, 1, 1).toordinal() - _EPOCH_ORDINAL
_MAX_DAY = dt.date(2299, 12, 31).toordinal() - _EPOCH_ORDINAL
_REPEAT_SAMPLE = 512


class BadColumnValue(ValueError):
    def __init__(self, index: int, reason: str) -> None:
        super().__init__(reason)
        self.index = index
        self.reason = reason


class _Irregular(Exception):
    """The fast path does not apply; convert value by value."""


def _per_value(convert: Converter, column: Sequence) -> list:
    out: list[object] = []
    append = out.append
    for index, value in enumerate(column):
        try:
            append(convert(value))
        except BadValue as exc:
            raise BadColumnValue(index, str(exc)) from None
    return out


def _split_nulls(column: Sequence, nullable: bool) -> tuple[Sequence, bool]:
    """(non-null values, had nulls); a null in a non-nullable column is irregular."""
    if None not in column:
        return column, False
    if not nullable:
        raise _Irregular
    return [v for v in column if v is not None], True


def _merge_nulls(column: Sequence, converted: Sequence) -> list:
    values = iter(converted)
    return [None if v is None else next(values) for v in column]


def _fast_int64(column: Sequence, nullable: bool) -> Sequence:
    if not set(map(type, column)) <= {int, _NONE}:
        raise _Irregular
    values, _ = _split_nulls(column, nullable)
    if values and (min(values) < _I64_MIN or max(values) > _I64_MAX):
        raise _Irregular
    return column


def _same_type(kind: type) -> Callable[[Sequence, bool], Sequence]:
    def fast(column: Sequence, nullable: bool) -> Sequence:
        if not set(map(type, column)) <= {kind, _NONE}:
            raise _Irregular
        _split_nulls(column, nullable)
        return column

    return fast


def _fast_string(column: Sequence, nullable: bool) -> Sequence:
    kinds = set(map(type, column))
    if kinds <= {str, _NONE}:
        _split_nulls(column, nullable)
        return column
    if not kinds <= {str, dict, list, _NONE} or (not nullable and None in column):
        raise _Irregular
    try:
        return [v if v.__class__ is str or v is None else to_json_text(v) for v in column]
    except (TypeError, ValueError):
        raise _Irregular from None


def _fast_float64(column: Sequence, nullable: bool) -> Sequence:
    if not set(map(type, column)) <= {Decimal, int, float, _NONE}:
        raise _Irregular
    values, had_nulls = _split_nulls(column, nullable)
    floats = list(map(float, values))
    if math.inf in floats or -math.inf in floats:
        raise _Irregular
    return _merge_nulls(column, floats) if had_nulls else floats


def _fast_decimal(precision: int, scale: int) -> Callable[[Sequence, bool], Sequence]:
    # Plain decimal strings that certainly fit; anything else (exponents, "+", leading zeros, numbers
    # instead of strings) takes the exact per-value check.
    integer = rf"\d{{1,{precision - scale}}}" if precision > scale else "0"
    fraction = rf"(?:\.\d{{0,{scale}}})?" if scale else ""
    plain = re.compile(rf"-?{integer}{fraction}", re.ASCII).fullmatch

    def fast(column: Sequence, nullable: bool) -> Sequence:
        if not set(map(type, column)) <= {str, _NONE}:
            raise _Irregular
        values, _ = _split_nulls(column, nullable)
        if not all(map(plain, values)):
            raise _Irregular
        return column  # clickhouse-connect encodes Decimal(str(value)) exactly

    return fast


def _to_micros(values: Sequence) -> list:
    parsed = map(dt.datetime.fromisoformat, values)
    return list(map(floordiv, map(sub, parsed, repeat(_EPOCH)), repeat(_ONE_US)))


def _fast_datetime64(column: Sequence, nullable: bool) -> Sequence:
    values, had_nulls = _split_nulls(column, nullable)
    try:
        # Date-times often repeat (one order → many tickets): then parse each distinct one once.
        sample = values[:_REPEAT_SAMPLE]
        distinct = dict.fromkeys(values) if len(set(sample)) * 2 <= len(sample) else values
        if len(distinct) * 2 <= len(values):
            lookup = dict(zip(distinct, _to_micros(list(distinct)), strict=True))
            micros = list(map(lookup.__getitem__, values))
        else:
            micros = _to_micros(values)
    except (TypeError, ValueError):  # not a string, not ISO, naive (no offset), or unhashable
        raise _Irregular from None
    if micros and (min(micros) < _MIN_US or max(micros) >= _MAX_US):
        raise _Irregular
    return _merge_nulls(column, micros) if had_nulls else micros


def _fast_date32(column: Sequence, nullable: bool) -> Sequence:
    values, had_nulls = _split_nulls(column, nullable)
    try:
        ordinals = map(dt.date.toordinal, map(dt.date.fromisoformat, values))
        days = list(map(sub, ordinals, repeat(_EPOCH_ORDINAL)))
    except (TypeError, ValueError):
        raise _Irregular from None
    if days and (min(days) < _MIN_DAY or max(days) > _MAX_DAY):
        raise _Irregular
    return _merge_nulls(column, days) if had_nulls else days


_FAST: dict[str, Callable[[Sequence, bool], Sequence]] = {
    st.INT64: _fast_int64,
    st.FLOAT64: _fast_float64,
    st.BOOL: _same_type(bool),
    st.STRING: _fast_string,
    st.JSON_TYPE: _same_type(dict),
    st.DATETIME64: _fast_datetime64,
    st.DATE32: _fast_date32,
}


def make_column_converter(column_type: st.ColumnType) -> ColumnConverter | None:
    """Column converter for a type this target loads, or None for a type it does not manage."""
    per_value = make_converter(column_type)
    if per_value is None:
        return None
    decimal = st.parse_decimal(column_type.base)
    fast = _fast_decimal(*decimal) if decimal else _FAST.get(column_type.base)
    nullable = column_type.nullable

    def convert(column: Sequence) -> Sequence:
        if fast is not None:
            try:
                return fast(column, nullable)
            except _Irregular:
                pass
        return _per_value(per_value, column)

    return convert


# Types whose non-Nullable form ClickHouse converts to the Nullable column on insert.
_PLAIN_BASES = frozenset({st.INT64, st.UINT64, st.FLOAT64, st.BOOL, st.STRING, st.DATE32, st.DATETIME64})


def insert_type(column_type: st.ColumnType, values: Sequence) -> str:
    """The type to send a converted batch column as, when the server converts Native input types.

    Sending a Nullable column without nulls as its plain type skips the null map, and sending
    checked decimal strings (the fast path leaves them as text) as String lets ClickHouse parse them
    exactly instead of clickhouse-connect building a `Decimal` per value. Both are converted to the
    table's column type by the server (`input_format_native_allow_types_conversion`)."""
    base, nullable = column_type.base, column_type.nullable
    decimal = base not in _PLAIN_BASES and st.parse_decimal(base) is not None
    if not decimal and base not in _PLAIN_BASES:
        return column_type.sql
    if nullable and None not in values:
        nullable = False
    if decimal and next((v for v in values if v is not None), None).__class__ is str:
        base = st.STRING
    return f"Nullable({base})" if nullable else base
