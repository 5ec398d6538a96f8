"""Record values → JSON that ClickHouse's JSONEachRow parser reads exactly, per column type.

ClickHouse reads JSON leniently: an out-of-range integer wraps around, decimal places beyond the scale
are cut, `true` is read as 1, a number in a DateTime64 or Date32 column as seconds or days, hour 25 and
2025-02-30 roll over, a null in a non-Nullable column becomes 0. So values are checked in two tiers:

* `fast_type(column)`: a msgspec type accepting only JSON that ClickHouse reads as the value it means
  (an in-range integer, a finite number, a boolean, a plain decimal string within the precision, an
  RFC 3339 date-time with a valid calendar date in 1901..2298, anything for a String column). A record
  whose values all pass is sent as the tap wrote it;
* `normalizer(column)`: the exact check for any other value, on the decoded value (JSON numbers with a
  fraction as `Decimal`). It returns an equal value inside the fast subset (3.0 → 3, "1.500" → "1.50",
  a naive or space-separated date-time → UTC text) or raises `BadValue` with the reason.
"""

from __future__ import annotations

import datetime as dt
import math
import typing as t
from collections.abc import Callable
from decimal import Context, Decimal, InvalidOperation

import msgspec

from target_clickhouse import schema_types as st

Normalizer = Callable[[object], object]

_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
_F64_MAX = 1.7976931348623157e308
_UTC = dt.UTC
# Ranges ClickHouse stores without clamping: DateTime64 and Date32 span 1900-01-01 .. 2299-12-31.
_MIN_DT, _MAX_DT = dt.datetime(1900, 1, 1, tzinfo=_UTC), dt.datetime(2300, 1, 1, tzinfo=_UTC)
_MIN_DAY, _MAX_DAY = dt.date(1900, 1, 1), dt.date(2299, 12, 31)
_WIDE = Context(prec=200)  # quantize must never hit the default 28-digit limit
_json_encoder = msgspec.json.Encoder(decimal_format="number")

# Month-day pairs valid in every year (February 29 takes the exact check).
_MONTH_DAY = (
    r"(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
)
# Years whose every instant is inside the DateTime64 range whatever the UTC offset (1900 and 2299 are
# checked exactly).
_SAFE_YEAR = r"(?:190[1-9]|19[1-9]\d|2[01]\d\d|22[0-8]\d|229[0-8])"
_TIME = r"(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?"
_OFFSET = r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)?"  # none: UTC, the column's time zone
_DATETIME = t.Annotated[str, msgspec.Meta(pattern=rf"\A{_SAFE_YEAR}-{_MONTH_DAY}T{_TIME}{_OFFSET}\Z")]
_DATE = t.Annotated[str, msgspec.Meta(pattern=rf"\A(?:19\d\d|2[0-2]\d\d)-{_MONTH_DAY}\Z")]
_INT64 = t.Annotated[int, msgspec.Meta(ge=_I64_MIN, le=_I64_MAX)]
_UINT64 = t.Annotated[int, msgspec.Meta(ge=0, le=_I64_MAX)]
_FLOAT64 = t.Annotated[float, msgspec.Meta(ge=-_F64_MAX, le=_F64_MAX)]


class BadValue(ValueError):
    """The value cannot be represented in the column type (message = the reason)."""


def json_text(value: object) -> str:
    """Compact JSON text; decimals stay numbers, datetimes become ISO strings."""
    return _json_encoder.encode(value).decode()


def _decimal_fast_type(precision: int, scale: int) -> object:
    digits = precision - scale
    integer = rf"\d{{1,{digits}}}" if digits else "0"
    fraction = rf"(?:\.\d{{0,{scale}}})?" if scale else ""
    text = t.Annotated[str, msgspec.Meta(pattern=rf"\A-?{integer}{fraction}\Z")]
    bound = min(10**digits - 1, _I64_MAX)  # msgspec bounds are int64; larger integers: the exact check
    whole = t.Annotated[int, msgspec.Meta(ge=-bound, le=bound)]
    return text | whole


_FAST_TYPES: dict[str, object] = {
    st.INT64: _INT64,
    st.UINT64: _UINT64,
    st.FLOAT64: _FLOAT64,
    st.BOOL: bool,
    st.DATE32: _DATE,
    st.DATETIME64: _DATETIME,
    st.JSON_TYPE: dict,
}


def fast_type(column: st.ColumnType) -> object:
    """The msgspec type of the JSON values ClickHouse reads exactly into `column`.

    A String column takes any JSON value: strings as they are, numbers, booleans, objects and arrays as
    their JSON text as sent (`rows.INPUT_SETTINGS`), so a nullable one is not even decoded (`Raw`)."""
    if column.base == st.STRING:
        return msgspec.Raw if column.nullable else str | int | float | bool | dict | list
    decimal = st.parse_decimal(column.base)
    base = _decimal_fast_type(*decimal) if decimal else _FAST_TYPES[column.base]
    return base | None if column.nullable else base  # type: ignore[operator]


