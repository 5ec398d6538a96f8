"""Paginators over the QTickets envelope `{"data": [...], "paging": {perPage, currentPage, total}}`."""

from __future__ import annotations

import typing as t

from singer_sdk.pagination import BaseAPIPaginator, PageNumberPaginator

from tap_qtickets.normalize import parse_api_datetime

if t.TYPE_CHECKING:
    import requests


def envelope(response: requests.Response) -> dict:
    """The parsed body; `QTicketsStream.validate_response` parsed (and cached) it already."""
    cached = getattr(response, "qt_body", None)
    return cached if cached is not None else response.json()


def paging_of(response: requests.Response) -> dict:
    body = envelope(response)
    paging = body.get("paging") if isinstance(body, dict) else None
    return paging if isinstance(paging, dict) else {}


def page_is_last(response: requests.Response) -> bool:
    """Stop on an empty page, a short page, or when currentPage*perPage reaches paging.total."""
    body = envelope(response)
    data = body.get("data") if isinstance(body, dict) else body
    paging = paging_of(response)
    if not data or not paging:
        return True
    per_page, current, total = (int(paging.get(k) or 0) for k in ("perPage", "currentPage", "total"))
    if per_page and len(data) < per_page:
        return True
    return bool(per_page and current and current * per_page >= total)


class QTicketsPaginator(PageNumberPaginator):
    """Page numbers 1..n over `paging`; a hard page cap stops runaway loops."""

    def __init__(self, start_value: int = 1, max_pages: int = 1_000_000) -> None:
        super().__init__(start_value)
        self.max_pages = max_pages

    def has_more(self, response: requests.Response) -> bool:
        if self.count >= self.max_pages:
            msg = f"paging did not end after {self.max_pages} pages"
            raise RuntimeError(msg)
        return not page_is_last(response)


class KeysetCursor(t.NamedTuple):
    """Next /orders request: `updated_at >= since`, page `page` of that window."""

    since: str
    page: int


class UpdatedAtKeysetPaginator(BaseAPIPaginator[KeysetCursor]):
    """Walks /orders by `updated_at` without trusting page offsets (which drift as orders change).

    After a page whose last `updated_at` is later than the window start, the window restarts at that
    value (page 1); a page entirely at the window start moves to the next page of the same window.
    The stream skips ids it already emitted at the restart value, so ties are neither lost nor doubled.
    """

    def __init__(self, since: str) -> None:
        super().__init__(KeysetCursor(since, 1))

    def has_more(self, response: requests.Response) -> bool:
        return not page_is_last(response)

    def get_next(self, response: requests.Response) -> KeysetCursor | None:
        data = envelope(response).get("data") or []
        last = parse_api_datetime(data[-1]["updated_at"])
        if last == parse_api_datetime(self.current_value.since):
            return KeysetCursor(self.current_value.since, self.current_value.page + 1)
        # The new window starts with the rows of this page stamped `last`: skip the pages they fill.
        at_last = sum(1 for row in data if parse_api_datetime(row["updated_at"]) == last)
        return KeysetCursor(data[-1]["updated_at"], 1 + at_last // len(data))


class IdKeysetPaginator(BaseAPIPaginator[int]):
    """`id > last id of the previous page`, page 1 every time (0 = the first request, no id bound)."""

    def __init__(self) -> None:
        super().__init__(0)

    def has_more(self, response: requests.Response) -> bool:
        return not page_is_last(response)

    def get_next(self, response: requests.Response) -> int | None:
        data = envelope(response).get("data") or []
        return int(data[-1]["id"])
