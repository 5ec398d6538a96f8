"""JSON shape descriptions used by golden tests: which keys (in which order) and JSON types occur where.

`shape(doc)` maps each path (`data[].baskets[].price`) to the set of JSON types seen there, and each
object path to the set of key tuples seen there. Objects whose keys are data (zone ids, seat ids, row
numbers) are treated as maps: their values share one path `…{}`.
"""

from __future__ import annotations

import re

MAP_PATHS = [
    re.compile(p)
    for p in (
        r"\.scheme_properties\.admin\.zones$",
        r"\.scheme_properties\.admin\.zones\{\}\.rows$",
        r"\.scheme_properties\.zones$",
        r"\.scheme_properties\.zones\{\}\.rows$",
        r"\.scheme_properties\.seats$",
    )
]


def json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def shape(doc, map_paths=MAP_PATHS) -> dict[str, dict[str, set]]:
    out: dict[str, dict[str, set]] = {}

    def walk(value, path: str) -> None:
        entry = out.setdefault(path, {"types": set(), "keys": set()})
        entry["types"].add(json_type(value))
        if isinstance(value, dict):
            if any(p.search(path) for p in map_paths):
                for item in value.values():
                    walk(item, path + "{}")
            else:
                entry["keys"].add(tuple(value))
                for key, item in value.items():
                    walk(item, f"{path}.{key}" if path else key)
        elif isinstance(value, list):
            for item in value:
                walk(item, path + "[]")

    walk(doc, "")
    return out


def differences(actual, expected, allowed_types: dict[str, set] | None = None, extra=()) -> list[str]:
    """What `actual` has that `expected` (the capture, plus `extra` documents of the same kind) never
    shows: unknown paths, key sets, types."""
    allowed_types = allowed_types or {}
    a, e = shape(actual), shape(expected)
    for doc in extra:
        for path, entry in shape(doc).items():
            target = e.setdefault(path, {"types": set(), "keys": set()})
            target["types"] |= entry["types"]
            target["keys"] |= entry["keys"]
    problems = []
    for path, got in sorted(a.items()):
        want = e.get(path)
        if want is None:
            problems.append(f"{path or '<root>'}: not in the capture")
            continue
        extra_types = got["types"] - want["types"] - allowed_types.get(path, set())
        if extra_types:
            problems.append(f"{path}: types {sorted(extra_types)} not in capture {sorted(want['types'])}")
        for keys in got["keys"] - want["keys"]:
            problems.append(f"{path}: key set {list(keys)} not in capture {[list(k) for k in want['keys']]}")
    return problems
