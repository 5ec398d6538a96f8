"""Schema-driven record clean-up: UTC date-times, decimal strings, PHP empties, unknown keys dropped.

A schema is compiled once into per-field converters (records are many, schemas are few). Values that
already have the schema's Python type (an `int` for an integer field, a `str` for a string...) are copied
without a function call: that is most values, and the per-record cost is what bounds the tap's speed.
"""

from __future__ import annotations

import datetime as dt
import keyword
import typing as t
from decimal import Decimal, InvalidOperation
from functools import lru_cache

import msgspec

from tap_qtickets.decoding import set_fields
from tap_qtickets.errors import QTicketsError

MOSCOW = dt.timezone(dt.timedelta(hours=3))
DECIMAL_FORMAT = "x-singer.decimal"
Converter = t.Callable[[t.Any], t.Any]
_SHOWN_VALUE_CHARS = 80


class BadValue(ValueError):  # internal signal, turned into a QTicketsError naming the field
    """A value that cannot be read as its schema type; `path` is filled in on the way out."""

    def __init__(self, expected: str, value: t.Any) -> None:
        super().__init__(expected, value)
        self.expected, self.value = expected, value
        self.path: list[str] = []


def _shown(value: t.Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_VALUE_CHARS else text[:_SHOWN_VALUE_CHARS] + "…"


def record_error(stream: str, record_id: t.Any, field: str, problem: str) -> QTicketsError:
    """`orders: record id=17: field 'price' expects decimal, got 'abc'` (one line, value cut short)."""
    return QTicketsError(f"{stream}: record id={record_id}: field '{field}' {problem}")


def missing_key_error(stream: str, key: str) -> QTicketsError:
    return record_error(stream, "<missing>", key, "(key property) is missing or null")


def parse_api_datetime(value: str) -> dt.datetime:
    """Parse an API datetime (`+03:00`, `+0300`, `Z` or naive = Moscow wall clock)."""
    parsed = dt.datetime.fromisoformat(value.strip())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=MOSCOW)


@lru_cache(maxsize=8192)  # bounded: peak memory must not grow with history size
def _utc_text(value: str) -> str:
    return parse_api_datetime(value).astimezone(dt.UTC).isoformat()


# Most API stamps are `YYYY-MM-DDTHH:MM:SS+03:00`. Moscow's offset is whole hours, so the UTC text is the
# UTC text of the stamp's hour (`YYYY-MM-DDTHH`, converted once per hour by `datetime`, which also rejects
# an invalid date) followed by its own minutes and seconds: two dictionary lookups per stamp. The table of
# valid `:MM:SS+03:00` tails doubles as the check of the rest of the text; anything else goes through
# `datetime`, so it is converted — or rejected — the same way.
_UTC_TAIL = {f":{m:02d}:{s:02d}+03:00": f":{m:02d}:{s:02d}+00:00" for m in range(60) for s in range(60)}
_UTC_HEAD: dict[str, str] = {}
_UTC_HEAD_MAX = 1 << 14  # hours (~1.9 years): peak memory must not grow with history size


def _utc_head(head: str) -> str:
    text = _utc_text(f"{head}:00:00+03:00")[:13]
    if len(_UTC_HEAD) >= _UTC_HEAD_MAX:
        _UTC_HEAD.clear()
    _UTC_HEAD[head] = text
    return text


def to_utc_iso(value: t.Any) -> str | None:
    """`2025-03-14T18:02:11+03:00` → `2025-03-14T15:02:11+00:00`; empty → None."""
    try:
        if type(value) is str:
            tail = _UTC_TAIL.get(value[13:])
            if tail is not None:
                return (_UTC_HEAD.get(value[:13]) or _utc_head(value[:13])) + tail
            return _utc_text(value) if value else None
        if value is None or value == [] or value == "":
            return None
        if isinstance(value, dt.datetime):
            return (value if value.tzinfo else value.replace(tzinfo=MOSCOW)).astimezone(dt.UTC).isoformat()
        if isinstance(value, (dict, list, bool)):
            raise BadValue("date-time", value)
        return _utc_text(str(value))
    except ValueError:
        raise BadValue("date-time", value) from None


def to_api_datetime(value: dt.datetime) -> str:
    """Format a datetime the way the API writes them (Moscow wall clock, colon offset)."""
    return value.astimezone(MOSCOW).replace(microsecond=0).isoformat()


