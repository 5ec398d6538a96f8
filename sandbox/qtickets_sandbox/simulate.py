"""The sandbox clock: a discrete-event simulation that builds the history and moves time on advance.

History is produced by the same code as `advance`: N order arrivals are spread over the `history_days`
(default 28) before the clock and every consequence (payment, expiry, cancellation, refund, scan, batch
edit, event edit) is an event in one time-ordered queue; whatever lies beyond the clock waits there for
later advances.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from datetime import datetime, timedelta

from .catalog_build import build_client, build_discounts, build_event, build_promo_codes
from .model import State, later
from .timefmt import fmt, parse

HISTORY_DAYS = 28
# Older events (a history longer than the default) are built this many days or more before the clock: their
# shows (build_event: 60 days before to 90 after its `now`) all finish before the default history starts.
OLDER_EVENTS_LAG_DAYS = 118


class Simulation:
    def __init__(self, seed: int, now: datetime, orders: int, events: int, semantics: dict | None = None,
                 history_days: int = HISTORY_DAYS):
        self.state = State(seed, now, semantics)
        self.history_days = history_days
        self.rng = self.state.rng
        self.queue: list[tuple[datetime, int, str, tuple]] = []
        self._seq = 0
        self.rate_per_minute = max(orders, 50) / (history_days * 24 * 60)
        self._build_catalogue(events, orders)
        start = now - timedelta(days=history_days)
        span = history_days * 24 * 3600
        for offset in sorted(self.rng.uniform(0, span) for _ in range(orders)):
            self.push(start + timedelta(seconds=int(offset)), "create", ())
        self.push(start + timedelta(hours=self.rng.uniform(1, 12)), "batch", ())
        self.push(start + timedelta(hours=self.rng.uniform(1, 24)), "event_edit", ())
        self.state.now = start
        self.run_until(now)

    def _build_catalogue(self, n_events: int, n_orders: int) -> None:
        st, rng, now = self.state, self.rng, self.state.now
        for i in range(n_events):
            event, layouts = build_event(rng, st.ids, i, now)
            st.add_event(event, layouts)
            if i == 3 or (i > 3 and rng.random() < 0.1):  # some events get deleted during the history
                self.push(now - timedelta(days=rng.uniform(1, 20)), "delete_event", (event["id"],))
            last_finish = max(st.show_times[s["id"]][3] for s in event["shows"])
            if last_finish < now:  # sales switched off after the last show (is_active 0, not deleted)
                self.push(
                    last_finish + timedelta(hours=rng.uniform(2, 48)), "deactivate_event", (event["id"],)
                )
        self._older_events(n_events)
        # General-admission capacity grows with the order volume so large benches never sell out.
        # (~2.1 tickets per order, unevenly spread, so leave a wide margin).
        window_start = now - timedelta(days=self.history_days)
        selling = [sid for sid, times in st.show_times.items() if times[1] > window_start]
        ga_seats = sum(1 for sid in selling for seat in st.layouts[sid] if seat["admission"])
        ga_capacity = math.ceil(n_orders * 6 / max(1, ga_seats))
        for sid in selling:
            for seat in st.layouts[sid]:
                if seat["admission"]:
                    seat["max_quantity"] = max(seat["max_quantity"], ga_capacity)
        for _ in range(max(10, n_orders // 3)):
            st.add_client(build_client(rng, st.ids))
        discounts, pct = build_discounts(rng, st.ids, list(st.events.values()), now)
        st.discounts = {d["id"]: d for d in discounts}
        st.discount_pct = pct
        st.promo_codes = {p["id"]: p for p in build_promo_codes(rng, st.ids, discounts)}

    def _older_events(self, n_events: int) -> None:
        """For a history longer than the default at the same daily sales: as many more events per extra day
        as the present ones, all finished before the default history starts, and the orders older than that
        go to them (State.sale_cutoff). The present — live shows, their tickets, recent changes — is then
        the default history's, whatever the length of the past."""
        st, rng, now = self.state, self.rng, self.state.now
        extra_days = self.history_days - HISTORY_DAYS
        if extra_days <= 0:
            return
        for index in range(n_events, n_events + round(n_events * extra_days / HISTORY_DAYS)):
            anchor = now - timedelta(days=OLDER_EVENTS_LAG_DAYS + rng.uniform(0, extra_days))
            event, layouts = build_event(rng, st.ids, index, anchor)
            st.add_event(event, layouts)
            last_finish = max(st.show_times[s["id"]][3] for s in event["shows"])
            self.push(last_finish + timedelta(hours=rng.uniform(2, 48)), "deactivate_event", (event["id"],))
        st.sale_cutoff = now - timedelta(days=HISTORY_DAYS)

    def push(self, t: datetime, kind: str, args: tuple) -> None:
        self._seq += 1
        heapq.heappush(self.queue, (t.replace(microsecond=0), self._seq, kind, args))

    def advance(self, minutes: float) -> dict:
        st = self.state
        with st.lock:
            end = st.now + timedelta(minutes=minutes)
            t = st.now
            while True:  # Poisson arrivals of new orders inside the window
                t += timedelta(minutes=self.rng.expovariate(self.rate_per_minute))
                if t > end:
                    break
                self.push(t, "create", ())
            counts = self.run_until(end)
            return {"now": fmt(st.now), **counts}

    def run_until(self, end: datetime) -> dict:
        st = self.state
        counts: Counter = Counter()
        while self.queue and self.queue[0][0] <= end:
            t, _, kind, args = heapq.heappop(self.queue)
            st.now = t
            self.apply(kind, t, counts, *args)
        st.now = end
        st.touch()
        return {
            k: counts.get(k, 0)
            for k in (
                "created",
                "payed",
                "expired",
                "cancelled",
                "refunded",
                "scanned",
                "ticket_edits",
                "late_refunds",
                "batch_updated",
                "event_edits",
                "events_deleted",
            )
        }

    # ---- event handlers ----------------------------------------------------------------------------
    def apply(self, kind: str, t: datetime, counts: Counter, *args):
        """One change of `kind` at t, as the queue makes it (live mode calls this directly)."""
        return getattr(self, f"_on_{kind}")(t, counts, *args)

    def _on_create(self, t, counts) -> dict | None:
        rng = self.rng
        order = self.state.create_order(t)
        if order is None:
            return None
        counts["created"] += 1
        fate = rng.random()
        if fate < 0.78:
            self.push(t + timedelta(seconds=rng.randint(40, 1200)), "pay", (order["id"],))
        elif fate < 0.89:
            # Expired reservations are deleted ~15 minutes after reserved_to.
            expiry = parse(order["reserved_to"]) + timedelta(minutes=15, seconds=rng.randint(0, 90))
            self.push(expiry, "expire", (order["id"],))
        else:
            self.push(t + timedelta(minutes=rng.uniform(5, 360)), "cancel", (order["id"],))
        return order

    def _on_pay(self, t, counts, order_id) -> None:
        st, rng = self.state, self.rng
        order = st.orders[order_id]
        if not st.pay(order, t):
            return
        counts["payed"] += 1
        for i, b in enumerate(order["baskets"]):
            start, finish = st.show_times[b["show_id"]][2:]
            if finish - start > timedelta(days=1):  # exhibition: visit some day during the run
                first = max(start, t)
                when = first + timedelta(
                    seconds=rng.uniform(0, min((finish - first).total_seconds(), 14 * 86400))
                )
            else:
                when = start - timedelta(minutes=rng.uniform(0, 40))
            if when > t and rng.random() < 0.6:
                self.push(when, "scan", (order_id, i))
            edit_rng = st.edit_rng
            if edit_rng.random() < 0.05 and start - t > timedelta(hours=1):
                self.push(t + (start - t) * edit_rng.random(), "ticket_edit", (order_id, i))
        if st.edit_rng.random() < 0.05:
            # A refund days after the event is over (a complaint, a settlement): a change to a ticket whose
            # show is no longer live. Drawn from the edit stream, like ticket edits.
            event = st.shows[order["baskets"][0]["show_id"]][1]
            over = max(st.show_times[show["id"]][3] for show in event["shows"])
            self.push(over + timedelta(days=st.edit_rng.uniform(1.5, 10)), "late_refund", (order_id,))
        show_start = min(st.show_times[b["show_id"]][2] for b in order["baskets"])
        if rng.random() < 0.08 and show_start - t > timedelta(hours=2):
            gap = (show_start - t).total_seconds() - 3600
            # Buyers refund either soon after paying or at some point before the show.
            delay = rng.expovariate(1 / (2 * 86400)) if rng.random() < 0.5 else rng.uniform(0, gap)
            when = t + timedelta(seconds=3600 + min(delay, gap))
            self.push(when, "refund", (order_id, rng.random() < 0.6))

    def _on_expire(self, t, counts, order_id) -> None:
        if self.state.delete(self.state.orders[order_id], t):
            counts["expired"] += 1

    def _on_cancel(self, t, counts, order_id) -> None:
        if self.state.delete(self.state.orders[order_id], t):
            counts["cancelled"] += 1

    def _on_refund(self, t, counts, order_id, whole) -> None:
        if self.state.refund(self.state.orders[order_id], t, whole):
            counts["refunded"] += 1

    def _on_scan(self, t, counts, order_id, index) -> None:
        if self.state.scan(self.state.orders[order_id], index, t):
            counts["scanned"] += 1

    def _on_late_refund(self, t, counts, order_id) -> None:
        if self.state.refund(self.state.orders[order_id], t, whole=False):
            counts["refunded"] += 1
            counts["late_refunds"] += 1

    def _on_uncheck(self, t, counts, order_id, index) -> None:
        if self.state.unscan(self.state.orders[order_id], index, t):
            counts["unchecked"] += 1

    def _on_ticket_edit(self, t, counts, order_id, index) -> None:
        if self.state.edit_ticket(self.state.orders[order_id], index, t):
            counts["ticket_edits"] += 1

    def _on_batch(self, t, counts) -> None:
        if self.state.batch_touch(t):
            counts["batch_updated"] += 1
        self.push(t + timedelta(hours=self.rng.uniform(6, 48)), "batch", ())

    def _on_event_edit(self, t, counts) -> None:
        if self.state.edit_event(t) is not None:
            counts["event_edits"] += 1
        self.push(t + timedelta(hours=self.rng.uniform(4, 36)), "event_edit", ())

    def _on_deactivate_event(self, t, counts, event_id) -> None:
        if self.state.deactivate_event(event_id, t):
            counts["event_edits"] += 1

    def _on_delete_event(self, t, counts, event_id) -> None:
        self.state.delete_event(event_id, t)
        counts["events_deleted"] += 1

    def drift(self, n: int) -> None:
        """page_drift fault: n new paid orders and n updated orders at the current clock."""
        st = self.state
        with st.lock:
            t = st.now
            for _ in range(n):
                order = st.create_order(t)
                if order is not None:
                    st.pay(order, t)
            live = [o for o in st.orders.values() if not o["deleted_at"]]
            for order in self.rng.sample(live, k=min(n, len(live))):
                if order["payed"]:
                    order["updated_at"] = later(order, t)
                    st.changed(order)
                else:
                    st.pay(order, t)
