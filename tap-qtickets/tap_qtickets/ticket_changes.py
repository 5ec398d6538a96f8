"""Ticket-level changes: what the orders stream must re-read because a ticket changed but its order did not.

A scan changes the ticket (basket `checked_at`, `updated_at`) but not the order's `updated_at` (all 39
scanned tickets in the production capture), and a refund may do the same (unknown, qtickets-api.md §17).
The order pass (`updated_at` window) cannot see those, so every run adds a ticket pass:

1. `where baskets.updated_at >= ticket bookmark − lookback` (a nested-column filter: the sandbox honours
   it, production is unproven). It is self-checked twice: every returned order must hold such a basket,
   and a probe asks for orders the order pass just saw with such a basket (`id in …`) and must get all of
   them back. A failed check marks the filter unsupported for `RECHECK_AFTER`, and the run falls back to 2.
2. Fallback: the orders of the events whose live shows (`ShowSpan.is_live`) had a ticket change, found by
   per-show digests of their ticket lists (show_digests.py) — `where event_id in …`; a deep pass also
   checks the shows finished within the refund horizon, deleted ones included. Only orders holding a ticket
   changed since the ticket window start are emitted.

A deep pass (due `deep_pass_hours` after the last one, judged by the server's clock and kept in state)
widens both look-backs to `deep_lookback_minutes`. State lives in the orders bookmark under
`STATE_KEY`, written only when the stream finishes, so a failed run changes nothing.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from dataclasses import asdict, dataclass, field

from tap_qtickets.normalize import parse_api_datetime, to_utc_iso

STATE_KEY = "ticket_changes"
VERIFIED, UNSUPPORTED = "verified", "unsupported"
RECHECK_AFTER = dt.timedelta(hours=24)  # an unsupported nested filter is tried again after this
PROBE_SAMPLES = 20


def utc_text(value: dt.datetime) -> str:
    """The form the tap emits date-times in (and compares bookmarks as): UTC ISO, whole seconds."""
    return value.astimezone(dt.UTC).replace(microsecond=0).isoformat()


@dataclass
class TicketChangeState:
    """What the ticket passes remember between runs (UTC ISO strings, server clock)."""

    bookmark: str | None = None  # newest ticket `updated_at` among the orders emitted
    deep_pass_at: str | None = None  # when the last deep pass ran
    basket_filter: str | None = None  # VERIFIED / UNSUPPORTED: the last self-check of the nested filter
    basket_filter_checked_at: str | None = None
    # The fallback's per-show ticket digests: show id → [cut, digest] (show_digests.py).
    show_digests: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, raw: t.Any) -> TicketChangeState:
        if not isinstance(raw, dict):
            return cls()
        state = cls(**{k: raw[k] for k in ("bookmark", "deep_pass_at", "basket_filter",
                                              "basket_filter_checked_at") if isinstance(raw.get(k), str)})
        digests = raw.get("show_digests")
        if isinstance(digests, dict):
            state.show_digests = {
                str(show): entry for show, entry in digests.items()
                if isinstance(entry, list) and len(entry) == 2 and all(isinstance(x, str) for x in entry)}
        return state

    def dump(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None and v != {}}

    def record_filter_check(self, outcome: str, now: dt.datetime) -> None:
        self.basket_filter, self.basket_filter_checked_at = outcome, utc_text(now)


@dataclass(frozen=True)
class Plan:
    """This run's ticket passes."""

    now: dt.datetime
    deep: bool
    lookback: dt.timedelta  # applied to both bookmarks (orders and tickets)
    ticket_since: dt.datetime  # tickets changed at or after this are read
    try_basket_filter: bool


def make_plan(
    saved: TicketChangeState, now: dt.datetime, config: t.Mapping[str, t.Any], first_start: dt.datetime
) -> Plan:
    """`first_start` is where the order window starts without a bookmark (start_date or its default)."""
    last_deep = parse_api_datetime(saved.deep_pass_at) if saved.deep_pass_at else None
    deep = last_deep is None or now - last_deep >= dt.timedelta(hours=float(config["deep_pass_hours"]))
    minutes = config["deep_lookback_minutes"] if deep else config["lookback_minutes"]
    lookback = dt.timedelta(minutes=int(minutes))
    since = parse_api_datetime(saved.bookmark) - lookback if saved.bookmark else first_start
    checked = parse_api_datetime(saved.basket_filter_checked_at) if saved.basket_filter_checked_at else None
    recently_unsupported = (saved.basket_filter == UNSUPPORTED and checked is not None
                            and now - checked < RECHECK_AFTER)
    try_filter = config.get("basket_filter", "auto") == "auto" and not recently_unsupported
    return Plan(now=now, deep=deep, lookback=lookback, ticket_since=since, try_basket_filter=try_filter)


def newest_ticket_change(order: dict) -> str | None:
    """The latest basket `updated_at` of an order, as UTC text (comparable as strings). Its baskets are
    `item_type` Structs (the orders stream's decoding) or dicts (an order decoded without a type)."""
    baskets = order.get("baskets")
    if not isinstance(baskets, list):  # none ([], "", null); anything else is refused in post_process
        return None
    newest = None
    for basket in baskets:
        stamp = basket.get("updated_at") if type(basket) is dict else basket.updated_at  # UNSET is false
        if stamp:
            stamp = to_utc_iso(stamp)
            if newest is None or (stamp is not None and stamp > newest):
                newest = stamp
    return newest


@dataclass
class TicketTracker:
    """Watches every order the stream emits: the newest ticket change, and probe samples."""

    since: str  # utc_text of the ticket window start
    newest: str | None = None
    samples: list[int] = field(default_factory=list)

    def changed(self, order: dict) -> bool:
        newest = newest_ticket_change(order)
        return newest is not None and newest >= self.since

    def see(self, order: dict, *, sample: bool = False) -> None:
        newest = newest_ticket_change(order)
        if newest is None:
            return
        if self.newest is None or newest > self.newest:
            self.newest = newest
        if sample and newest >= self.since and len(self.samples) < PROBE_SAMPLES:
            self.samples.append(int(order["id"]))


@dataclass(frozen=True)
class ShowSpan:
    """A show as the inventory and the ticket-change fallback need it (deleted shows and events included:
    their tickets can still be refunded)."""

    event_id: int
    show_id: int
    finish: dt.datetime | None  # None: no finish date, always live
    deleted: bool  # the show or its event: it will not take place

    @classmethod
    def of(cls, event_id: int, show: dict, *, event_deleted: bool = False) -> ShowSpan:
        finish = show.get("finish_date")
        return cls(event_id, int(show["id"]), parse_api_datetime(finish) if finish else None,
                   event_deleted or bool(show.get("deleted_at")))

    def finished_within(self, now: dt.datetime, span: dt.timedelta) -> bool:
        return self.finish is None or self.finish + span >= now

    def is_live(self, now: dt.datetime, grace_hours: float) -> bool:
        """Taking place (neither it nor its event deleted) and not finished more than `grace_hours` ago (by
        `now`, the server's clock): the shows whose seats are snapshotted and whose ticket changes are out
        after the next run."""
        return not self.deleted and self.finished_within(now, dt.timedelta(hours=grace_hours))