def to_decimal_str(value: t.Any) -> str | None:
    """Money as an exact decimal string (never a binary float)."""
    if type(value) is Decimal:  # the JSON decoder's float_hook
        return format(value, "f")
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        value = repr(value)
    elif not isinstance(value, str):  # bool, list, map...
        raise BadValue("decimal", value)
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise BadValue("decimal", value) from None
    if not number.is_finite():
        raise BadValue("decimal", value)
    return format(number, "f")


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
    if isinstance(value, float) and "number" in types:
        return value
    if "string" in types and isinstance(value, str):
        return value
    return _wrong_scalar(value, types)


def _wrong_scalar(value: t.Any, types: frozenset[str]) -> t.Any:
    """Only reached by values of none of the field's types: `""` (PHP empty) is null, else BadValue."""
    if value == "" or value == []:
        return None
    for name in ("integer", "number", "boolean"):
        if name in types:
            raise BadValue(name, value)
    return value


class _AlwaysConvert:
    """Pass-through type of fields whose every non-null value goes through the converter."""


def _passthrough_type(schema: dict) -> type:
    """The Python type whose values `compile_schema(schema)` returns unchanged (else `_AlwaysConvert`)."""
    if schema.get("format") in ("date-time", DECIMAL_FORMAT):
        return _AlwaysConvert
    types = _types(schema)
    if "object" in types:
        return _AlwaysConvert if schema.get("properties") else dict
    for name, kind in (("integer", int), ("boolean", bool), ("string", str), ("number", int)):
        if name in types:
            return kind
    return _AlwaysConvert


class FieldSet:
    """Compiled properties of one object schema.

    `apply` and `conform` are generated source: one straight-line statement per schema property (`exec` of
    names we control, never of data), about twice as fast as a loop over the row with per-key lookups.
    Values already of the pass-through type are kept without a call.

    - `apply(row)` returns a new dict: keys missing from the schema (PII when excluded, bulky maps) are
      dropped.
    - `conform(row)` converts in place and returns `row`, for rows that hold schema keys only (decoded with
      a row type, decoding.py): same values as `apply`, without copying the ones that need no conversion;
      then checks that `key` (if any) is not null.
    - `conform_item(item)` is `conform` for an `item_type` Struct (decoding.py) holding these properties:
      unset fields stay unset. None when a property name cannot be an attribute.

    A wrong value raises `fail(row, error)` (default: the error with the field's name, `locate`).
    """

    __slots__ = ("apply", "conform", "conform_item", "converters", "keep")

    def __init__(self, props: dict, fail: t.Callable[[dict, BadValue], Exception] | None = None,
                 key: str | None = None, missing_key: t.Callable[[], Exception] | None = None) -> None:
        self.converters = {name: compile_schema(prop) for name, prop in props.items()}
        self.keep = {name: _passthrough_type(prop) for name, prop in props.items()}
        namespace: dict[str, t.Any] = {}
        copying, in_place, on_item = [], [], []
        for index, name in enumerate(props):
            convert, kind = self.converters[name], self.keep[name]
            namespace[f"c{index}"], namespace[f"k{index}"] = convert, kind
            if convert is None:
                copying.append(f"    if {name!r} in row: out[{name!r}] = row[{name!r}]")
                continue
            copying += [f"    v = get({name!r})",
                        f"    if v is not None: out[{name!r}] = {_converted(convert, index)}",
                        f"    elif {name!r} in row: out[{name!r}] = None"]
            changed = ("v is not None" if convert in _ALWAYS_CONVERTING
                       else f"v is not None and type(v) is not k{index}")
            in_place += [f"    v = get({name!r})",
                         f"    if {changed}: row[{name!r}] = {_converted(convert, index)}"]
            on_item += [f"    v = row.{name}",
                        f"    if {changed} and v is not UNSET: row.{name} = {_converted(convert, index)}"]
        keyed, item_keyed = [], []
        if key is not None:
            namespace["missing"] = missing_key
            keyed = [f"  if row.get({key!r}) is None:", "    raise missing()"]
            item_keyed = [f"  if row.{key} is None or row.{key} is UNSET:", "    raise missing()"]
        # Converters, types and caches bound as defaults: locals are cheaper to load than globals.
        namespace.update(BadValue=BadValue, fail=fail or self._locate, UNSET=msgspec.UNSET,
                         as_dict=set_fields)
        defaults = "".join(f", {name}={name}" for name in namespace)
        # The try block costs nothing until a value is wrong (Python >= 3.11 zero-cost exceptions).
        failed = ["  except BadValue as exc:", "    raise fail(row, exc) from None"]
        source = [
            f"def apply(row{defaults}):", "  try:", "    out = {}", "    get = row.get", *copying,
            "    return out", *failed,
            f"def conform(row{defaults}):", "  try:", "    get = row.get", *in_place, *failed, *keyed,
            "  return row"]
        attributes = all(name.isidentifier() and not keyword.iskeyword(name) for name in props)
        if attributes:
            source += [f"def conform_item(row{defaults}):", "  try:", "    pass", *on_item,
                       "  except BadValue as exc:", "    raise fail(as_dict(row), exc) from None",
                       *item_keyed, "  return row"]
        exec("\n".join(source), namespace)
        self.apply: Converter = namespace["apply"]
        self.conform: Converter = namespace["conform"]
        self.conform_item: Converter | None = namespace["conform_item"] if attributes else None

    def _locate(self, row: dict, caught: BadValue) -> BadValue:
        """Error path only: convert field by field again to find the one that failed, prefix its name."""
        for name, convert in self.converters.items():
            value = row.get(name)
            if convert is None or value is None or type(value) is self.keep[name]:
                continue
            try:
                convert(value)
            except BadValue as exc:
                exc.path.insert(0, name)
                return exc
        return caught


