"""List options read from the JSON body of a GET: where, orderBy, page, page size, select.

Decisions where production is unknown: the page size is read from `per_page` or `perPage` (first wins),
capped at MAX_PER_PAGE; a malformed body, an unknown column or operator answers 503 UNKNOWN_ERROR (the
API's catch-all); pages past the end are empty; ties in `orderBy` fall back to ascending `id`.
"""

from __future__ import annotations

import json
import operator
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from .timefmt import looks_like_datetime, normalise

DEFAULT_PER_PAGE = {"orders": 50, "events": 10, "clients": 100, "discounts": 100, "promo-codes": 500}
MAX_PER_PAGE = 1000
T = TypeVar("T")


class BadQuery(Exception):
    """The request cannot be answered; the API replies 503 UNKNOWN_ERROR."""


def parse_body(body: bytes) -> dict:
    if not body or not body.strip():
        return {}
    try:
        options = json.loads(body)
    except ValueError as exc:
        raise BadQuery(f"body is not JSON: {exc}") from exc
    if not isinstance(options, dict):
        raise BadQuery("body must be a JSON object")
    return options


def _int(value, name: str) -> int:
    if isinstance(value, bool):
        raise BadQuery(f"{name} must be an integer")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise BadQuery(f"{name} must be an integer, got {value!r}") from exc


def page_size(options: dict, default: int) -> int:
    for key in ("per_page", "perPage"):
        if key in options:
            size = _int(options[key], key)
            return default if size < 1 else min(size, MAX_PER_PAGE)
    return default


def page_number(options: dict) -> int:
    return max(1, _int(options.get("page", 1), "page"))


def get_path(row, path: str):
    value = row
    for part in path.split("."):
        if isinstance(value, list):
            value = [item.get(part) if isinstance(item, dict) else None for item in value]
        elif isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


def _norm(value):
    return int(value) if isinstance(value, bool) else value


def _compare(op: str, left, right) -> bool:
    if left is None or right is None:
        return (left is right) if op == "=" else (left is not right) if op == "!=" else False
    if isinstance(left, (int, float)) and isinstance(right, str):
        try:
            right = float(right)
        except ValueError:
            return op == "!="
    elif isinstance(left, str) and isinstance(right, (int, float)):
        left = str(left)
        right = str(right)
    try:
        if op == "=":
            return left == right
        if op == "!=":
            return left != right
        if op == "<":
            return left < right
        if op == ">":
            return left > right
        if op == "<=":
            return left <= right
        return left >= right
    except TypeError:
        return False


OPERATORS = {"=", "!=", "<", ">", "<=", ">=", "in", "not in", "in array", "not in array", "null", "not null"}


def compile_where(where, columns: set[str] | None) -> Callable[[dict], bool]:
    if where in (None, [], {}):
        return lambda row: True
    if isinstance(where, dict):
        where = [where]
    if not isinstance(where, list):
        raise BadQuery("where must be a list of conditions")
    tests = []
    for cond in where:
        if not isinstance(cond, dict) or not isinstance(cond.get("column"), str):
            raise BadQuery(f"bad where condition {cond!r}")
        column = cond["column"]
        op = str(cond.get("operator", "=")).lower().strip()
        if op not in OPERATORS:
            raise BadQuery(f"unknown where operator {op!r}")
        if columns is not None and column.split(".")[0] not in columns:
            raise BadQuery(f"unknown column {column!r}")
        tests.append(("." in column, _condition(column, op, cond.get("value"))))
    # AND is order-free: plain columns first, so the costlier nested conditions see fewer rows.
    ordered = [test for _, test in sorted(tests, key=lambda pair: pair[0])]
    return lambda row: all(test(row) for test in ordered)


def _prepare(value):
    # Datetimes are compared as strings in the API's own `+03:00` form, so convert the filter value once.
    if isinstance(value, str) and looks_like_datetime(value):
        try:
            return normalise(value)
        except ValueError as exc:
            raise BadQuery(f"bad datetime {value!r}") from exc
    return _norm(value)


