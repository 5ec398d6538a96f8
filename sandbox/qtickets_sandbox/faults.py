"""Fault injection rules for /_sandbox/faults (tests and benches only)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

KINDS = {"status", "delay", "drop", "truncate", "ignore_filters", "dotted_filters", "page_drift"}
# How a `dotted_filters` fault treats `where` conditions on nested columns (`baskets.updated_at`): the
# production behaviour of those is unproven, so a client must survive each of these.
DOTTED_MODES = {"ignore", "reject", "empty"}


class BadRule(ValueError):
    pass


@dataclass
class Rule:
    match: str
    fault: str
    count: int | None = None
    after: int = 0
    status: int = 503
    retry_after: float | None = None
    seconds: float = 0.0
    orders: int = 1
    mode: str = "ignore"
    seen: int = 0
    hits: int = 0
    extra: dict = field(default_factory=dict)

    def describe(self) -> dict:
        out: dict[str, object] = {
            "match": self.match,
            "fault": self.fault,
            "count": self.count,
            "after": self.after,
            "seen": self.seen,
            "hits": self.hits,
        }
        if self.fault == "status":
            out.update(status=self.status, retry_after=self.retry_after)
        elif self.fault == "delay":
            out["seconds"] = self.seconds
        elif self.fault == "page_drift":
            out["orders"] = self.orders
        elif self.fault == "dotted_filters":
            out["mode"] = self.mode
        return out


def _number(rule: dict, key: str, default, kind=float, minimum=0):
    value = rule.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise BadRule(f"fault rule field {key!r} must be a number >= {minimum}, got {value!r}")
    return kind(value)


def parse_rule(raw) -> Rule:
    if not isinstance(raw, dict):
        raise BadRule(f"fault rule must be an object, got {raw!r}")
    match, kind = raw.get("match"), raw.get("fault")
    if not isinstance(match, str) or not match.startswith("/"):
        raise BadRule(f"fault rule 'match' must be a path prefix starting with '/', got {match!r}")
    if kind not in KINDS:
        raise BadRule(f"fault rule 'fault' must be one of {sorted(KINDS)}, got {kind!r}")
    mode = raw.get("mode", "ignore")
    if kind == "dotted_filters" and mode not in DOTTED_MODES:
        raise BadRule(f"fault rule field 'mode' must be one of {sorted(DOTTED_MODES)}, got {mode!r}")
    status = _number(raw, "status", 503, int, 100)
    if status > 599:
        raise BadRule(f"fault rule field 'status' must be an HTTP status, got {status!r}")
    return Rule(
        match=match,
        fault=kind,
        count=_number(raw, "count", None, int),
        after=_number(raw, "after", 0, int),
        status=status,
        retry_after=_number(raw, "retry_after", None),
        seconds=_number(raw, "seconds", 0.0),
        orders=_number(raw, "orders", 1, int),
        mode=mode,
    )


RuleList = list[Rule]  # FaultBook.list() shadows the builtin inside the class body


class FaultBook:
    def __init__(self):
        self._rules: RuleList = []
        self._lock = threading.Lock()

    def set(self, raw_rules) -> list[dict]:
        if not isinstance(raw_rules, list):
            raise BadRule('body must be {"rules": [RULE, ...]}')
        rules = [parse_rule(r) for r in raw_rules]
        with self._lock:
            self._rules = rules
            return [r.describe() for r in self._rules]

    def clear(self) -> None:
        with self._lock:
            self._rules = []

    def list(self) -> list[dict]:
        with self._lock:
            return [r.describe() for r in self._rules]

    def hit(self, path: str) -> RuleList:
        """Rules that apply to this request (each matching rule counts it, then decides by after/count)."""
        applied = []
        with self._lock:
            for rule in self._rules:
                if not path.startswith(rule.match):
                    continue
                rule.seen += 1
                if rule.seen <= rule.after or (rule.count is not None and rule.hits >= rule.count):
                    continue
                rule.hits += 1
                applied.append(rule)
        return applied
