"""Orders (an order pass on `updated_at` plus a ticket pass, see ticket_changes.py) and sales (one row per
basket, handed over from the orders' payload)."""

from __future__ import annotations

import datetime as dt
import itertools
import typing as t
from functools import cached_property

from tap_qtickets import ticket_changes as tc
from tap_qtickets.client import QTicketsStream
from tap_qtickets.errors import RetriesExhaustedError
from tap_qtickets.normalize import parse_api_datetime, to_api_datetime
from tap_qtickets.order_queries import FiltersIgnoredError, IdKeyset, IdScan, OrdersQuery, UpdatedAtWindow
from tap_qtickets.pagination import envelope

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    import requests
    from singer_sdk.helpers.types import Context

SALES_BATCH_BASKETS = 2000
ORDER_FIELDS_FOR_SALES = {
    "order_id": "id", "event_id": "event_id", "client_id": "client_id", "payed": "payed",
    "payed_at": "payed_at", "order_created_at": "created_at", "order_updated_at": "updated_at",
    "order_deleted_at": "deleted_at", "currency_id": "currency_id", "promo_code_id": "promo_code_id",
    "discount_id": "discount_id", "utm": "utm",
}
BASKET_FILTER = "baskets.updated_at"


class OrdersStream(QTicketsStream):
    """GET /orders: the order pass (`updated_at >= bookmark − lookback`), then the ticket pass."""

    name = "orders"
    path = "/orders"
    primary_keys = ("id",)
    replication_key = "updated_at"
    is_sorted = False  # the passes do not yield in updated_at order; the bookmark is committed at the end

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending_baskets: list[tuple[dict, list[dict]]] = []  # (order fields for sales, baskets)
        self.pending_lines = 0
        self.flush_now = False
        self.batch_no = 0
        self.safe_scan = False
        self.query: OrdersQuery | None = None
        self.ticket_pass: str | None = None  # which ticket pass ran (logged, and read by tests)

    def get_replication_key_signpost(self, context: Context | None = None) -> None:
        # The bookmark is the max updated_at emitted (server clock), not capped by this host's clock.
        return None

    # --- requests: the current query decides ------------------------------------------------------

    def prepare_request_payload(self, context: Context | None, next_page_token: t.Any) -> dict:
        return self.query.payload(next_page_token)  # type: ignore[union-attr]

    def get_new_paginator(self) -> t.Any:
        return self.query.paginator()  # type: ignore[union-attr]

    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        rows = list(super().parse_response(response))
        return self.query.accept(rows, envelope(response))  # type: ignore[union-attr]

    def _read(self, query: OrdersQuery) -> Iterator[dict]:
        self.query = query
        yield from self.request_records(None)

    # --- the run ----------------------------------------------------------------------------------

    def plan_window(self) -> tuple[tc.Plan, dt.datetime, dt.datetime | None]:
        """This run's ticket plan and order window (`updated_at` from start, to end), by the clock the
        server showed last (this host's before the first response), and recorded in the sync report."""
        state = self.get_context_state(None)
        saved = tc.TicketChangeState.load(state.get(tc.STATE_KEY))
        first_start = (parse_api_datetime(self.config["start_date"]) if self.config.get("start_date")
                       else self.shared.default_start_date)
        plan = tc.make_plan(saved, self.shared.clock.now(), self.config, first_start)
        bookmark = state.get("replication_key_value")
        start = parse_api_datetime(bookmark) - plan.lookback if bookmark else first_start
        end = parse_api_datetime(self.config["end_date"]) if self.config.get("end_date") else None
        self.shared.sync.window_start = tc.utc_text(start)
        self.shared.sync.window_end = tc.utc_text(end) if end else None
        return plan, start, end

    def describe_window(self) -> str:
        plan, start, end = self.plan_window()
        bookmark = self.get_context_state(None).get("replication_key_value")
        basis = (f"the bookmark minus {plan.lookback.total_seconds() / 60:.0f} min" if bookmark
                 else "start_date" if self.config.get("start_date") else "the default start")
        return (f"orders updated since {tc.utc_text(start)}{f' until {tc.utc_text(end)}' if end else ''} "
                f"({basis}{', deep pass' if plan.deep else ''}); tickets changed since "
                f"{tc.utc_text(plan.ticket_since)}")

    def get_records(self, context: Context | None) -> Iterable[dict]:
        state = self.get_context_state(context)
        saved = tc.TicketChangeState.load(state.get(tc.STATE_KEY))
        plan, start, end = self.plan_window()
        tracker = tc.TicketTracker(tc.utc_text(plan.ticket_since))
        self.logger.info("orders: window updated_at >= %s%s; tickets changed since %s%s", start.isoformat(),
                         f" and <= {end.isoformat()}" if end else "", tracker.since,
                         " (deep pass)" if plan.deep else "")
        passes = itertools.chain(self._order_pass(start, end, tracker),
                                 self._ticket_pass(plan, start, tracker, saved))
        yield from self._with_flush_marks(passes)
        if tracker.newest and (saved.bookmark is None or tracker.newest > saved.bookmark):
            saved.bookmark = tracker.newest
        if plan.deep:
            saved.deep_pass_at = tc.utc_text(plan.now)
        state[tc.STATE_KEY] = saved.dump()  # after the last record: only a finished stream saves it

    def _with_flush_marks(self, records: Iterable[dict]) -> Iterator[dict]:
        """One-record look-ahead so the last order of the run flushes the pending sales batch."""
        previous = None
        for record in records:
            if previous is not None:
                self.flush_now = False
                yield previous
            previous = record
        if previous is not None:
            self.flush_now = True
            yield previous

    def _order_pass(self, start: dt.datetime, end: dt.datetime | None,
                    tracker: tc.TicketTracker) -> Iterator[dict]:
        try:
            for row in self._read(UpdatedAtWindow(self.page_size, start, end)):
                tracker.see(row, sample=True)
                yield row
            return
        except FiltersIgnoredError as exc:
            self.logger.warning(
                "orders: the API did not honour the updated_at filter/order (%s); falling back to a full "
                "scan by id with client-side filtering (slower, nothing is skipped)", exc)
        self.safe_scan = True
        # Orders already emitted before the switch may come again (same content; targets keep one per id).

        def keep(row: dict) -> bool:
            updated = parse_api_datetime(row["updated_at"])
            in_window = start <= updated and (end is None or updated <= end)
            return in_window or tracker.changed(row)

        for row in self._read(IdScan(self.page_size, keep)):
            tracker.see(row)
            yield row

    # --- the ticket pass ----------------------------------------------------------------------------

    def _ticket_pass(self, plan: tc.Plan, order_since: dt.datetime, tracker: tc.TicketTracker,
                     saved: tc.TicketChangeState) -> Iterator[dict]:
        if self.safe_scan:
            self.ticket_pass = "full scan"  # it already kept every order with a changed ticket
            return
        if plan.try_basket_filter:
            try:
                if tracker.samples:
                    self._probe_basket_filter(plan, tracker)
                yield from self._emit(self._basket_filter_query(plan, order_since, tracker), tracker)
                if tracker.samples:
                    saved.record_filter_check(tc.VERIFIED, plan.now)
                self.ticket_pass = "nested filter"
                return
            except (FiltersIgnoredError, RetriesExhaustedError) as exc:
                self.logger.warning(
                    "orders: the API does not honour the nested filter %s (%s); re-reading the orders of "
                    "events with live shows instead (tried again in %d h)", BASKET_FILTER, exc,
                    tc.RECHECK_AFTER.total_seconds() // 3600)
                saved.record_filter_check(tc.UNSUPPORTED, plan.now)
        yield from self._fallback_pass(plan, order_since, tracker)

    def _probe_basket_filter(self, plan: tc.Plan, tracker: tc.TicketTracker) -> None:
        """Orders the order pass just read with a recently changed ticket must all come back."""
        where = [self._basket_condition(plan), {"column": "id", "operator": "in", "value": tracker.samples}]
        probe = IdKeyset(len(tracker.samples), "nested-filter probe", where, self._changed_check(tracker))
        got = {int(row["id"]) for row in self._read(probe)}
        missing = sorted(set(tracker.samples) - got)
        if missing:
            msg = (f"it left out {len(missing)} of {len(tracker.samples)} orders known to have a ticket "
                   f"changed since {tracker.since} (e.g. order {missing[0]})")
            raise FiltersIgnoredError(msg)

    def _basket_condition(self, plan: tc.Plan) -> dict:
        return {"column": BASKET_FILTER, "operator": ">=", "value": to_api_datetime(plan.ticket_since)}

    @staticmethod
    def _changed_check(tracker: tc.TicketTracker) -> t.Callable[[dict], str | None]:
        return lambda row: None if tracker.changed(row) else f"has no ticket changed since {tracker.since}"

    def _basket_filter_query(self, plan: tc.Plan, order_since: dt.datetime,
                             tracker: tc.TicketTracker) -> IdKeyset:
        """Orders older than the order window with a ticket changed since the ticket window start."""
        changed = self._changed_check(tracker)

        def check(row: dict) -> str | None:
            if parse_api_datetime(row["updated_at"]) >= order_since:
                return f"has updated_at {row['updated_at']}, inside the order window"
            return changed(row)

        where = [self._basket_condition(plan),
                 {"column": "updated_at", "operator": "<", "value": to_api_datetime(order_since)}]
        return IdKeyset(self.page_size, f"{BASKET_FILTER} filter", where, check)

    def _fallback_pass(self, plan: tc.Plan, order_since: dt.datetime,
                       tracker: tc.TicketTracker) -> Iterator[dict]:
        """Orders of events with a live show (every older order on a deep pass), kept if a ticket changed."""
        live = self.shared.live_events
        everything = plan.deep or live is None
        self.ticket_pass = "all older orders" if everything else "live events"
        if not everything and not live:
            return
        where: list[dict[str, t.Any]] = [
            {"column": "updated_at", "operator": "<", "value": to_api_datetime(order_since)}]
        if not everything:
            where.append({"column": "event_id", "operator": "in", "value": sorted(live or ())})

        def check(row: dict) -> str | None:
            if parse_api_datetime(row["updated_at"]) >= order_since:
                return f"has updated_at {row['updated_at']}, inside the order window"
            if not everything and int(row.get("event_id") or 0) not in live:  # type: ignore[operator]
                return f"belongs to event {row.get('event_id')}, not one with a live show"
            return None

        self.logger.info("orders: ticket pass over %s", self.ticket_pass if everything
                         else f"the orders of {len(live)} events with live shows")  # type: ignore[arg-type]
        try:
            rows = list(self._emit(IdKeyset(self.page_size, self.ticket_pass, where, check), tracker,
                                   keep=tracker.changed))
        except FiltersIgnoredError as exc:
            self.logger.warning("orders: the API did not honour the %s re-read (%s); scanning every order",
                                self.ticket_pass, exc)
            self.ticket_pass = "full scan"
            rows = list(self._emit(IdScan(self.page_size, tracker.changed), tracker))
        yield from rows

    def _emit(self, query: OrdersQuery, tracker: tc.TicketTracker,
              keep: t.Callable[[dict], bool] | None = None) -> Iterator[dict]:
        for row in self._read(query):
            if keep is None or keep(row):
                tracker.see(row)
                yield row

    # --- post-processing & child hand-off ----------------------------------------------------------

    @cached_property
    def sales_selected(self) -> bool:
        return any(child.selected for child in self.child_streams)

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        baskets = row.get("baskets") or []
        if baskets and self.sales_selected:
            order_part = {target: row.get(source) for target, source in ORDER_FIELDS_FOR_SALES.items()}
            self.pending_baskets.append((order_part, baskets))
            self.pending_lines += len(baskets)
        row["tickets_count"] = len(baskets)  # `row` is this page's parsed JSON: ours to change
        return self.normalize(row)

    def generate_child_contexts(self, record: dict, context: Context | None) -> Iterable[dict | None]:
        # Sales are handed over in batches, not one child sync per order (each sync costs a SCHEMA msg).
        if self.pending_baskets and (self.flush_now or self.pending_lines >= SALES_BATCH_BASKETS):
            self.batch_no += 1
            yield {"orders_batch": self.batch_no}

    def take_baskets(self) -> list[tuple[dict, list[dict]]]:
        """Pending `(order fields, baskets)` pairs, one per order since the last hand-off."""
        baskets, self.pending_baskets, self.pending_lines = self.pending_baskets, [], 0
        return baskets


class SalesStream(QTicketsStream):
    """One record per ticket line (`order.baskets[]`) with the order fields; no extra requests."""

    name = "sales"
    primary_keys = ("id",)
    replication_key = None
    parent_stream_type = OrdersStream
    state_partitioning_keys: t.ClassVar[list[str]] = []

    def get_records(self, context: Context | None) -> Iterable[dict]:
        """Normalised sale rows: the order's fields are converted once per order, not once per basket."""
        normalize = self.normalize
        for order_part, baskets in self.orders_stream.take_baskets():
            order_fields = normalize.convert(order_part)
            for basket in baskets:
                row = normalize(basket)
                row.update(order_fields)  # the order's values win, as for `{**basket, **order_part}`
                seat = str(basket.get("seat_id") or "")
                row["zone_id"] = seat.rsplit("-", 1)[0] if "-" in seat else (seat or None)
                yield row

    @property
    def orders_stream(self) -> OrdersStream:
        return t.cast("OrdersStream", self.shared.streams["orders"])

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        return row  # get_records yields finished rows
