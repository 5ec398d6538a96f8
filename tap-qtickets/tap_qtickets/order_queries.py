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
from tap_qtickets.normalize import missing_key_error, parse_api_datetime, to_api_datetime
from tap_qtickets.pagination import (
    IdKeysetPaginator,
    KeysetCursor,
    QTicketsPaginator,
    UpdatedAtKeysetPaginator,
)

if t.TYPE_CHECKING:
    import msgspec
    import requests
    from singer_sdk.pagination import BaseAPIPaginator

RowCheck = Callable[[dict], str | None]  # why a row should not have come back, or None


class FiltersIgnoredError(Exception):
    """/orders answered outside the requested `where` or order."""


class OrdersQuery:
    """One read of /orders: its request bodies, its paginator, and the check of every page."""

    gone_is_empty = False  # requests per show (show_digests.py): a JSON 404 means the show was removed
    decoder: msgspec.json.Decoder | None = None  # None: the stream's row-typed page decoder

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
        self._since = start
        self._last_key: tuple[dt.datetime, int] | None = None
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
        since, end = self._since, self.end
        fresh = []
        for row in rows:
            order_id = _order_id("orders", row)
            updated = parse_api_datetime(row["updated_at"]) if row.get("updated_at") else None
            if updated is None or updated < since or (end and updated > end):
                msg = f"order {row['id']} updated_at {row.get('updated_at')} is outside the requested window"
                raise FiltersIgnoredError(msg)
            key = (updated, order_id)
            if self._last_key and key < self._last_key and updated != since:
                msg = f"order {row['id']} came out of updated_at/id order"
                raise FiltersIgnoredError(msg)
            if updated == since and row["id"] in self._seen_at_since:
                continue
            fresh.append(row)
            self._last_key = max(self._last_key, key) if self._last_key else key
        if rows and not fresh and self._full_page(rows, response):
            msg = "a full page brought no new orders (the window did not move)"
            raise FiltersIgnoredError(msg)
        if rows:
            last = parse_api_datetime(rows[-1]["updated_at"])
            if last != since:  # the paginator restarts the window at `last`
                self._since, self._seen_at_since = last, set()
            self._seen_at_since.update(r["id"] for r in rows if parse_api_datetime(r["updated_at"]) == last)
        return fresh


class IdKeyset(OrdersQuery):
    """`where` (+ `id > last`), ordered by id: keyset paging that new matches cannot shift.

    `check` names what is wrong with a row the filter should not have returned; ids must rise."""

    def __init__(self, page_size: int, name: str, where: list[dict], check: RowCheck) -> None:
        super().__init__(page_size)
        self.name, self.where, self.check = name, where, check
        self._last = 0

    def paginator(self) -> IdKeysetPaginator:
        return IdKeysetPaginator()

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
