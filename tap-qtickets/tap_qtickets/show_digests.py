"""Which shows had a ticket change the order pass cannot see, found without the nested filter.

`GET /shows/{id}/barcodes` lists a show's currently valid tickets. A scan (`checked_at`), a refund or
cancellation (the ticket leaves the list), or a change of what the sales records emit of a ticket that the
list also shows (price, seat; the holder's names when they are selected) changes the show's *digest*, a sum
of per-ticket hashes over those fields (`digest_fields`: only they are asked for). The fallback compares it
with the digest kept from the previous run and re-reads the orders of the events whose shows changed —
only those, so a run without such changes re-reads nothing, whatever the size of the history.

A new sale must not count as a change: a digest leaves out the tickets of orders updated at or after its
*cut*, which the order pass emits anyway. The cut kept with a digest is the next run's order-window start
(order bookmark − lookback), so the next run, whose order pass reads every order updated since then, leaves
out exactly the same tickets before comparing. Barcodes are admission secrets: they never leave the
process — only digests reach the state.

The list must show scans (`checked_at` is asked for in `select`); if it does not, the signal is blind to
them and every live show counts as changed (the fallback then re-reads the orders of every event with a
live show, as without this signal).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import typing as t

import msgspec

from tap_qtickets.decoding import body_of
from tap_qtickets.normalize import to_utc_iso
from tap_qtickets.order_queries import OrdersQuery
from tap_qtickets.pagination import EachShow, ShowRef, page_is_last, show_id_of

if t.TYPE_CHECKING:
    from collections.abc import Collection

    import requests

    from tap_qtickets.ticket_changes import TicketChangeState

SCAN = "checked_at"
# What the list shows of a ticket that a sales record holds too, besides the barcode and the scan.
LISTED_SALES_FIELDS = ("price", "seat_name", "client_name", "client_surname", "client_middlename")
BARCODES_PATH_END = "/barcodes"
ALL_TICKETS = ""  # the cut of a digest that leaves nothing out (no order window was read to leave out)
_BITS = 64


def digest_fields(emitted: Collection[str]) -> tuple[str, ...]:
    """The fields a digest covers (and the list is asked for): the barcode, the scan, and those of
    `LISTED_SALES_FIELDS` the sales records emit (`emitted`)."""
    return ("barcode", SCAN, *(name for name in LISTED_SALES_FIELDS if name in emitted))


class FreshTickets:
    """The tickets of the orders the order pass read — barcode → their order's `updated_at` (UTC) —
    kept from `keep_from` (the oldest cut a digest will be compared at) or `lookback` before the newest order,
    whichever is older: memory follows recent activity, not history."""

    def __init__(self, keep_from: str | None, lookback: dt.timedelta) -> None:
        self.keep_from = keep_from
        self.lookback = lookback
        self.updated: dict[str, str] = {}
        self.newest: str | None = None  # the newest order `updated_at` read
        self._prune_at = 1 << 16

    def see(self, order: dict) -> None:
        updated = to_utc_iso(order.get("updated_at"))
        if updated is None:
            return
        if self.newest is None or updated > self.newest:
            self.newest = updated
        for basket in order.get("baskets") or ():  # `item_type` Structs, decoded with their barcode
            barcode = basket.barcode
            if barcode:
                key = str(barcode)
                if self.updated.get(key, "") < updated:
                    self.updated[key] = updated
        if len(self.updated) >= self._prune_at:
            self._prune()

    def _prune(self) -> None:
        assert self.newest is not None  # something was seen
        floor = (dt.datetime.fromisoformat(self.newest) - self.lookback).isoformat()
        if self.keep_from is not None:
            floor = min(floor, self.keep_from)
        self.updated = {key: updated for key, updated in self.updated.items() if updated >= floor}
        self._prune_at = max(1 << 16, 2 * len(self.updated))

    def holds(self, barcode: str, cut: str) -> bool:
        """Whether the ticket with this barcode belongs to an order updated at or after `cut` (an order the
        order pass emitted)."""
        return cut != ALL_TICKETS and self.updated.get(barcode, "") >= cut


HashedTicket = tuple[int, str | None]  # (hash of the ticket's digest fields, its barcode)


def hashed(rows: list[dict], fields: tuple[str, ...]) -> list[HashedTicket]:
    """A show's ticket list, hashed once for all the digests taken of it."""
    encode, blake2b, from_bytes, size = msgspec.json.encode, hashlib.blake2b, int.from_bytes, _BITS // 8
    out = []
    for row in rows:
        get = row.get
        barcode = get("barcode")
        out.append((from_bytes(blake2b(encode(list(map(get, fields))), digest_size=size).digest(), "big"),
                    str(barcode) if barcode else None))
    return out


def digest(tickets: list[HashedTicket], fresh: FreshTickets | None, cut: str) -> str:
    """The sum of the hashes of the tickets whose order was updated before `cut`."""
    if fresh is None or cut == ALL_TICKETS:
        total = sum(content for content, _ in tickets)
    else:
        total = sum(content for content, key in tickets if key is None or not fresh.holds(key, cut))
    return f"{total % (1 << _BITS):016x}"


class ShowCheck(t.NamedTuple):
    """One show's verdict: changed since the previous run (or unknown), its new digest (None: none kept)."""

    show: ShowRef
    changed: bool
    kept: list[str] | None
    blind: bool  # the list holds no scan times


class ShowBarcodes(OrdersQuery):
    """GET /shows/{id}/barcodes for `shows` (one request each), asking for the digest fields of what the sales
    records emit (`emitted`); `accept` turns each answer into a ShowCheck.

    `compare_from`: the oldest cut whose tickets `fresh` holds (digests with an older cut cannot be
    compared: their shows count as changed). `next_cut`: the cut of the digests kept for the next run."""

    def __init__(self, shows: list[ShowRef], emitted: Collection[str], saved: TicketChangeState,
                 fresh: FreshTickets | None, compare_from: str | None, next_cut: str) -> None:
        super().__init__(page_size=0)
        self.shows, self.fields, self.saved, self.fresh = shows, digest_fields(emitted), saved, fresh
        self.compare_from, self.next_cut = compare_from, next_cut
        self.by_id = {show.show_id: show for show in shows}

    def paginator(self) -> EachShow:
        return EachShow(self.shows)

    def payload(self, token: ShowRef) -> dict:
        return {"select": list(self.fields)}

    def path(self, token: ShowRef) -> str:
        return f"/shows/{token.show_id}{BARCODES_PATH_END}"

    def accept(self, rows: list[dict], response: requests.Response) -> list[dict]:
        show = self.by_id[show_id_of(response.url)]
        body = body_of(response)
        if body is None or (isinstance(body, dict) and not page_is_last(response)):
            # Removed, or a list in pages this read does not follow: the event is re-read.
            return [{"check": ShowCheck(show, changed=True, kept=None, blind=False)}]
        blind = any(SCAN not in row for row in rows)
        saved = self.saved.show_digests.get(str(show.show_id))
        comparable = saved is not None and (saved[0] == ALL_TICKETS or (
            self.fresh is not None and self.compare_from is not None and saved[0] >= self.compare_from))
        tickets = hashed(rows, self.fields)
        changed = not comparable or saved[1] != digest(tickets, self.fresh, saved[0])  # type: ignore[index]
        kept = [self.next_cut, digest(tickets, self.fresh, self.next_cut)]
        return [{"check": ShowCheck(show, changed=changed or blind, kept=kept, blind=blind)}]
