"""JSON bodies → Python, once per response.

Bodies are decoded with msgspec (JSON floats as `Decimal`, so money stays exact). A stream that reads many
rows (orders) decodes its pages into a row type built from the fields it keeps: msgspec then skips every
other key (PII, bulky maps) without building a Python object for it. Values keep their JSON types (`Any`):
the compiled normaliser (normalize.py) converts and checks them, with the same leniency as for rows decoded
without a type. The many small objects inside a row (an order's baskets) are decoded into a `Struct` instead
(`item_type`): no dict to build per object, and msgspec encodes it back as it is, its unset fields left out.

A body is decoded in `validate_response` (so a truncated one is retried) and read later by the paginator
and `parse_response`: `remember` / `body_of` carry it from one to the others, keyed by the response object
and held weakly, so a body lives exactly as long as its response.
"""

from __future__ import annotations

import json
import keyword
import typing as t
import weakref
from decimal import Decimal

import msgspec

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    import requests

JSON_DECODER = msgspec.json.Decoder(float_hook=Decimal)
ENVELOPE_KEYS = ("paging", "status", "code", "message", "error")  # what the tap reads besides `data`

_BODIES: weakref.WeakKeyDictionary[requests.Response, t.Any] = weakref.WeakKeyDictionary()


def decode_json(content: bytes, decoder: msgspec.json.Decoder = JSON_DECODER) -> t.Any:
    """Raises `msgspec.ValidationError` when a typed decoder meets another shape, `ValueError` when the body
    is not JSON (the stdlib's error text, which names the position)."""
    try:
        return decoder.decode(content)
    except msgspec.ValidationError:
        raise
    except msgspec.DecodeError:
        return json.loads(content, parse_float=Decimal)


def row_type(name: str, fields: Iterable[str], nested: dict[str, t.Any] | None = None) -> type:
    """A TypedDict of `fields` (any JSON value) plus `nested` (field → type): the keys decoded from a row."""
    annotations: dict[str, t.Any] = dict.fromkeys(fields, t.Any)
    annotations.update(nested or {})
    return t.TypedDict(name, annotations, total=False)  # type: ignore[operator]


def item_type(name: str, fields: Iterable[str]) -> type[msgspec.Struct]:
    """A Struct of `fields` (any JSON value; `UNSET`, left out when encoded, if the object lacks it)."""
    names = sorted(fields)
    bad = [field for field in names if not field.isidentifier() or keyword.iskeyword(field)]
    if bad:
        msg = f"{name}: {bad} cannot be attributes"
        raise ValueError(msg)
    return msgspec.defstruct(name, [(field, t.Any, msgspec.UNSET) for field in names], gc=False)


def set_fields(item: msgspec.Struct) -> dict[str, t.Any]:
    """The fields of an `item_type` object that are set, as a dict."""
    return {name: value for name in item.__struct_fields__
            if (value := getattr(item, name)) is not msgspec.UNSET}


def page_decoder(row: type) -> msgspec.json.Decoder:
    """Decoder of `{"data": [row...], "paging": ...}` pages (and of the API's error bodies)."""
    rows: t.Any = list[row] | None  # type: ignore[valid-type]
    envelope = t.TypedDict(  # type: ignore[misc]
        f"{row.__name__}Page", {"data": rows, **dict.fromkeys(ENVELOPE_KEYS, t.Any)}, total=False)
    return msgspec.json.Decoder(envelope, float_hook=Decimal)


def remember(response: requests.Response, body: t.Any) -> None:
    _BODIES[response] = body


def body_of(response: requests.Response) -> t.Any:
    """The body `validate_response` decoded (decoded now, without a row type, if it did not)."""
    try:
        return _BODIES[response]
    except KeyError:
        body = _BODIES[response] = decode_json(response.content)
        return body
