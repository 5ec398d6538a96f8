"""Paginators: over the QTickets envelope `{"data": [...], "paging": {perPage, currentPage, total}}`, by
keyset (orders), and one request per show (seats, barcodes)."""

from __future__ import annotations

import typing as t

from singer_sdk.pagination import BaseAPIPaginator, PageNumberPaginator

from tap_qtickets.decoding import body_of
from tap_qtickets.normalize import parse_api_datetime

if t.TYPE_CHECKING:
    import requests


def paging_of(response: requests.Response) -> dict:
    body = body_of(response)
    paging = body.get("paging") if isinstance(body, dict) else None
    return paging if isinstance(paging, dict) else {}


def page_is_last(response: requests.Response) -> bool:
    """Stop on an empty page, a short page, or when currentPage*perPage reaches paging.total."""
    body = body_of(response)
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
        data = body_of(response).get("data") or []
        last = parse_api_datetime(data[-1]["updated_at"])
        if last == parse_api_datetime(self.current_value.since):
            return KeysetCursor(self.current_value.since, self.current_value.page + 1)
        # The new window starts with the rows of this page stamped `last` (its tail: the order is checked
        # by the query, which refuses the page otherwise): skip the pages they fill.
        at_last = 0
        for row in reversed(data):
            if parse_api_datetime(row["updated_at"]) != last:
                break
            at_last += 1
        return KeysetCursor(data[-1]["updated_at"], 1 + at_last // len(data))


class IdKeysetPaginator(BaseAPIPaginator[int]):
    """`id > last id of the previous page`, page 1 every time (0 = the first request, no id bound)."""

    def __init__(self, after: int = 0) -> None:
        super().__init__(after)

    def has_more(self, response: requests.Response) -> bool:
        return not page_is_last(response)

    def get_next(self, response: requests.Response) -> int | None:
        data = body_of(response).get("data") or []
        return int(data[-1]["id"])


class ShowRef(t.NamedTuple):
    """One show, for the requests made per show (`/shows/{show_id}/seats`, `/shows/{show_id}/barcodes`)."""

    event_id: int
    show_id: int


class IndependentPages:
    """A paginator whose next token never depends on the answer (advanced with `None`): its pages may be
    requested before the previous answer is in."""


class EachShow(IndependentPages, BaseAPIPaginator[ShowRef]):
    """One request per show, in order: the page token is the show."""

    def __init__(self, shows: t.Sequence[ShowRef]) -> None:
        super().__init__(shows[0])
        self._shows = shows
        self._next = 1

    def has_more(self, response: requests.Response | None) -> bool:
        return self._next < len(self._shows)

    def get_next(self, response: requests.Response | None) -> ShowRef:
        show = self._shows[self._next]
        self._next += 1
        return show


def show_id_of(url: str) -> int:
    """The show id of a `.../shows/{id}/<what>` URL."""
    return int(url.split("?")[0].rstrip("/").split("/")[-2])
