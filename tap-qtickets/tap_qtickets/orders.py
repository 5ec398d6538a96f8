"""Orders: an order pass on `updated_at` plus a ticket pass (ticket_changes.py); their baskets are handed over
to the sales (sales.py)."""

from __future__ import annotations

import datetime as dt
import itertools
import typing as t
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cached_property

from tap_qtickets import ticket_changes as tc
from tap_qtickets.client import QTicketsStream
from tap_qtickets.decoding import JSON_DECODER, item_type, page_decoder, row_type
from tap_qtickets.errors import RetriesExhaustedError
from tap_qtickets.handoff import HandedOver, Handover
from tap_qtickets.normalize import RecordNormalizer, parse_api_datetime, to_api_datetime
from tap_qtickets.order_queries import FiltersIgnoredError, IdKeyset, IdScan, OrdersQuery, UpdatedAtWindow
from tap_qtickets.order_records import ORDER_FIELDS_FOR_SALES, baskets_of
from tap_qtickets.pagination import ShowRef, page_is_last
from tap_qtickets.show_digests import ALL_TICKETS, BARCODES_PATH_END, FreshTickets, ShowBarcodes, ShowCheck

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    import msgspec
    import requests
    from singer_sdk.helpers.types import Context

    from tap_qtickets.sales import SalesStream

SALES_BATCH_BASKETS = 2000
ORDER_FIELDS_FOR_PASSES = ("id", "updated_at", "event_id")  # what the passes' checks read
BASKET_FIELDS_FOR_PASSES = ("updated_at",)  # the ticket tracker
FRESH_TICKET_FIELD = "barcode"  # decoded (never written unless selected) when the fallback runs
BASKET_FILTER = "baskets.updated_at"
BOOKMARK_AHEAD_TOLERANCE = dt.timedelta(minutes=10)  # clock skew between the API's writes and its Date header