def _converted(convert: Converter, index: int) -> str:
    """The expression converting `v` (not None) with converter `c{index}`: an integer amount (the common
    case of the money converter) without a function call."""
    if convert is to_decimal_str:
        return f"str(v) if type(v) is int else c{index}(v)"
    return f"v if type(v) is k{index} else c{index}(v)"


_ALWAYS_CONVERTING = (to_utc_iso, to_decimal_str)  # no value passes through them unchanged


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
        fields = FieldSet(props) if props else None

        def convert_object(value: t.Any) -> t.Any:
            if not isinstance(value, dict):
                # PHP serialises an empty map as `[]` (and some maps as `""`).
                return None if value == [] or value == "" else value
            return value if fields is None else fields.apply(value)

        return convert_object
    if "array" in types:
        item = compile_schema(schema["items"]) if isinstance(schema.get("items"), dict) else None
        if item is None:
            return None
        return lambda value: [item(v) for v in value] if isinstance(value, list) else value
    if types & {"boolean", "integer", "number", "string"}:
        return lambda value: None if value is None else _scalar(value, types)
    return None


class RecordNormalizer:
    """Top-level record conformer for one stream schema.

    A value of the wrong type, or a missing/null `key` (the single key property), ends the run with a
    `QTicketsError` naming the stream, the record id, the field, the expected type and the value."""

    def __init__(self, schema: dict, stream: str = "record", key: str | None = None) -> None:
        self.properties: dict = schema["properties"]
        self.stream, self.key = stream, key
        self.fields = FieldSet(self.properties, fail=self._failure, key=key,
                               missing_key=lambda: missing_key_error(stream, key or "id"))
        self.conform: Converter = self.fields.conform  # in place, for rows of schema keys only (+ key check)
        self.conform_item = self.fields.conform_item  # the same for an `item_type` Struct

    def only(self, names: t.Collection[str]) -> RecordNormalizer:
        """The normaliser of the part of a record made of the properties among `names`."""
        part = {name: prop for name, prop in self.properties.items() if name in names}
        return RecordNormalizer({"properties": part}, self.stream, self.key if self.key in part else None)

    def convert(self, row: dict) -> dict:
        """A conformed copy, without the key check (partial rows, e.g. the order fields copied into sales)."""
        return self.fields.apply(row)

    def __call__(self, row: dict) -> dict:
        out = self.fields.apply(row)
        if self.key is not None and out.get(self.key) is None:
            raise missing_key_error(self.stream, self.key)
        return out

    def _failure(self, row: dict, caught: BadValue) -> QTicketsError:
        exc = self.fields._locate(row, caught)
        field = ".".join(exc.path) or "?"
        problem = f"expects {exc.expected}, got {_shown(exc.value)}"
        return record_error(self.stream, _shown(row.get(self.key or "id")), field, problem)
