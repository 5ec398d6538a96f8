"""Orders (incremental on updated_at, with a filter self-check) and sales (one row per basket)."""

from __future__ import annotations

import datetime as dt
import typing as t
from functools import cached_property

from tap_qtickets.client import QTicketsStream
from tap_qtickets.normalize import missing_key_error, parse_api_datetime, to_api_datetime
from tap_qtickets.pagination import QTicketsPaginator, UpdatedAtKeysetPaginator, envelope

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context

SALES_BATCH_BASKETS = 2000
ORDER_FIELDS_FOR_SALES = {
    "order_id": "id", "event_id": "event_id", "client_id": "client_id", "payed": "payed",
    "payed_at": "payed_at", "order_created_at": "created_at", "order_updated_at": "updated_at",
    "order_deleted_at": "deleted_at", "currency_id": "currency_id", "promo_code_id": "promo_code_id",
    "discount_id": "discount_id", "utm": "utm",
}


class FiltersIgnoredError(Exception):
    """/orders answered outside the requested `where` window or order."""


class OrdersStream(QTicketsStream):
    """GET /orders with `where updated_at >= bookmark − lookback`, ordered by updated_at then id."""

    name = "orders"
    path = "/orders"
    primary_keys = ("id",)
    replication_key = "updated_at"
    is_sorted = False  # the safe-scan fallback yields id order; the bookmark is committed at the end
    order_by: t.ClassVar[dict[str, str]] = {"updated_at": "asc", "id": "asc"}

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending_baskets: list[tuple[dict, list[dict]]] = []  # (order fields for sales, baskets)
        self.pending_lines = 0
        self.flush_now = False
        self.batch_no = 0
        self.safe_scan = False
        self._window: tuple[dt.datetime, dt.datetime | None] | None = None
        self._last_key: tuple[dt.datetime, int] | None = None
        self._seen_at_since: set[int] = set()
        self._since: dt.datetime | None = None

    def get_replication_key_signpost(self, context: Context | None = None) -> None:
        # The bookmark is the max updated_at emitted (server clock), not capped by this host's clock.
        return None

    # --- window ----------------------------------------------------------------------------

    def window(self, context: Context | None) -> tuple[dt.datetime, dt.datetime | None]:
        # A stored bookmark wins over start_date (whose default moves with the clock).
        bookmark = self.get_context_state(context).get("replication_key_value")
        if bookmark:
            start = parse_api_datetime(bookmark) - dt.timedelta(minutes=int(self.config["lookback_minutes"]))
        elif self.config.get("start_date"):
            start = parse_api_datetime(self.config["start_date"])
        else:
            start = self._tap.default_start_date
        end = self.config.get("end_date")
        return start, parse_api_datetime(end) if end else None

    def where(self, since: str) -> list[dict]:
        clauses = [{"column": "updated_at", "operator": ">=", "value": since}]
        if self._window and self._window[1]:
            end = to_api_datetime(self._window[1])
            clauses.append({"column": "updated_at", "operator": "<=", "value": end})
        return clauses

    def prepare_request_payload(self, context: Context | None, next_page_token: t.Any) -> dict:
        if self.safe_scan:
            return {"page": next_page_token, "per_page": self.page_size, "orderBy": {"id": "asc"}}
        body = self.list_options(next_page_token.page)
        body["where"] = self.where(next_page_token.since)
        return body

    def get_new_paginator(self) -> QTicketsPaginator | UpdatedAtKeysetPaginator:
        if self.safe_scan:
            return QTicketsPaginator()
        return UpdatedAtKeysetPaginator(to_api_datetime(self._window[0]))  # type: ignore[index]

    # --- records ------------------------------------------------------------------------------

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        self._window = self.window(context)
        self.logger.info("orders: window updated_at >= %s%s", self._window[0].isoformat(),
                         f" and <= {self._window[1].isoformat()}" if self._window[1] else "")
        try:
            yield from self._with_flush_marks(self._keyset_records())
        except FiltersIgnoredError as exc:
            self.logger.warning(
                "orders: the API did not honour the updated_at filter/order (%s); falling back to a full "
                "scan by id with client-side filtering (slower, nothing is skipped)", exc)
            self.safe_scan = True
            yield from self._with_flush_marks(self._safe_scan_records())

    def _with_flush_marks(self, records: t.Iterable[dict]) -> t.Iterable[dict]:
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

    def _keyset_records(self) -> t.Iterable[dict]:
        self._since = self._window[0]  # type: ignore[index]
        self._last_key = None
        yield from self.request_records(None)

    def _safe_scan_records(self) -> t.Iterable[dict]:
        # Orders already emitted before the switch may come again (same content; targets keep one per id).
        start, end = self._window  # type: ignore[misc]
        for row in self.request_records(None):
            updated = parse_api_datetime(row["updated_at"])
            if start <= updated and (end is None or updated <= end):
                yield row

    def parse_response(self, response: requests.Response) -> t.Iterable[dict]:
        rows = list(super().parse_response(response))
        if self.safe_scan:
            yield from rows
            return
        yield from self._check_keyset_page(rows, envelope(response))

    def _check_keyset_page(self, rows: list[dict], body: dict) -> t.Iterable[dict]:
        """Verify the answer honours `where`/`orderBy`; drop ids already emitted at the window start."""
        start, end = self._window  # type: ignore[misc]
        since = self._since or start
        fresh = []
        for row in rows:
            if row.get("id") is None:
                raise missing_key_error(self.name, "id")
            updated = parse_api_datetime(row["updated_at"])
            key = (updated, int(row["id"]))
            if updated < since or (end and updated > end):
                msg = f"order {row['id']} updated_at {row['updated_at']} is outside the requested window"
                raise FiltersIgnoredError(msg)
            if self._last_key and key < self._last_key and updated != since:
                msg = f"order {row['id']} came out of updated_at/id order"
                raise FiltersIgnoredError(msg)
            if updated == since and row["id"] in self._seen_at_since:
                continue
            fresh.append(row)
            self._last_key = max(self._last_key, key) if self._last_key else key
        paging = body.get("paging") or {}
        full_page = len(rows) >= int(paging.get("perPage") or self.page_size)
        if rows and not fresh and full_page:
            msg = "a full page brought no new orders (the window did not move)"
            raise FiltersIgnoredError(msg)
        if rows:
            last = parse_api_datetime(rows[-1]["updated_at"])
            if last != since:  # the paginator restarts the window at `last`
                self._since, self._seen_at_since = last, set()
            self._seen_at_since.update(r["id"] for r in rows if parse_api_datetime(r["updated_at"]) == last)
        yield from fresh

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

    def generate_child_contexts(self, record: dict, context: Context | None) -> t.Iterable[dict | None]:
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

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        """Normalised sale rows: the order's fields are converted once per order, not once per basket."""
        normalize = self.normalize
        for order_part, baskets in self._tap.streams["orders"].take_baskets():
            order_fields = normalize.convert(order_part)
            for basket in baskets:
                row = normalize(basket)
                row.update(order_fields)  # the order's values win, as for `{**basket, **order_part}`
                seat = str(basket.get("seat_id") or "")
                row["zone_id"] = seat.rsplit("-", 1)[0] if "-" in seat else (seat or None)
                yield row

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        return row  # get_records yields finished rows