_STRING_OPS = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, ">": operator.gt, "<=": operator.le,
               ">=": operator.ge}


def _nested_string_test(column: str, op: str, value: str) -> Callable[[dict], bool]:
    """`list.leaf <op> 'text'` (e.g. `baskets.updated_at >= …`) without building value lists: the same
    answer as the generic path (string leaves compare directly, anything else goes through `_compare`)."""
    head, leaf = column.split(".", 1)
    compare = _STRING_OPS[op]

    def test(row) -> bool:
        items = row.get(head)
        if not isinstance(items, list):
            return any(_compare(op, _norm(v), value) for v in [get_path(row, column)])
        for item in items:
            got = item.get(leaf) if isinstance(item, dict) else None
            if (compare(got, value) if got.__class__ is str else _compare(op, _norm(got), value)):
                return True
        return False

    return test


def _condition(column: str, op: str, value) -> Callable[[dict], bool]:
    value = [_prepare(v) for v in value] if isinstance(value, list) else _prepare(value)
    many = "." in column
    if op in _STRING_OPS and isinstance(value, str):
        if not many:
            compare = _STRING_OPS[op]

            def plain(row) -> bool:
                got = row.get(column)
                return compare(got, value) if got.__class__ is str else _compare(op, _norm(got), value)

            return plain
        if column.count(".") == 1:
            return _nested_string_test(column, op, value)

    def values(row):
        if not many:
            return (_norm(row.get(column)),)
        got = get_path(row, column)
        return [_norm(v) for v in got] if isinstance(got, list) else [_norm(got)]

    if op == "null":
        return lambda row: any(v is None for v in values(row))
    if op == "not null":
        return lambda row: any(v is not None for v in values(row))
    if op in ("in", "not in"):
        options = value if isinstance(value, list) else [value]
        # `id in [...]` is a key lookup in the real API: integers match through a set, the same answer
        # as comparing one by one (an int equals only ints, and floats of its value, which go that way).
        integers = frozenset(o for o in options if o.__class__ is int)

        def hit(row):
            if not many:
                got = row.get(column)
                if got.__class__ is int and (got in integers or len(integers) == len(options)):
                    return got in integers
            return any(any(_compare("=", v, o) for o in options) for v in values(row))

        return hit if op == "in" else (lambda row: not hit(row))
    if op in ("in array", "not in array"):
        wanted = value if isinstance(value, list) else [value]

        def contains(row):
            got = get_path(row, column)
            got = got if isinstance(got, list) else [got]
            return any(_norm(w) in [_norm(g) for g in got] for w in wanted)

        return contains if op == "in array" else (lambda row: not contains(row))
    return lambda row: any(_compare(op, v, value) for v in values(row))


def _sort_key(column: str):
    if "." not in column:

        def plain(row):
            v = row.get(column)
            if isinstance(v, bool):
                v = int(v)
            elif isinstance(v, (dict, list)):
                v = json.dumps(v, sort_keys=True)
            return (v is not None, v if v is not None else 0)

        return plain

    def key(row):
        v = _norm(get_path(row, column))
        if isinstance(v, (dict, list)):
            v = json.dumps(v, sort_keys=True)
        return (v is not None, v if v is not None else 0)

    return key


def sort_rows(rows: list[dict], order_by, columns: set[str] | None, default: list[str]) -> list[dict]:
    if order_by in (None, [], {}):
        keys = [(c, False) for c in default]
    elif isinstance(order_by, dict):
        keys = []
        for column, direction in order_by.items():
            d = str(direction).lower()
            if d not in ("asc", "desc"):
                raise BadQuery(f"orderBy direction must be asc or desc, got {direction!r}")
            if columns is not None and column.split(".")[0] not in columns:
                raise BadQuery(f"unknown orderBy column {column!r}")
            keys.append((column, d == "desc"))
    else:
        raise BadQuery("orderBy must be an object {column: asc|desc}")
    out = sorted(rows, key=lambda r: r["id"])
    while keys and keys[-1] == ("id", False):  # already the base order
        keys.pop()
    for column, reverse in reversed(keys):
        out.sort(key=_sort_key(column), reverse=reverse)
    return out


