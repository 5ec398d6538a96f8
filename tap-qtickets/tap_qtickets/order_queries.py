"""The ways the orders stream reads GET /orders, each with the self-check that proves the API honoured it.

Filters travel as a JSON body on GET, which production has never been shown to honour (qtickets-api.md
§2), so no query is trusted blindly: every page is checked against what was asked, and a violation raises
`FiltersIgnoredError`, on which the stream falls back to a slower read that needs less of the API.

- `UpdatedAtWindow`: `updated_at >= since [<= end]`, keyset-paged by (updated_at, id) — the order pass.
- `IdKeyset`: any `where`, keyset-paged by id (`id > last`) — the ticket-change passes.
- `IdScan`: no filter at all, page numbers by id, the caller filters client-side — the last resort.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from collections.abc import Callable

from tap_qtickets.decoding import body_of
from tap_qtickets.normalize import missing_key_error, record_error, to_api_datetime, to_utc_iso
from tap_qtickets.pagination import (
    IdKeysetPaginator,
    KeysetCursor,
    QTicketsPaginator,
    UpdatedAtKeysetPaginator,
)

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.pagination import BaseAPIPaginator

RowCheck = Callable[[dict], str | None]  # why a row should not have come back, or None


class FiltersIgnoredError(Exception):
    """/orders answered outside the requested `where` or order."""


class OrdersQuery:
    """One read of /orders: its request bodies, its paginator, and the check of every page."""

    def __init__(self, page_size: int) -> None:
        self.page_size = page_size

    def paginator(self) -> BaseAPIPaginator:
        raise NotImplementedError

    def payload(self, token: t.Any) -> dict:
        raise NotImplementedError

    def path(self, token: t.Any) -> str | None:
        """The request path of page `token` (None: the stream's, /orders)."""
        return None

    def accept(self, rows: list[dict], response: requests.Response) -> list[dict]:
        """The rows to emit; raises FiltersIgnoredError when the page shows the request was not honoured."""
        return rows

    def _full_page(self, rows: list[dict], response: requests.Response) -> bool:
        paging = body_of(response).get("paging") or {}
        return len(rows) >= int(paging.get("perPage") or self.page_size)


def _order_id(stream: str, row: dict) -> int:
    if row.get("id") is None:
        raise missing_key_error(stream, "id")
    return int(row["id"])


class UpdatedAtWindow(OrdersQuery):
    """`updated_at >= since` (and `<= end`), ordered by updated_at then id, keyset-paged.

    After each page the window restarts at the page's last `updated_at`; ids already emitted at that
    instant are skipped, so orders that change while we page (drift) move behind the cursor and are still
    read, and equal `updated_at` values are never lost or doubled."""

    def __init__(self, page_size: int, start: dt.datetime, end: dt.datetime | None) -> None:
        super().__init__(page_size)
        self.start, self.end = start, end
        # Compared as UTC text (`to_utc_iso`, the records' form): in that form text order is time order.
        self._since = start.astimezone(dt.UTC).isoformat()
        self._end = end.astimezone(dt.UTC).isoformat() if end else None
        self._last_key: tuple[str, int] | None = None
        self._seen_at_since: set[int] = set()

    def paginator(self) -> UpdatedAtKeysetPaginator:
        return UpdatedAtKeysetPaginator(to_api_datetime(self.start))

    def payload(self, token: KeysetCursor) -> dict:
        where = [{"column": "updated_at", "operator": ">=", "value": token.since}]
        if self.end:
            where.append({"column": "updated_at", "operator": "<=", "value": to_api_datetime(self.end)})
        return {"page": token.page, "per_page": self.page_size, "where": where,
                "orderBy": {"updated_at": "asc", "id": "asc"}}

    def accept(self, rows: list[dict], response: requests.Response) -> list[dict]:
        since, end, last_key, seen = self._since, self._end, self._last_key, self._seen_at_since
        fresh = []
        for row in rows:
            order_id = _order_id("orders", row)
            updated = _updated_at(row)
            if updated is None or updated < since or (end is not None and updated > end):
                msg = f"order {row['id']} updated_at {row.get('updated_at')} is outside the requested window"
                raise FiltersIgnoredError(msg)
            key = (updated, order_id)
            if last_key is not None and key < last_key and updated != since:
                msg = f"order {row['id']} came out of updated_at/id order"
                raise FiltersIgnoredError(msg)
            if updated == since and order_id in seen:
                continue
            fresh.append(row)
            if last_key is None or key > last_key:
                last_key = key
        self._last_key = last_key
        if rows and not fresh and self._full_page(rows, response):
            msg = "a full page brought no new orders (the window did not move)"
            raise FiltersIgnoredError(msg)
        if rows:
            last = _updated_at(rows[-1])
            if last != since:  # the paginator restarts the window at `last`
                self._since, self._seen_at_since = last, set()  # type: ignore[assignment]  # last: not None
            for row in reversed(rows):  # in updated_at order (checked above): the ones at `last` end it
                if _updated_at(row) != last:
                    break
                self._seen_at_since.add(int(row["id"]))
        return fresh


def _updated_at(row: dict) -> str | None:
    """The order's `updated_at` as UTC text; a value that is no date-time names the order and the field."""
    value = row.get("updated_at")
    if not value:
        return None
    try:
        return to_utc_iso(value)
    except ValueError:
        problem = f"expects date-time, got {value!r:.80}"
        raise record_error("orders", row.get("id"), "updated_at", problem) from None


class IdKeyset(OrdersQuery):
    """`where` (+ `id > last`), ordered by id: keyset paging that new matches cannot shift.

    `check` names what is wrong with a row the filter should not have returned; ids must rise."""

    def __init__(self, page_size: int, name: str, where: list[dict], check: RowCheck) -> None:
        super().__init__(page_size)
        self.name, self.where, self.check = name, where, check
        self._last = 0

    def paginator(self) -> IdKeysetPaginator:
        return IdKeysetPaginator(self._last)  # after the rows already read (a first page sent ahead)

    def payload(self, token: int) -> dict:
        where = [*self.where, {"column": "id", "operator": ">", "value": token}] if token else self.where
        return {"page": 1, "per_page": self.page_size, "where": where, "orderBy": {"id": "asc"}}

    def accept(self, rows: list[dict], response: requests.Response) -> list[dict]:
        for row in rows:
            order_id = _order_id("orders", row)
            if order_id <= self._last:
                raise FiltersIgnoredError(f"{self.name}: order {order_id} came out of id order")
            problem = self.check(row)
            if problem:
                raise FiltersIgnoredError(f"{self.name}: order {order_id} {problem}")
            self._last = order_id
        return rows


class IdScan(OrdersQuery):
    """Every order by page number, oldest id first; `keep` filters client-side (nothing is trusted)."""

    def __init__(self, page_size: int, keep: Callable[[dict], bool]) -> None:
        super().__init__(page_size)
        self.keep = keep

    def paginator(self) -> QTicketsPaginator:
        return QTicketsPaginator()

    def payload(self, token: int) -> dict:
        return {"page": token, "per_page": self.page_size, "orderBy": {"id": "asc"}}

    def accept(self, rows: list[dict], response: requests.Response) -> list[dict]:
        for row in rows:
            _order_id("orders", row)
        return [row for row in rows if self.keep(row)]