def is_loadable(column: st.ColumnType) -> bool:
    """Whether this target can load values into a column of this type."""
    return column.base in _FAST_TYPES or column.base == st.STRING or st.parse_decimal(column.base) is not None


# --- the exact check, value by value ---------------------------------------------------------------


def _int64(v: object) -> object:
    if isinstance(v, bool) or not isinstance(v, int | Decimal | float):
        raise BadValue(f"expected an integer, got {type(v).__name__}")
    if isinstance(v, Decimal | float) and (not math.isfinite(v) or v != int(v)):
        raise BadValue("expected an integer, got a fractional number")
    number = int(v)
    if not _I64_MIN <= number <= _I64_MAX:
        raise BadValue("integer out of Int64 range")
    return number


def _uint64(v: object) -> object:
    if v.__class__ is int and 0 <= v < 2**64:
        return v
    raise BadValue("expected a non-negative integer")


def _float64(v: object) -> object:
    if v.__class__ in (Decimal, int, float):
        number = float(v)
        if math.isinf(number):
            raise BadValue("number out of Float64 range")
        return number
    raise BadValue(f"expected a number, got {type(v).__name__}")


def _decimal(precision: int, scale: int) -> Normalizer:
    max_int_digits = precision - scale
    quantum = Decimal(1).scaleb(-scale)

    def normalize(v: object) -> object:
        if v.__class__ is str:
            try:
                number = Decimal(v)
            except InvalidOperation:
                raise BadValue(f"not a decimal number (column Decimal({precision}, {scale}))") from None
        elif v.__class__ in (Decimal, int):
            number = Decimal(v)
        elif v.__class__ is float:
            number = Decimal(repr(v))
        else:
            raise BadValue(f"expected a decimal string or number, got {type(v).__name__}")
        if not number.is_finite():
            raise BadValue("decimal is not finite")
        exponent = number.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -scale:
            rounded = number.quantize(quantum, context=_WIDE)
            if rounded != number:
                raise BadValue(f"more than {scale} decimal places (column Decimal({precision}, {scale}))")
            number = rounded
        if number and number.adjusted() + 1 > max_int_digits:
            raise BadValue(f"too many integer digits for Decimal({precision}, {scale})")
        return format(number, "f")  # plain digits, no exponent: read exactly

    return normalize


def _datetime64(v: object) -> object:
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
    return parsed.astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _date32(v: object) -> object:
    if v.__class__ is str:
        try:
            day = dt.date.fromisoformat(v)
        except ValueError:
            raise BadValue("not an ISO-8601 date (YYYY-MM-DD)") from None
    elif isinstance(v, dt.date) and not isinstance(v, dt.datetime):
        day = v
    else:
        raise BadValue(f"expected a date string, got {type(v).__name__}")
    if not _MIN_DAY <= day <= _MAX_DAY:
        raise BadValue("date outside 1900-01-01..2299-12-31 (Date32 range)")
    return day.isoformat()


def _bool(v: object) -> object:
    if v is True or v is False:
        return v
    raise BadValue(f"expected a boolean, got {type(v).__name__}")


def _string(v: object) -> object:
    """Strings as they are; any other JSON value as its compact JSON text."""
    if v.__class__ is str:
        return v
    try:
        return json_text(v)
    except (TypeError, msgspec.EncodeError) as exc:
        raise BadValue(f"not JSON-serialisable: {exc}") from None


def _json_object(v: object) -> object:
    if v.__class__ is not dict:
        raise BadValue(f"expected an object for a JSON column, got {type(v).__name__}")
    _string(v)  # fails here when the object cannot be written as JSON
    return v


_NORMALIZERS: dict[str, Normalizer] = {
    st.INT64: _int64,
    st.UINT64: _uint64,
    st.FLOAT64: _float64,
    st.BOOL: _bool,
    st.STRING: _string,
    st.DATE32: _date32,
    st.DATETIME64: _datetime64,
    st.JSON_TYPE: _json_object,
}


def normalizer(column: st.ColumnType) -> Normalizer:
    """The exact check of one value for `column` (see the module docstring); nulls included."""
    decimal = st.parse_decimal(column.base)
    check = _decimal(*decimal) if decimal else _NORMALIZERS[column.base]
    nullable = column.nullable

    def normalize(v: object) -> object:
        if v is None:
            if nullable:
                return None
            raise BadValue("null is not allowed in a key column")
        return check(v)

    return normalize
