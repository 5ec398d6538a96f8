"""Webhook settings of /_sandbox/webhooks: where to send, the shared secret, pacing, and delivery faults."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from urllib.parse import urlsplit

MAX_ATTEMPTS = 10  # production: 10 attempts in all (qtickets-api.md §11)
DEFAULTS = {"secret": "", "time_scale": 1.0, "timeout": 10.0, "concurrency": 1, "max_pending": 50_000}
# Checked in this order; the first that fires is the delivery's only fault.
FAULT_KINDS = ("dropped", "duplicate", "out_of_order", "delayed")
# Kind-specific settings, with their defaults.
FAULT_PARAMS: dict[str, dict[str, float]] = {"out_of_order": {"hold": 1}, "delayed": {"seconds": 30.0}}


class BadWebhooks(ValueError):
    pass


def retry_wait(attempt: int, time_scale: float) -> float:
    """Seconds between attempt `attempt` and the next: attempt³ (1, 8, 27, …), divided by time_scale."""
    return attempt**3 / time_scale


def _number(raw: dict, key: str, default, *, where: str, minimum: float, maximum: float, kind=float):
    value = raw.get(key, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not minimum <= value <= maximum:
        raise BadWebhooks(f"{where} {key!r} must be a number in [{minimum}, {maximum}], got {value!r}")
    if kind is int and value != int(value):
        raise BadWebhooks(f"{where} {key!r} must be a whole number, got {value!r}")
    return kind(value)


def _known_keys(raw: dict, allowed, where: str) -> None:
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise BadWebhooks(f"{where}: unknown key(s) {unknown}; known: {sorted(allowed)}")


@dataclass
class FaultSpec:
    """One fault kind: deliveries after the first `after` get it with probability `rate`, `count` times."""

    kind: str
    rate: float = 1.0
    count: int | None = None
    after: int = 0
    params: dict = field(default_factory=dict)
    seen: int = 0
    hits: int = 0

    def describe(self) -> dict:
        return {"rate": self.rate, "count": self.count, "after": self.after, **self.params,
                "seen": self.seen, "hits": self.hits}


def _parse_spec(kind: str, raw) -> FaultSpec:
    where = f"webhook fault {kind!r}"
    if not isinstance(raw, dict):
        raise BadWebhooks(f'{where} must be an object like {{"rate": 0.1}} or {{"count": 2}}, got {raw!r}')
    params = FAULT_PARAMS.get(kind, {})
    _known_keys(raw, {"rate", "count", "after", *params}, where)
    values = {
        key: _number(raw, key, default, where=where, minimum=1 if key == "hold" else 0, maximum=10**6,
                     kind=int if key == "hold" else float)
        for key, default in params.items()
    }
    return FaultSpec(
        kind=kind,
        rate=_number(raw, "rate", 1.0, where=where, minimum=0, maximum=1),
        count=_number(raw, "count", None, where=where, minimum=0, maximum=10**9, kind=int),
        after=_number(raw, "after", 0, where=where, minimum=0, maximum=10**9, kind=int),
        params=values,
    )


class FaultPlan:
    """Seeded choice of the fault (if any) each delivery gets, decided when the change is enqueued."""

    def __init__(self, raw):
        raw = {} if raw is None else raw
        if not isinstance(raw, dict):
            raise BadWebhooks(f"webhook 'faults' must be an object keyed by {list(FAULT_KINDS)}, got {raw!r}")
        _known_keys(raw, {"seed", *FAULT_KINDS}, "webhook 'faults'")
        self.seed = _number(raw, "seed", 0, where="webhook 'faults'", minimum=0, maximum=2**63, kind=int)
        self.rng = random.Random(self.seed)
        self.specs = [_parse_spec(kind, raw[kind]) for kind in FAULT_KINDS if kind in raw]

    def decide(self) -> FaultSpec | None:
        for spec in self.specs:
            spec.seen += 1
            if spec.seen <= spec.after or (spec.count is not None and spec.hits >= spec.count):
                continue
            if spec.rate >= 1 or self.rng.random() < spec.rate:
                spec.hits += 1
                return spec
        return None

    def describe(self) -> dict:
        return {"seed": self.seed, **{spec.kind: spec.describe() for spec in self.specs}}


@dataclass
class Config:
    url: str
    secret: str
    time_scale: float
    timeout: float
    concurrency: int
    max_pending: int
    faults: FaultPlan

    def describe(self) -> dict:
        """The settings as GET shows them: the secret itself never leaves the sandbox."""
        return {"url": self.url, "secret_set": bool(self.secret), "time_scale": self.time_scale,
                "timeout": self.timeout, "concurrency": self.concurrency, "max_pending": self.max_pending,
                "max_attempts": MAX_ATTEMPTS, "faults": self.faults.describe()}


def parse_config(raw) -> Config:
    if not isinstance(raw, dict):
        raise BadWebhooks(f'webhooks body must be an object like {{"url": "http://127.0.0.1:9000/hook"}}, '
                          f"got {raw!r}")
    _known_keys(raw, {"url", "faults", *DEFAULTS}, "webhooks")
    url = raw.get("url")
    bad_url = BadWebhooks(f"webhook 'url' must be an http:// or https:// URL with a host, got {url!r}")
    if not isinstance(url, str):
        raise bad_url
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise bad_url from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad_url
    secret = raw.get("secret", DEFAULTS["secret"])
    if not isinstance(secret, str):
        raise BadWebhooks("webhook 'secret' must be a string")  # its value is never echoed
    return Config(
        url=url,
        secret=secret,
        time_scale=_number(raw, "time_scale", DEFAULTS["time_scale"], where="webhook", minimum=1e-3,
                           maximum=1e9),
        timeout=_number(raw, "timeout", DEFAULTS["timeout"], where="webhook", minimum=0.05, maximum=600),
        concurrency=_number(raw, "concurrency", DEFAULTS["concurrency"], where="webhook", minimum=1,
                            maximum=32, kind=int),
        max_pending=_number(raw, "max_pending", DEFAULTS["max_pending"], where="webhook", minimum=1,
                            maximum=10**6, kind=int),
        faults=FaultPlan(raw.get("faults")),
    )
