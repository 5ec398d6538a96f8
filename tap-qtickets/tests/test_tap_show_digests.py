"""The fallback's per-show ticket digests: what changes them, what they leave out, what they keep."""

from __future__ import annotations

import datetime as dt

import pytest
from tap_qtickets.decoding import item_type
from tap_qtickets.show_digests import (
    ALL_TICKETS,
    LISTED_SALES_FIELDS,
    FreshTickets,
    digest,
    digest_fields,
    hashed,
)

pytestmark = pytest.mark.unit

TICKETS = [
    {"barcode": "870000000001", "checked_at": None, "client_name": "Анна", "seat_name": "Партер: 1, 1"},
    {"barcode": "870000000002", "checked_at": None, "client_name": "Лев", "seat_name": "Партер: 1, 2"},
]
CUT = "2025-11-03T09:00:00+00:00"
EVERY_FIELD = digest_fields(LISTED_SALES_FIELDS)  # the sales records emit the holder's names (include_pii)


def digest_of(rows: list[dict], fresh: FreshTickets | None, cut: str, fields: tuple = EVERY_FIELD) -> str:
    return digest(hashed(rows, fields), fresh, cut)


BASKET = item_type("Basket", ["barcode", "updated_at"])  # as the orders stream decodes baskets


def order(updated_at: str, *barcodes: str) -> dict:
    return {"id": 1, "updated_at": updated_at, "baskets": [BASKET(barcode=code) for code in barcodes]}


def test_a_scan_an_edit_or_a_refund_changes_the_digest_and_the_order_of_the_list_does_not():
    before = digest_of(TICKETS, None, ALL_TICKETS)
    assert digest_of(list(reversed(TICKETS)), None, ALL_TICKETS) == before
    scanned = [{**TICKETS[0], "checked_at": "2025-11-03T18:40:00+03:00"}, TICKETS[1]]
    edited = [TICKETS[0], {**TICKETS[1], "client_name": "Пётр"}]
    refunded = TICKETS[:1]
    assert len({before, digest_of(scanned, None, ALL_TICKETS), digest_of(edited, None, ALL_TICKETS),
                digest_of(refunded, None, ALL_TICKETS)}) == 4


def test_a_digest_covers_what_the_sales_records_emit_of_the_list_and_the_scan():
    without_names = digest_fields({"id", "price", "seat_name", "checked_at"})
    assert without_names == ("barcode", "checked_at", "price", "seat_name")
    edited = [TICKETS[0], {**TICKETS[1], "client_name": "Пётр"}]
    assert digest_of(edited, None, ALL_TICKETS, without_names) == digest_of(TICKETS, None, ALL_TICKETS,
                                                                            without_names)
    scanned = [{**TICKETS[0], "checked_at": "2025-11-03T18:40:00+03:00"}, TICKETS[1]]
    bare = digest_fields(())  # no sales selected
    assert bare == ("barcode", "checked_at")
    assert digest_of(scanned, None, ALL_TICKETS, bare) != digest_of(TICKETS, None, ALL_TICKETS, bare)


def test_tickets_of_orders_the_order_pass_read_since_the_cut_are_left_out():
    fresh = FreshTickets(keep_from=CUT, lookback=dt.timedelta(hours=2))
    fresh.see(order("2025-11-03T12:30:00+03:00", "870000000002"))  # 09:30 UTC: after the cut
    fresh.see(order("2025-11-03T11:00:00+03:00", "870000000001"))  # 08:00 UTC: before it
    with_new_sale = [*TICKETS, {"barcode": "870000000003", "checked_at": None}]
    fresh.see(order("2025-11-03T13:00:00+03:00", "870000000003"))
    # The sale since the cut and the order changed since the cut count as nothing: the order pass emitted
    # them; the older ticket still counts.
    assert digest_of(with_new_sale, fresh, CUT) == digest_of(TICKETS[:1], None, ALL_TICKETS)
    assert digest_of(with_new_sale, fresh, ALL_TICKETS) == digest_of(with_new_sale, None, ALL_TICKETS)
    assert fresh.newest == "2025-11-03T10:00:00+00:00"


def test_fresh_tickets_keep_what_a_cut_can_still_need_and_no_more():
    """Memory follows recent activity: tickets older than the lookback before the newest order go."""
    fresh = FreshTickets(keep_from=None, lookback=dt.timedelta(hours=2))
    start = dt.datetime(2025, 11, 1, tzinfo=dt.UTC)
    for step in range(70_000):  # ~8 days of orders, one every 10 seconds
        fresh.see(order((start + dt.timedelta(seconds=10 * step)).isoformat(), f"87{step:010d}"))
    assert len(fresh.updated) < 10_000
    recent = start + dt.timedelta(seconds=10 * 69_000)  # within the lookback of the newest order
    nothing = digest_of([], None, ALL_TICKETS)
    assert digest_of([{"barcode": "870000069000"}], fresh, recent.isoformat()) == nothing  # left out
    assert digest_of([{"barcode": "870000000001"}], fresh, start.isoformat()) != nothing  # forgotten
