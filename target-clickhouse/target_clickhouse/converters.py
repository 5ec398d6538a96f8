"""Per-column value converters: a JSON value → what clickhouse-connect writes for the column's type.

Each converter is built once per column and checks the value while converting (this replaces the
SDK's per-record jsonschema validation). A value that does not fit raises `BadValue`; the sink
turns it into a `ConversionError` naming stream, field and value. Nothing is silently nulled.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from decimal import Context, Decimal, InvalidOperation

import msgspec

from target_clickhouse import schema_types as st

Converter = Callable[[object], object]

_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
_UTC = dt.UTC
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=_UTC)
_ONE_US = dt.timedelta(microseconds=1)
_fromisoformat = dt.datetime.fromisoformat
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
# Ranges ClickHouse stores without clamping: DateTime64 and Date32 span 1900-01-01 .. 2299-12-31.
_MIN_DT, _MAX_DT = dt.datetime(1900, 1, 1, tzinfo=_UTC), dt.datetime(2300, 1, 1, tzinfo=_UTC)
_MIN_US, _MAX_US = (_MIN_DT - _EPOCH) // _ONE_US, (_MAX_DT - _EPOCH) // _ONE_US
_MIN_DAY = dt.date(1900, 1, 1).toordinal() - _EPOCH_ORDINAL
_MAX_DAY = dt.date(2299, 12, 31).toordinal() - _EPOCH_ORDINAL

_WIDE = Context(prec=200)  # quantize must never hit the default 28-digit limit
_json_encoder = msgspec.json.Encoder(decimal_format="number")


class BadValue(ValueError):
    """The value cannot be represented in the column type (message = the reason)."""


def to_json_text(value: object) -> str:
    """Compact JSON text; decimals stay numbers, datetimes become ISO strings."""
    return _json_encoder.encode(value).decode()


def _null(nullable: bool) -> object:
    """What a null converts to: None, or BadValue in a key column."""
    if not nullable:
        raise BadValue("null is not allowed in a key column")
    return None


def _int64(nullable: bool) -> Converter:
    def convert(v: object) -> object:
        if v.__class__ is int and _I64_MIN <= v <= _I64_MAX:
            return v
        if v is None:
            return _null(nullable)
        if isinstance(v, bool) or not isinstance(v, int | Decimal | float):
            raise BadValue(f"expected an integer, got {type(v).__name__}")
        if isinstance(v, Decimal | float) and (not math.isfinite(v) or v != int(v)):
            raise BadValue("expected an integer, got a fractional number")
        number = int(v)
        if not _I64_MIN <= number <= _I64_MAX:
            raise BadValue("integer out of Int64 range")
        return number

    return convert


def _float64(nullable: bool) -> Converter:
    def convert(v: object) -> object:
        if v.__class__ is Decimal or v.__class__ is int or v.__class__ is float:
            number = float(v)
            if math.isinf(number):
                raise BadValue("number out of Float64 range")
            return number
        if v is None:
            return _null(nullable)
        raise BadValue(f"expected a number, got {type(v).__name__}")

    return convert


def _decimal(nullable: bool, precision: int, scale: int) -> Converter:
    max_int_digits = precision - scale
    quantum = Decimal(1).scaleb(-scale)

    def convert(v: object) -> object:
        if v.__class__ is str:  # the hot path: "1234.50"; exponents, long fractions: the exact check
            try:
                number = Decimal(v)
            except InvalidOperation:
                raise BadValue(f"not a decimal number (column Decimal({precision}, {scale}))") from None
            dot = v.rfind(".")
            if (
                number.is_finite()
                and (dot < 0 or len(v) - dot - 1 <= scale)
                and "e" not in v
                and "E" not in v
                and number.adjusted() < max_int_digits
            ):
                return number
            return check(number)
        if v is None:
            return _null(nullable)
        if v.__class__ is Decimal or v.__class__ is int:
            return check(Decimal(v))
        if v.__class__ is float:
            return check(Decimal(repr(v)))
        raise BadValue(f"expected a decimal string or number, got {type(v).__name__}")

    def check(number: Decimal) -> Decimal:
        if not number.is_finite():
            raise BadValue("decimal is not finite")
        exponent = number.as_tuple().exponent  # an int: the number is finite
        if isinstance(exponent, int) and exponent < -scale:
            rounded = number.quantize(quantum, context=_WIDE)
            if rounded != number:
                raise BadValue(f"more than {scale} decimal places (column Decimal({precision}, {scale}))")
            number = rounded
        if number and number.adjusted() + 1 > max_int_digits:
            raise BadValue(f"too many integer digits for Decimal({precision}, {scale})")
        return number

    return convert


def parse_datetime_us(v: object) -> int:
    """An ISO-8601 date-time (any offset; naive = UTC) → microseconds since the Unix epoch (UTC)."""
    if v.__class__ is str:
        try:
            parsed = dt.datetime.fromisoformat(v)
        except ValueError:
            raise BadValue("not an ISO-8601 date-time") from None
    elif isinstance(v, dt.datetime):
        parsed = v
    elif isinstance(v, dt.date):
        parsed = dt.datetime(v.year, v.month, v.day)
    else:
        raise BadValue(f"expected an ISO-8601 date-time string, got {type(v).__name__}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_UTC)
    if not _MIN_DT <= parsed < _MAX_DT:
        raise BadValue("date-time outside 1900-01-01..2299-12-31 (DateTime64 range)")
    return (parsed - _EPOCH) // _ONE_US


def _datetime64(nullable: bool) -> Converter:
    def convert(v: object) -> object:
        if v.__class__ is str:  # the hot path: an ISO string from the tap
            try:
                parsed = _fromisoformat(v)
            except ValueError:
                raise BadValue("not an ISO-8601 date-time") from None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=_UTC)
            micros = (parsed - _EPOCH) // _ONE_US
            if _MIN_US <= micros < _MAX_US:
                return micros
            raise BadValue("date-time outside 1900-01-01..2299-12-31 (DateTime64 range)")
        if v is None:
            return _null(nullable)
        return parse_datetime_us(v)

    return convert


def _date32(nullable: bool) -> Converter:
    def convert(v: object) -> object:
        if v is None:
            return _null(nullable)
        if v.__class__ is str:
            try:
                day = dt.date.fromisoformat(v).toordinal() - _EPOCH_ORDINAL
            except ValueError:
                raise BadValue("not an ISO-8601 date (YYYY-MM-DD)") from None
        elif isinstance(v, dt.date) and not isinstance(v, dt.datetime):
            day = v.toordinal() - _EPOCH_ORDINAL
        else:
            raise BadValue(f"expected a date string, got {type(v).__name__}")
        if not _MIN_DAY <= day <= _MAX_DAY:
            raise BadValue("date outside 1900-01-01..2299-12-31 (Date32 range)")
        return day

    return convert


def _bool(nullable: bool) -> Converter:
    def convert(v: object) -> object:
        if v is True or v is False:
            return v
        if v is None:
            return _null(nullable)
        raise BadValue(f"expected a boolean, got {type(v).__name__}")

    return convert


def _string(nullable: bool) -> Converter:
    """Strings as-is; any other JSON value is stored as its JSON text (lossless)."""

    def convert(v: object) -> object:
        if v.__class__ is str:
            return v
        if v is None:
            return _null(nullable)
        try:
            return to_json_text(v)
        except (TypeError, msgspec.EncodeError) as exc:
            raise BadValue(f"not JSON-serialisable: {exc}") from None

    return convert


def _json_object(nullable: bool) -> Converter:
    def convert(v: object) -> object:
        if v.__class__ is dict:
            return v
        if v is None:
            return _null(nullable)
        raise BadValue(f"expected an object for a JSON column, got {type(v).__name__}")

    return convert


def _uint64(nullable: bool) -> Converter:
    def convert(v: object) -> object:
        if v.__class__ is int and 0 <= v < 2**64:
            return v
        if v is None:
            return _null(nullable)
        raise BadValue("expected a non-negative integer")

    return convert


_SIMPLE = {
    st.INT64: _int64,
    st.UINT64: _uint64,
    st.FLOAT64: _float64,
    st.BOOL: _bool,
    st.STRING: _string,
    st.DATE32: _date32,
    st.DATETIME64: _datetime64,
    st.JSON_TYPE: _json_object,
}


def make_converter(column: st.ColumnType) -> Converter | None:
    """The converter for a column type, or None when this target does not manage that type."""
    factory = _SIMPLE.get(column.base)
    if factory is not None:
        return factory(column.nullable)
    dec = st.parse_decimal(column.base)
    if dec is not None:
        return _decimal(column.nullable, *dec)
    return None