class OrdersStream(QTicketsStream):
    """GET /orders: the order pass (`updated_at >= bookmark − lookback`), then the ticket pass."""

    name = "orders"
    path = "/orders"
    primary_keys = ("id",)
    replication_key = "updated_at"
    is_sorted = False  # the passes do not yield in updated_at order; the bookmark is committed at the end

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.handover = Handover(SALES_BATCH_BASKETS)  # (order fields for sales, baskets) per order
        self.safe_scan = False
        self.query: OrdersQuery | None = None
        self.fresh: FreshTickets | None = None  # the order pass's tickets, when the fallback will run
        self.ticket_pass: str | None = None  # which ticket pass ran (logged, and read by tests)
        self.from_pass = {"order": 0, "ticket": 0}  # records each pass emitted (the end-of-sync line)
        self.position: str | None = None  # the `updated_at` the order pass has reached (progress lines)
        # The nested-filter query's first page and its probe, sent while the order pass still pages (their
        # answers wait in futures): the order pass's paging hides the nested filter's answer time.
        self.ticket_query: tuple[IdKeyset, Future] | None = None
        self.probe: tuple[IdKeyset, Future] | None = None
        self._ahead: ThreadPoolExecutor | None = None
        self._decoders: dict[bool, tuple[type, msgspec.json.Decoder]] = {}

    def get_replication_key_signpost(self, context: Context | None = None) -> None:
        # The bookmark is the max updated_at emitted (server clock), not capped by this host's clock.
        return None

    # --- decoding: only what the records, the passes and the sales keep ---------------------------

    @cached_property
    def sales(self) -> SalesStream | None:
        """The selected child fed from the orders' payload (sales.py)."""
        return next((t.cast("SalesStream", child) for child in self.child_streams
                     if isinstance(child, HandedOver) and child.selected), None)

    @cached_property
    def order_keys(self) -> frozenset[str]:
        keys = set(self.normalize.fields.converters) | set(ORDER_FIELDS_FOR_PASSES)
        if self.sales is not None:
            keys |= set(ORDER_FIELDS_FOR_SALES.values())
        return frozenset(keys)

    @cached_property
    def unselected(self) -> tuple[str, ...]:
        """Keys decoded (or added) for the passes and the sales, left out of the records."""
        return tuple(sorted((self.order_keys | {"tickets_count"}) - set(self.normalize.fields.converters)))

    @property
    def order_row(self) -> type:
        """What is decoded of an order (`post_process` expects rows of this type): the selected fields,
        what the passes and the sales need, and the baskets' barcodes when the fallback will hash them."""
        return self._decoding(self.fresh is not None)[0]

    @property
    def order_decoder(self) -> msgspec.json.Decoder:
        return self._decoding(self.fresh is not None)[1]

    def _decoding(self, barcodes: bool) -> tuple[type, msgspec.json.Decoder]:
        if barcodes not in self._decoders:
            basket_keys = set(BASKET_FIELDS_FOR_PASSES if self.sales is None else self.sales.item_fields)
            if barcodes:
                basket_keys.add(FRESH_TICKET_FIELD)
            basket = item_type("Basket", basket_keys)
            baskets: t.Any = list[basket] | str | None  # type: ignore[valid-type]  # PHP: `""` for none
            order = row_type("Order", sorted(self.order_keys), {"baskets": baskets})
            self._decoders[barcodes] = order, page_decoder(order)
        return self._decoders[barcodes]

    # --- requests: the current query decides ------------------------------------------------------

    def decoder_for(self, path: str) -> msgspec.json.Decoder:
        return self.order_decoder if path.endswith(self.path) else JSON_DECODER  # else: barcode lists

    def gone_is_empty(self, path: str) -> bool:
        return path.endswith(BARCODES_PATH_END)  # a show removed since the events were listed

    def prepare_request_payload(self, context: Context | None, next_page_token: t.Any) -> dict:
        return self.query.payload(next_page_token)  # type: ignore[union-attr]

    def page_path(self, token: t.Any) -> str | None:
        return self.query.path(token)  # type: ignore[union-attr]

    def get_new_paginator(self) -> t.Any:
        return self.query.paginator()  # type: ignore[union-attr]

    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        return self._accepted(response, self.query)  # type: ignore[arg-type]

    def _accepted(self, response: requests.Response, query: OrdersQuery) -> list[dict]:
        return query.accept(list(super().parse_response(response)), response)

    def _read(self, query: OrdersQuery, first: Future | None = None) -> Iterator[dict]:
        """The rows of `query`, whose first page may have been sent ahead (`first`: its answer)."""
        if first is not None:
            response = first.result()
            yield from self._accepted(response, query)
            if page_is_last(response):
                return
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
        bookmark = state.get("replication_key_value")
        tracker = tc.TicketTracker(tc.utc_text(plan.ticket_since))
        self.logger.info("orders: window updated_at >= %s%s; tickets changed since %s%s", start.isoformat(),
                         f" and <= {end.isoformat()}" if end else "", tracker.since,
                         " (deep pass)" if plan.deep else "")
        self.fresh = None
        if not plan.try_basket_filter:  # the fallback will run: keep the order pass's tickets for it
            cuts = [cut for cut, _ in saved.show_digests.values() if cut >= tc.utc_text(start)]
            self.fresh = FreshTickets(min(cuts) if cuts else None, self.lookback)
        passes = itertools.chain(self._counted("order", self._order_pass(start, end, tracker, plan)),
                                 self._counted("ticket", self._ticket_pass(plan, start, tracker, saved,
                                                                           bookmark)))
        try:
            yield from self.handover.marking_the_last(passes)
        finally:
            if self._ahead is not None:
                self._ahead.shutdown(cancel_futures=True)
            self._ahead, self.probe, self.ticket_query = None, None, None
        self._check_bookmark(bookmark)
        if tracker.newest and (saved.bookmark is None or tracker.newest > saved.bookmark):
            saved.bookmark = tracker.newest
        if plan.deep:
            saved.deep_pass_at = tc.utc_text(plan.now)
        state[tc.STATE_KEY] = saved.dump()  # after the last record: only a finished stream saves it

    def _check_bookmark(self, bookmark: str | None) -> None:
        """A bookmark later than the server's clock (its `Date` header) means the server's data went back in
        time (restored, or the demo sandbox restarted without its /_sandbox/advance): changes made before
        the server's clock passes it are not read again. Said once, in one line."""
        if not bookmark or not self.shared.clock.observed:
            return
        server_now = self.shared.clock.now()
        if parse_api_datetime(bookmark) - server_now > BOOKMARK_AHEAD_TOLERANCE:
            self.logger.warning(
                "orders: the bookmark (updated_at %s) is later than the API server's clock (%s, its Date "
                "header): orders changed before the bookmark are not read again until that clock passes it "
                "— was the server's data reset (the demo sandbox restarted)? Reload with a full refresh "
                "(qtickets-pipeline run --full-refresh)", tc.utc_text(parse_api_datetime(bookmark)),
                tc.utc_text(server_now))

    def _counted(self, name: str, rows: Iterator[dict]) -> Iterator[dict]:
        for row in rows:
            self.from_pass[name] += 1
            if name == "order":
                self.position = row["updated_at"]
            yield row

    def position_note(self) -> str:
        reached = tc.utc_text(parse_api_datetime(self.position)) if self.position else None
        return f" (updated_at {reached} reached)" if reached else ""

    def summary(self, requests: int) -> str:
        ticket = f" ({self.ticket_pass})" if self.ticket_pass else ""
        passes = self.from_pass
        return (f"{self.records_written:,} records from {requests:,} requests: {passes['order']:,} from the "
                f"order pass (updated_at >= {self.shared.sync.window_start}), {passes['ticket']:,} from the "
                f"ticket pass{ticket}")

    @property
    def lookback(self) -> dt.timedelta:
        return dt.timedelta(minutes=int(self.config["lookback_minutes"]))

    def _order_pass(self, start: dt.datetime, end: dt.datetime | None, tracker: tc.TicketTracker,
                    plan: tc.Plan) -> Iterator[dict]:
        try:
            for row in self._read(UpdatedAtWindow(self.page_size, start, end)):
                tracker.see(row, sample=True)
                if self.fresh is not None:
                    self.fresh.see(row)
                if plan.try_basket_filter:
                    if self.ticket_query is None:  # the API answered: the nested-filter query can go ahead
                        self.ticket_query = self._send_ahead(self._basket_filter_query(plan, start, tracker))
                    if self.probe is None and len(tracker.samples) >= tc.PROBE_SAMPLES:
                        self.probe = self._send_ahead(self._probe_query(plan, tracker))
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
                     saved: tc.TicketChangeState, bookmark: str | None) -> Iterator[dict]:
        if self.safe_scan:
            self.ticket_pass = "full scan"  # it already kept every order with a changed ticket
            return
        if plan.try_basket_filter:
            try:
                if tracker.samples:
                    self._probe_basket_filter(plan, tracker)
                query, first = self.ticket_query or (
                    self._basket_filter_query(plan, order_since, tracker), None)
                yield from self._emit(query, tracker, first=first)
                if tracker.samples:
                    saved.record_filter_check(tc.VERIFIED, plan.now)
                self.ticket_pass = "nested filter"
                return
            except (FiltersIgnoredError, RetriesExhaustedError) as exc:
                self.logger.warning(
                    "orders: the API does not honour the nested filter %s (%s); looking for changed shows "
                    "instead (tried again in %d h)", BASKET_FILTER, exc,
                    tc.RECHECK_AFTER.total_seconds() // 3600)
                saved.record_filter_check(tc.UNSUPPORTED, plan.now)
        yield from self._fallback_pass(plan, order_since, tracker, saved, bookmark)

    def _probe_query(self, plan: tc.Plan, tracker: tc.TicketTracker) -> IdKeyset:
        samples = list(tracker.samples)
        where = [self._basket_condition(plan), {"column": "id", "operator": "in", "value": samples}]
        return IdKeyset(len(tracker.samples), "nested-filter probe", where, self._changed_check(tracker))

    def _send_ahead(self, query: IdKeyset) -> tuple[IdKeyset, Future]:
        """The first page of `query` sent now, in a thread (one: with the page the order pass has in flight,
        at most two requests at a time); its answer is read later (`_read`, `_probe_basket_filter`)."""
        prepared = self.build_prepared_request(method="GET", url=self.url_base + self.path,
                                               headers=self.http_headers, json=query.payload(0))
        if self._ahead is None:
            self._ahead = ThreadPoolExecutor(1, thread_name_prefix=f"{self.name}-ahead")
        return query, self._ahead.submit(self.send_now, prepared, None)

    def _probe_basket_filter(self, plan: tc.Plan, tracker: tc.TicketTracker) -> None:
        """Orders the order pass just read with a recently changed ticket must all come back. The probe was
        sent while the order pass paged once it had its samples (the nested filter may be slow to answer)."""
        if self.probe is not None:
            probe, answer = self.probe
            got = {int(row["id"]) for row in self._accepted(answer.result(), probe)}
        else:
            got = {int(row["id"]) for row in self._read(self._probe_query(plan, tracker))}
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

    def _fallback_pass(self, plan: tc.Plan, order_since: dt.datetime, tracker: tc.TicketTracker,
                       saved: tc.TicketChangeState, bookmark: str | None) -> Iterator[dict]:
        """The orders of events whose shows changed (show_digests.py), kept if a ticket changed."""
        if self.shared.shows is None:
            self.ticket_pass = "all older orders"
            self.logger.warning("orders: the events stream did not run, so the shows are unknown: re-reading "
                                "every order older than the window (select `events` to avoid this)")
            yield from self._reread(order_since, tracker, None)
            return
        checks = self._check_shows(plan, order_since, saved, bookmark)
        events = sorted({check.show.event_id for check in checks if check.changed})
        self.ticket_pass = "changed shows"
        self.logger.info("orders: ticket pass over the orders of %d events (%d of %d shows checked changed)",
                         len(events), sum(check.changed for check in checks), len(checks))
        if events:
            yield from self._reread(order_since, tracker, events)

    def _check_shows(self, plan: tc.Plan, order_since: dt.datetime, saved: tc.TicketChangeState,
                     bookmark: str | None) -> list[ShowCheck]:
        """Barcode digests of the live shows (and, on a deep pass, of every show finished within the refund
        horizon, deleted ones included); the digests kept for the next run replace the saved ones."""
        shows = self.shared.shows or {}
        live = dt.timedelta(hours=self.live_show_hours)
        horizon = dt.timedelta(days=int(self.config["refund_horizon_days"]))
        wanted = sorted((span for span in shows.values() if span.is_live(plan.now, self.live_show_hours)
                         or (plan.deep and span.finished_within(plan.now, horizon))),
                        key=lambda span: span.show_id)
        window = tc.utc_text(order_since)
        next_cut = ALL_TICKETS  # without the order pass's tickets, a digest cannot leave any out
        if self.fresh is not None:
            # The next run's order window starts at the new bookmark − lookback: its digests leave out the
            # tickets of orders updated since then, and so must the ones kept now.
            newest = [stamp for stamp in (self.fresh.newest, bookmark and tc.utc_text(parse_api_datetime(
                bookmark))) if stamp]
            next_start = dt.datetime.fromisoformat(max(newest)) - self.lookback if newest else order_since
            next_cut = max(window, tc.utc_text(next_start))
        emitted = self.sales.normalize.fields.converters if self.sales is not None else ()
        query = ShowBarcodes([ShowRef(span.event_id, span.show_id) for span in wanted], emitted, saved,
                             self.fresh, window if self.fresh is not None else None, next_cut)
        checks = [row["check"] for row in self._read(query)] if wanted else []
        if any(check.blind for check in checks):
            self.logger.warning("orders: GET /shows/{id}/barcodes did not list scan times (checked_at): "
                                "every checked show counts as changed")
        kept = {str(span.show_id) for span in shows.values()
                if span.finished_within(plan.now, max(live, horizon))}
        saved.show_digests = {show: entry for show, entry in saved.show_digests.items() if show in kept}
        saved.show_digests.update({str(check.show.show_id): check.kept for check in checks if check.kept})
        return checks

    def _reread(self, order_since: dt.datetime, tracker: tc.TicketTracker,
                events: list[int] | None) -> Iterator[dict]:
        """Orders older than the window (of `events`; None: of every event), kept if a ticket changed."""
        where: list[dict[str, t.Any]] = [
            {"column": "updated_at", "operator": "<", "value": to_api_datetime(order_since)}]
        if events is not None:
            where.append({"column": "event_id", "operator": "in", "value": events})
        wanted = set(events or ())

        def check(row: dict) -> str | None:
            if parse_api_datetime(row["updated_at"]) >= order_since:
                return f"has updated_at {row['updated_at']}, inside the order window"
            if events is not None and int(row.get("event_id") or 0) not in wanted:
                return f"belongs to event {row.get('event_id')}, not one with a changed show"
            return None

        try:  # read in full before emitting: a switch to the full scan must not emit orders twice
            rows = list(self._emit(IdKeyset(self.page_size, self.ticket_pass or "", where, check), tracker,
                                   keep=tracker.changed))
        except FiltersIgnoredError as exc:
            self.logger.warning("orders: the API did not honour the %s re-read (%s); scanning every order",
                                self.ticket_pass, exc)
            self.ticket_pass = "full scan"
            rows = list(self._emit(IdScan(self.page_size, tracker.changed), tracker))
        yield from rows

    def _emit(self, query: OrdersQuery, tracker: tc.TicketTracker,
              keep: t.Callable[[dict], bool] | None = None, first: Future | None = None) -> Iterator[dict]:
        for row in self._read(query, first):
            if keep is None or keep(row):
                tracker.see(row)
                yield row

    # --- post-processing & the sales hand-over -----------------------------------------------------

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        """`row` holds the keys of `order_row` only (decoded with it): it is conformed in place."""
        baskets = baskets_of(row, self.name)
        row.pop("baskets", None)
        row["tickets_count"] = len(baskets)
        self.normalize.conform(row)
        if baskets and self.sales is not None:
            self.handover.add((self.sale_fields(row), baskets), weight=len(baskets))
        for key in self.unselected:
            row.pop(key, None)
        return row

    @cached_property
    def sale_sources(self) -> tuple[tuple[tuple[str, str], ...], RecordNormalizer | None]:
        """(sale field, order field) of the order fields the sales select, and the normaliser that converts
        them — None when this stream conforms each of them to the same schema (its values are taken)."""
        order_part = self.sales.parts[0]  # type: ignore[union-attr]
        pairs = tuple((target, ORDER_FIELDS_FOR_SALES[target]) for target in order_part.properties)
        same = all(self.normalize.properties.get(source) == order_part.properties[target]
                   for target, source in pairs)
        return pairs, None if same else order_part

    def sale_fields(self, order: dict) -> dict:
        """A sale's fields from its order (a record conformed in place, not yet trimmed)."""
        pairs, convert = self.sale_sources
        fields = {target: order[source] for target, source in pairs if source in order}
        return fields if convert is None else convert.convert(fields)

    def generate_child_contexts(self, record: dict, context: Context | None) -> Iterable[dict | None]:
        # Sales are handed over in batches (handoff.py), not one child sync per order.
        return self.handover.contexts()
