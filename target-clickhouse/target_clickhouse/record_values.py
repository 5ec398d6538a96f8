"""A record → the tuple of its values for a table's columns, in column order (absent → None).

Two ways, same result: from a decoded dict (the SDK path), or straight from the record's raw JSON
through a msgspec Struct built for the table's columns (the reader's fast path: one C-level decode,
no dict, and a Struct without GC tracking). Properties the table has no column for are skipped;
JSON numbers with a fraction become `Decimal`, as in the SDK's msgspec decoding. The Struct's
`required` fields (the key properties) have no default, so a record without one fails to decode
and takes the dict path, which reports it.
"""

from __future__ import annotations

import decimal
import typing as t
from collections.abc import Callable, Collection, Sequence
from operator import attrgetter

import msgspec
from singer_sdk.contrib.msgspec import dec_hook

ValuesGetter = Callable[[t.Any], tuple]


def _tuple_getter(getter: Callable[[t.Any], t.Any], count: int) -> ValuesGetter:
    if count == 1:  # attrgetter/itemgetter of one name returns the value, not a 1-tuple
        return lambda item: (getter(item),)
    return getter


def record_values_getter(names: Sequence[str]) -> ValuesGetter:
    """dict → tuple of `record.get(name)` for each name."""
    names = list(names)
    return lambda record: tuple(map(record.get, names))


def raw_record_decoder(names: Sequence[str], required: Collection[str] = ()) -> ValuesGetter:
    """Raw JSON of a record → the same tuple as `record_values_getter`.

    Raises msgspec.DecodeError when it is not an object, or (msgspec.ValidationError, a DecodeError)
    when one of the `required` names is absent."""
    if not names:
        decode_empty = msgspec.json.Decoder(dict).decode
        return lambda raw: (decode_empty(raw), ())[1]
    # Field names are positional (f0, f1, …) and renamed to the columns, so any column name works.
    fields = [f"f{index}" for index in range(len(names))]
    struct = msgspec.defstruct(
        "RecordValues",
        [
            (field, t.Any) if name in required else (field, t.Any, None)
            for field, name in zip(fields, names, strict=True)
        ],
        rename=dict(zip(fields, names, strict=True)),
        kw_only=True,  # required and optional fields in any order
        gc=False,
    )
    decode = msgspec.json.Decoder(struct, dec_hook=dec_hook, float_hook=decimal.Decimal).decode
    values = _tuple_getter(attrgetter(*fields), len(fields))
    return lambda raw: values(decode(raw))
