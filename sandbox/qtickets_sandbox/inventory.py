"""Everything derived from the orders: seat counters, /shows/{id}/seats, barcodes, and the ground truth."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from .model import State

FLAT_DEFAULT_FIELDS = [
    "id",
    "root_id",
    "name",
    "zone_id",
    "zone_root_id",
    "short_seat_id",
    "admission",
    "row",
    "place",
    "max_quantity",
    "free_quantity",
    "ordered_quantity",
    "payed_quantity",
    "in_basket_quantity",
    "available",
    "disabled",
    "ordered",
    "price",
    "currency_id",
    "color_theme_id",
]


def zone_of(seat_id: str) -> str:
    return seat_id.rsplit("-", 1)[0]


def ticket_status(order: dict, basket: dict) -> str:
    if basket["refunded_at"]:
        return "refunded"
    if basket["deleted_at"] or order["deleted_at"]:
        return "cancelled"
    return "sold"


def seat_counters(state: State, show_id: int) -> dict[str, dict]:
    """Per seat of the show's layout: the API's quantity counters, computed from current orders."""
    ordered: Counter = Counter()
    payed: Counter = Counter()
    for oid in state.show_orders[show_id]:
        order = state.orders[oid]
        if order["deleted_at"]:
            continue
        for b in order["baskets"]:
            if b["show_id"] != show_id or b["deleted_at"] or b["refunded_at"]:
                continue
            ordered[b["seat_id"]] += 1
            if order["payed"]:
                payed[b["seat_id"]] += 1
    out = {}
    for seat in state.layouts[show_id]:
        sid = seat["seat_id"]
        n_ordered, n_payed, in_basket = ordered[sid], payed[sid], 0  # carts are not simulated
        free = 0 if seat["disabled"] else max(0, seat["max_quantity"] - n_ordered - in_basket)
        out[sid] = {
            "seat": seat,
            "max_quantity": seat["max_quantity"],
            "free_quantity": free,
            "ordered_quantity": n_ordered,
            "payed_quantity": n_payed,
            "in_basket_quantity": in_basket,
        }
    return out


def _seat_row(c: dict) -> dict:
    seat = c["seat"]
    sid = seat["seat_id"]
    return {
        "id": sid,
        "root_id": sid,
        "name": seat["name"],
        "zone_id": seat["zone_id"],
        "zone_root_id": seat["zone_id"],
        "short_seat_id": sid.rsplit("-", 1)[1],
        "admission": seat["admission"],
        "row": seat["row"],
        "place": seat["place"],
        "max_quantity": c["max_quantity"],
        "free_quantity": c["free_quantity"],
        "ordered_quantity": c["ordered_quantity"],
        "payed_quantity": c["payed_quantity"],
        "in_basket_quantity": c["in_basket_quantity"],
        "available": c["free_quantity"] > 0,
        "disabled": seat["disabled"],
        "ordered": c["ordered_quantity"] > 0,
        "price": seat["price"],
        "currency_id": "RUB",
        "related_seats": [],
        "multiprice_name": None,
        "multiprice_code": None,
        "color_theme_id": seat["color_theme_id"],
        "coords": [0, 0],
        "root_zone_id": seat["zone_id"],
    }


def seats_payload(state: State, show_id: int, flat: bool, select, keep) -> dict:
    """`flat` → {seat id: fields}; default → {zone: {zone_id, name, description, seats{row;place: …}}}."""
    rows = [_seat_row(c) for c in seat_counters(state, show_id).values()]
    rows = [r for r in rows if keep(r)]
    if flat:
        fields = select or FLAT_DEFAULT_FIELDS
        return {r["id"]: {f: r.get(f) for f in fields if f in r} for r in rows}
    fields = select or ["seat_id", "admission"]
    zones: dict = {}
    for r in rows:
        zone = zones.setdefault(
            r["zone_id"],
            {"zone_id": r["zone_id"], "name": r["name"].split(":")[0], "description": "", "seats": {}},
        )
        item = {"seat_id": r["id"], **r}
        zone["seats"][r["short_seat_id"]] = {f: item.get(f) for f in fields if f in item}
    return zones


# What GET /shows/{id}/barcodes can list of a ticket, what it lists unless told (all but the scan), and
# which of it is the seat's rather than the ticket's.
BARCODE_FIELDS = ("barcode", "admission", "price", "seat_name", "zone_name", "row", "place", "client_name",
                  "client_surname", "client_middlename", "checked_at")
DEFAULT_BARCODE_FIELDS = tuple(f for f in BARCODE_FIELDS if f != "checked_at")
_SEAT_FIELDS = frozenset(("admission", "zone_name", "row", "place"))


def barcodes(state: State, show_id: int, fields: Sequence[str] = BARCODE_FIELDS) -> list[dict]:
    """Currently valid tickets of a show (paid, not refunded, not cancelled), one row per ticket, with those
    of `fields` a ticket has (only they are built: a list is asked for a few fields of many tickets)."""
    fields = [f for f in fields if f in BARCODE_FIELDS]
    layout = {s["seat_id"]: s for s in state.layouts[show_id]} if _SEAT_FIELDS.intersection(fields) else {}
    sources = [(f, f in _SEAT_FIELDS) for f in fields]
    out = []
    for oid in state.show_orders[show_id]:
        order = state.orders[oid]
        if not order["payed"]:
            continue
        for b in order["baskets"]:
            if b["show_id"] != show_id or ticket_status(order, b) != "sold":
                continue
            seat = layout.get(b["seat_id"])
            out.append({f: seat[f] if of_seat else b[f] for f, of_seat in sources})  # type: ignore[index]
    return out


TICKET_TRUTH_FIELDS = (
    "ticket_id", "order_id", "event_id", "show_id", "zone_id", "seat_id", "status", "price", "original_price",
    "discount_value", "refunded_amount", "refunded_at", "checked_at", "payed_at", "order_updated_at",
    "updated_at", "order_deleted_at", "deleted_at",
)


def ticket_truth(order: dict, basket: dict) -> dict:
    """One paid ticket as the warehouse must show it: every field the views expose, as the API writes it."""
    return {
        "ticket_id": basket["id"],
        "order_id": order["id"],
        "event_id": order["event_id"],
        "show_id": basket["show_id"],
        "zone_id": zone_of(basket["seat_id"]),
        "seat_id": basket["seat_id"],
        "status": ticket_status(order, basket),
        "price": basket["price"],
        "original_price": basket["original_price"],
        "discount_value": basket["discount_value"],
        "refunded_amount": basket["refunded_amount"],
        "refunded_at": basket["refunded_at"],
        "checked_at": basket["checked_at"],
        "payed_at": order["payed_at"],
        "order_updated_at": order["updated_at"],
        "updated_at": basket["updated_at"],
        "order_deleted_at": order["deleted_at"],
        "deleted_at": basket["deleted_at"],
    }


def truth(state: State) -> dict:
    from .timefmt import fmt

    tickets = [ticket_truth(o, b) for o in state.orders.values() if o["payed"] for b in o["baskets"]]
    inventory = []
    for show_id, (show, event) in sorted(state.shows.items()):
        if show["deleted_at"]:
            continue
        per_zone: dict[str, dict] = {}
        for sid, c in seat_counters(state, show_id).items():
            zone = per_zone.setdefault(zone_of(sid), {"capacity": 0, "sold": 0, "held": 0, "disabled": 0})
            if c["seat"]["disabled"]:
                zone["disabled"] += 1
                continue
            zone["capacity"] += c["max_quantity"]
            zone["sold"] += c["payed_quantity"]
            zone["held"] += c["ordered_quantity"] - c["payed_quantity"] + c["in_basket_quantity"]
        for zone_id, z in per_zone.items():
            inventory.append(
                {
                    "show_id": show_id,
                    "event_id": event["id"],
                    "zone_id": zone_id,
                    "capacity": z["capacity"],
                    "free": z["capacity"] - z["sold"] - z["held"],
                    "sold": z["sold"],
                    "held": z["held"],
                    "disabled": z["disabled"],
                    "show_finish_date": show["finish_date"],
                }
            )
    events = [
        {
            "id": e["id"],
            "name": e["name"],
            "city_id": e["city_id"],
            "city_name": e["city"]["name"],
            "city_timezone": e["city"]["timezone"],
            "deleted_at": e["deleted_at"],
        }
        for e in sorted(state.events.values(), key=lambda e: e["id"])
    ]
    shows = [
        {k: show[k] for k in ("id", "start_date", "finish_date", "deleted_at")} | {"event_id": event["id"]}
        for show, event in (state.shows[i] for i in sorted(state.shows))
    ]
    tickets.sort(key=lambda t: t["ticket_id"])
    return {"now": fmt(state.now), "tickets": tickets, "inventory": inventory, "events": events,
            "shows": shows, "semantics": dict(state.semantics)}