def project(row: dict, fields: list[str]) -> dict:
    out: dict = {}
    for path in fields:
        _put(out, row, path.split("."))
    return out


def _put(out: dict, row, parts: list[str]) -> None:
    head = parts[0]
    if not isinstance(row, dict) or head not in row:
        return
    value = row[head]
    if len(parts) == 1:
        out[head] = value
    elif isinstance(value, list):
        target = out.get(head)
        if not isinstance(target, list):
            target = out[head] = [{} for _ in value]
        for slot, item in zip(target, value, strict=True):
            _put(slot, item, parts[1:])
    elif isinstance(value, dict):
        _put(out.setdefault(head, {}), value, parts[1:])


class ResultCache:
    """Filtered+sorted row lists per (resource, where, orderBy, state version): paging is O(page)."""

    def __init__(self, size: int = 32):
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        hit = self._items.get(key)
        if hit is not None:
            self._items.move_to_end(key)
            return hit
        value = build()
        self._items[key] = value
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return value


_LOWER = {">=": bisect_left, ">": bisect_right}
_UPPER = {"<": bisect_left, "<=": bisect_right}


def leading_ascending_column(order_by) -> str | None:
    """The first `orderBy` column when it sorts ascending on a plain (non-dotted) field."""
    if not isinstance(order_by, dict) or not order_by:
        return None
    column, direction = next(iter(order_by.items()))
    return column if str(direction).lower() == "asc" and "." not in column else None


def sort_keys(rows: list[dict], column: str) -> list:
    return [_sort_key(column)(r) for r in rows]


def split_range_conditions(where, column: str) -> tuple[list, list]:
    """(range conditions on `column`, every other condition) of a validated `where`."""
    conditions = [where] if isinstance(where, dict) else list(where or [])
    ranged = [c for c in conditions if isinstance(c, dict) and c.get("column") == column
              and str(c.get("operator", "=")).lower().strip() in _LOWER | _UPPER]
    return ranged, [c for c in conditions if c not in ranged]


def filter_sorted(rows: list[dict], keys: list, keep: Callable[[dict], bool]) -> tuple[list[dict], list]:
    """The rows that `keep` accepts, with their sort keys (order kept)."""
    pairs = [(row, key) for row, key in zip(rows, keys, strict=True) if keep(row)]
    return [row for row, _ in pairs], [key for _, key in pairs]


def narrow_by_range(rows: list[dict], keys: list, where, column: str) -> tuple[list[dict], list]:
    """Answer the range conditions on the leading sort column by bisection (keyset paging stays O(page)).

    Returns the matching slice of `rows` (sorted by `column`, with `keys` its sort keys) and the
    conditions still to apply. Falls back to (rows, where) whenever the bisection would not agree with
    the row-by-row comparison (mixed types, lists, dotted columns).
    """
    if not isinstance(where, list):
        return rows, where
    lo, hi, rest = bisect_left(keys, (True,)), len(keys), []
    try:
        for cond in where:
            op = str(cond.get("operator", "=")).lower().strip() if isinstance(cond, dict) else ""
            if not (isinstance(cond, dict) and cond.get("column") == column and op in _LOWER | _UPPER):
                rest.append(cond)
                continue
            value = _prepare(cond.get("value"))
            sample = keys[lo][1] if lo < len(keys) else None
            if isinstance(value, (list, dict)) or value is None or (
                sample is not None and isinstance(sample, str) != isinstance(value, str)
            ):
                return rows, where
            if op in _LOWER:
                lo = max(lo, _LOWER[op](keys, (True, value)))
            else:
                hi = min(hi, _UPPER[op](keys, (True, value)))
    except TypeError:
        return rows, where
    return rows[lo:max(lo, hi)], rest
