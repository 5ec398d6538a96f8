"""The organiser's state: catalogue, orders and the order lifecycle (pay, expire, cancel, refund, scan).

Orders are kept as API-shaped dicts (list variant); each one's wire JSON is cached and dropped on change.
Seat counters and ground truth are always derived from these orders (see inventory.py), never stored.
"""

from __future__ import annotations

import bisect
import random
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

from . import catalog
from .catalog_build import Ids, build_client
from .timefmt import fmt, parse
from .wire import dumps

UNIQID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789"
DETAIL_INTEGRATIONS = {"roistat": {"roistat_visit": None}}
# What production leaves open (qtickets-api.md §17), switchable through /_sandbox/semantics.
DEFAULT_SEMANTICS = {"refund_bumps_order": True}
# Told of every order change: (webhook event type, the order right after the change, extra payload keys).
Observer = Callable[[str, dict, dict], None]


class BadSemantics(ValueError):
    pass


def later(row: dict, t: datetime) -> str:
    """The `updated_at` a change at `t` gives an order or a basket: `t`, but always after the one it had
    (production's rows are stamped by one clock that only moves forward; the simulation's jittered stamps
    could otherwise go back, e.g. a payment a few seconds after a basket stamped at checkout)."""
    previous = row.get("updated_at")
    if previous and parse(previous) >= t:
        return fmt(parse(previous) + timedelta(seconds=1))
    return fmt(t)


def parse_semantics(raw, current: dict | None = None) -> dict:
    """`current` updated with the known boolean switches of `raw`; anything else is rejected."""
    if not isinstance(raw, dict):
        raise BadSemantics(f"semantics must be an object like {DEFAULT_SEMANTICS}, got {raw!r}")
    out = dict(current or DEFAULT_SEMANTICS)
    for key, value in raw.items():
        if key not in DEFAULT_SEMANTICS:
            raise BadSemantics(f"unknown semantics switch {key!r}; known: {sorted(DEFAULT_SEMANTICS)}")
        if not isinstance(value, bool):
            raise BadSemantics(f"semantics switch {key!r} must be true or false, got {value!r}")
        out[key] = value
    return out


class FastRandom(random.Random):
    """random.Random with cheaper randint/choice (float-based; still fully determined by the seed)."""

    def randint(self, a: int, b: int) -> int:
        return a + int(self.random() * (b - a + 1))

    def choice(self, seq):
        if not seq:
            raise IndexError("cannot choose from an empty sequence")
        return seq[int(self.random() * len(seq))]


class State:
    def __init__(self, seed: int, now: datetime, semantics: dict | None = None):
        self.seed = seed
        self.semantics = parse_semantics(semantics or {})
        self.rng = FastRandom(seed)
        # Ticket edits draw from their own stream, so adding them left every seed's history as it was.
        self.edit_rng = FastRandom(seed * 7919 + 1)
        self.ids = Ids(self.rng)
        self.now = now
        self.lock = threading.RLock()
        self.version = 0  # bumped on every change; keys the query cache
        self.order_changes = 0  # every order change counted (live mode paces on it)
        self.observer: Observer | None = None  # set once the history is built (webhooks)
        self.events: dict[int, dict] = {}
        self.shows: dict[int, tuple[dict, dict]] = {}  # show id -> (show doc, event doc)
        self.layouts: dict[int, list[dict]] = {}
        self.clients: dict[int, dict] = {}
        self.discounts: dict[int, dict] = {}
        self.discount_pct: dict[int, int] = {}
        self.promo_codes: dict[int, dict] = {}
        self.orders: dict[int, dict] = {}
        self.show_orders: dict[int, list[int]] = {}
        self._order_json: dict[int, bytes] = {}
        # Seat allocator (which seats a new order may take); it is not consulted for counters.
        self._seat_index: dict[int, dict[str, dict]] = {}
        self.show_times: dict[int, tuple[datetime | None, datetime, datetime, datetime]] = {}
        self.client_ids: list[int] = []
        self.catalog_version = 0  # bumped when an event changes whether it sells
        self._sale_bounds: list[datetime] = []
        self._on_sale_cache: tuple = (None, [])
        # A history longer than the default (simulate.py): orders before `sale_cutoff` buy tickets of events
        # whose shows all finished before it, so the other events sell exactly as with the default history.
        self.sale_cutoff: datetime | None = None
        self._older_on_sale: tuple = (None, [])
        self._free_seats: dict[int, list[str]] = {}
        self._ga_taken: dict[int, dict[str, int]] = {}
        self.recent_paid: deque[int] = deque(maxlen=300)

    # ---- catalogue -------------------------------------------------------------------------------
    def add_event(self, event: dict, layouts: dict[int, list[dict]]) -> None:
        self.events[event["id"]] = event
        for show in event["shows"]:
            self.shows[show["id"]] = (show, event)
            layout = layouts[show["id"]]
            self.layouts[show["id"]] = layout
            self._seat_index[show["id"]] = {s["seat_id"]: s for s in layout}
            sale_start = parse(show["sale_start_date"]) if show["sale_start_date"] else None
            self._sale_bounds = sorted(
                {*self._sale_bounds, parse(show["sale_finish_date"])}
                | ({parse(show["sale_start_date"])} if show["sale_start_date"] else set())
            )
            self.show_times[show["id"]] = (
                sale_start,
                parse(show["sale_finish_date"]),
                parse(show["start_date"]),
                parse(show["finish_date"]),
            )
            self.show_orders[show["id"]] = []
            numbered = [s["seat_id"] for s in layout if not s["admission"] and not s["disabled"]]
            self.rng.shuffle(numbered)
            self._free_seats[show["id"]] = numbered
            self._ga_taken[show["id"]] = {s["seat_id"]: 0 for s in layout if s["admission"]}

    def touch(self) -> None:
        self.version += 1

    def order_json(self, order_id: int) -> bytes:
        cached = self._order_json.get(order_id)
        if cached is None:
            cached = self._order_json[order_id] = dumps(self.orders[order_id])
        return cached

    def order_detail(self, order_id: int) -> dict:
        # Same order as in the list except `integrations`, as captured.
        return {**self.orders[order_id], "integrations": DETAIL_INTEGRATIONS}

    def changed(self, order: dict, event: str = "updated", **extra) -> None:
        """Every order mutation ends here: `event` is its webhook type, `extra` the payload keys it adds."""
        self._order_json.pop(order["id"], None)
        self.version += 1
        self.order_changes += 1
        if self.observer is not None:
            self.observer(event, order, extra)

    # ---- seat allocation -------------------------------------------------------------------------
    def _take_seats(self, show_id: int, count: int) -> list[dict] | None:
        layout = self._seat_index[show_id]
        free = self._free_seats[show_id]
        ga = self._ga_taken[show_id]
        ga_open = [sid for sid, used in ga.items() if layout[sid]["max_quantity"] - used >= count]
        if free and len(free) >= count and (not ga_open or self.rng.random() < 0.6):
            return [layout[free.pop()] for _ in range(count)]
        if not ga_open:
            return None
        sid = self.rng.choice(ga_open)
        ga[sid] += count
        return [layout[sid]] * count

    def _release(self, show_id: int, seat_id: str) -> None:
        if seat_id in self._ga_taken[show_id]:
            self._ga_taken[show_id][seat_id] -= 1
        else:
            self._free_seats[show_id].append(seat_id)

    # ---- order lifecycle -------------------------------------------------------------------------
    def on_sale(self, t: datetime) -> list[dict]:
        """Shows selling tickets at t; cached until t crosses a sale boundary or an event changes."""
        key = (self.catalog_version, bisect.bisect_right(self._sale_bounds, t))
        if self._on_sale_cache[0] != key:
            self._on_sale_cache = (key, self._compute_on_sale(t))
        return self._on_sale_cache[1]

    def _compute_on_sale(self, t: datetime) -> list[dict]:
        out = []
        for show_id, (show, event) in self.shows.items():
            if event["deleted_at"] or not event["is_active"] or show["deleted_at"] or not show["is_active"]:
                continue
            sale_start, sale_finish = self.show_times[show_id][:2]
            if (sale_start is None or sale_start <= t) and t < sale_finish:
                out.append(show)
        return out

    def add_client(self, client: dict) -> None:
        self.clients[client["id"]] = client
        self.client_ids.append(client["id"])

    def _pick_client(self) -> dict:
        if self.client_ids and self.rng.random() < 0.6:
            return self.clients[self.rng.choice(self.client_ids)]
        client = build_client(self.rng, self.ids)
        self.add_client(client)
        return client

    def _pick_discount(self, event_id: int) -> tuple[int | None, int | None, int]:
        if self.rng.random() >= 0.15:
            return None, None, 0
        live = [d for d in self.discounts.values() if d["deleted_at"] is None]
        if not live:
            return None, None, 0
        d = self.rng.choice(live)
        codes = [
            p["id"] for p in self.promo_codes.values() if p["discount_id"] == d["id"] and not p["deleted_at"]
        ]
        promo = self.rng.choice(codes) if codes and self.rng.random() < 0.6 else None
        return d["id"], promo, self.discount_pct[d["id"]]

    def _last_finish(self, event: dict) -> datetime:
        return max(self.show_times[show["id"]][3] for show in event["shows"])

    def create_order(self, t: datetime) -> dict | None:
        """A new unpaid order (seats held until payment, expiry or cancellation)."""
        rng = self.rng
        on_sale = self.on_sale(t)
        if self.sale_cutoff is not None and t < self.sale_cutoff:
            cutoff = self.sale_cutoff
            if self._older_on_sale[0] is not on_sale:
                older = [s for s in on_sale if self._last_finish(self.shows[s["id"]][1]) < cutoff]
                self._older_on_sale = (on_sale, older)
            on_sale = self._older_on_sale[1]  # none on sale: the order is not placed
        if not on_sale:
            return None
        count = rng.choices([1, 2, 3, 4, 6], weights=[40, 35, 12, 8, 5])[0]
        # Usually the first pick has room; the shuffled rest is the fallback when it is sold out.
        show = rng.choice(on_sale)
        seats = self._take_seats(show["id"], count)
        if seats is None:
            for show in rng.sample(on_sale, len(on_sale)):
                seats = self._take_seats(show["id"], count)
                if seats:
                    break
            else:
                return None
        event = self.shows[show["id"]][1]
        client = self._pick_client()
        discount_id, promo_id, pct = self._pick_discount(event["id"])
        oid = self.ids.next("order", 4)
        uniqid = "".join(rng.choices(UNIQID_ALPHABET, k=10))
        extended = rng.random() < 0.02
        holder = client if rng.random() < 0.7 else build_client(rng, self.ids)
        baskets = []
        basket_time = t - timedelta(seconds=rng.randint(60, 300))
        for seat in seats:
            basket_time += timedelta(seconds=rng.randint(1, 20))
            discount_value = round(seat["price"] * pct / 100)
            baskets.append(
                {
                    "id": self.ids.next("basket", 2),
                    "series": f"8820{event['id']}",
                    "barcode": None,
                    "show_id": show["id"],
                    "seat_id": seat["seat_id"],
                    "seat_name": seat["name"],
                    "original_price": seat["price"],
                    "ticket_original_price": seat["price"],
                    "discount_value": discount_value,
                    "price": seat["price"] - discount_value,
                    "ticket_amount": 0,
                    "service_fee_amount": 0,
                    "multiprice_code": None,
                    "quantity": 1,
                    "client_email": holder["email"].lower() if rng.random() < 0.5 else holder["email"],
                    "client_phone": holder["details"]["phone"],
                    "client_name": holder["details"]["name"],
                    "client_surname": holder["details"]["surname"] or "Иванов",
                    "client_middlename": None,
                    "organization_name": None,
                    "legal_name": None,
                    "work_position": None,
                    "inn": None,
                    "kpp": None,
                    "comment": None,
                    "pdf_url": None,
                    "passbook_url": None,
                    "related_baskets": [],
                    "services": [],
                    "checked_at": None,
                    "created_at": fmt(basket_time),
                    "updated_at": fmt(basket_time),
                    "deleted_at": None,
                    "refunded_at": None,
                    "refunded_amount": None,
                    "refunded_deduction_amount": None,
                    "refunds": [],
                }
            )
        utm = dict(rng.choice(catalog.UTM_VARIANTS)) if rng.random() < 0.3 else []
        order = {
            "id": oid,
            "uniqid": uniqid,
            "payed": False,
            "payed_at": None,
            "client_id": client["id"],
            "client": client,
            "site_id": 9448,
            "site": {"id": 9448, "host": "tickets.example.org"},
            "payment_id": 23076,
            "payment_type_id": "card" if rng.random() < 0.88 else str(rng.choice([1880839, 5898405])),
            "payment_card_number": None,
            "payment_url": f"https://example.org/pay/{uniqid}",
            "cancel_url": f"https://example.org/cancel-order/{uniqid}/{rng.getrandbits(128):032x}",
            "basket_user_id": self.ids.next("basket_user", 30),
            "backend_user_id": 4411 if rng.random() < 0.03 else None,
            "access_code_id": None,
            "discount_id": discount_id,
            "promo_code_id": promo_id,
            "reserved": False,
            "reserved_to": fmt(t + timedelta(hours=48 if extended else 24)),
            "reserve_extended": extended,
            "event_id": event["id"],
            "price": sum(b["price"] for b in baskets),
            "original_price": sum(b["original_price"] for b in baskets),
            "currency_id": "RUB",
            "utm": utm,
            "custom": "",
            "fields": [],
            "baskets": baskets,
            "refunds": [],
            "integrations": [],
            "created_at": fmt(t),
            "updated_at": fmt(t),
            "deleted_at": None,
        }
        self.orders[oid] = order
        for sid in {b["show_id"] for b in baskets}:
            self.show_orders[sid].append(oid)
        self.changed(order, "created")
        return order

    def pay(self, order: dict, t: datetime) -> bool:
        if order["payed"] or order["deleted_at"]:
            return False
        rng = self.rng
        order["payed"] = True
        order["payed_at"] = fmt(t)
        order["updated_at"] = later(order, t + timedelta(seconds=rng.randint(1, 6)))
        if rng.random() < 0.9:
            order["payment_card_number"] = (
                f"{rng.choice('245')}{rng.randint(10**4, 10**5 - 1)}******{rng.randint(1000, 9999)}"
            )
        for b in order["baskets"]:
            token = f"{rng.getrandbits(128):032x}"
            b["barcode"] = f"87{rng.randint(0, 10**10 - 1):010d}"
            b["pdf_url"] = f"https://example.org/ticket/pdf/{order['uniqid']}/{token}"
            b["passbook_url"] = f"https://example.org/ticket/passbook/{order['uniqid']}/{token}"
            b["ticket_amount"] = b["price"]
            b["updated_at"] = later(b, t)
        self.recent_paid.append(order["id"])
        self.changed(order, "payed")
        return True

    def delete(self, order: dict, t: datetime) -> bool:
        """Expiry of an unpaid reservation or a cancellation: soft delete, seats back on sale."""
        if order["payed"] or order["deleted_at"]:
            return False
        stamp = fmt(t)
        order["deleted_at"] = stamp
        order["updated_at"] = later(order, t)
        for b in order["baskets"]:
            b.update(
                barcode=None,
                pdf_url=None,
                passbook_url=None,
                updated_at=later(b, t),
                deleted_at=stamp,
                refunded_amount=0,
                refunded_deduction_amount=0,
            )
            self._release(b["show_id"], b["seat_id"])
        self.changed(order, "deleted")
        return True

    def refund(self, order: dict, t: datetime, whole: bool) -> int:
        if not order["payed"] or order["deleted_at"]:
            return 0
        live = [b for b in order["baskets"] if not b["refunded_at"] and not b["checked_at"]]
        if not whole:
            live = live[:1]
        stamp = fmt(t)
        for b in live:
            b.update(
                refunded_at=stamp, refunded_amount=b["price"], refunded_deduction_amount=0,
                updated_at=later(b, t),
            )
            self._release(b["show_id"], b["seat_id"])
        if live:
            if self.semantics["refund_bumps_order"]:
                order["updated_at"] = later(order, t)
            self.changed(order, "refunded", refunded_baskets=live)
        return len(live)

    def scan(self, order: dict, basket_index: int, t: datetime) -> bool:
        b = order["baskets"][basket_index]
        if not order["payed"] or order["deleted_at"] or b["refunded_at"] or b["checked_at"]:
            return False
        b["checked_at"] = fmt(t)
        b["updated_at"] = later(b, t + timedelta(seconds=self.rng.randint(0, 3)))
        # Scans do not bump the order's updated_at (as captured).
        self.changed(order, "checked", checked_basket=b)
        return True

    def unscan(self, order: dict, basket_index: int, t: datetime) -> bool:
        """A scan cancelled at the entrance (webhook `checked` with `unchecked_basket`; live mode only): the
        ticket is valid again, so `checked_at` goes back to null. Like a scan, the order is not bumped."""
        b = order["baskets"][basket_index]
        if not b["checked_at"]:
            return False
        b["checked_at"] = None
        b["updated_at"] = later(b, t)
        self.changed(order, "checked", unchecked_basket=b)
        return True

    def edit_ticket(self, order: dict, basket_index: int, t: datetime) -> bool:
        """A cabinet edit of one ticket (the holder's name, PUT /baskets/{id}): the basket changes, the order
        does not — like a scan, a change only a ticket-level read can see."""
        b = order["baskets"][basket_index]
        if not order["payed"] or order["deleted_at"] or b["refunded_at"]:
            return False
        b["client_name"] = self.edit_rng.choice(catalog.FIRST_NAMES)
        b["updated_at"] = later(b, t)
        self.changed(order)
        return True

    def batch_touch(self, t: datetime) -> int:
        """An admin batch edit: several paid orders end up sharing one updated_at."""
        pool = [oid for oid in self.recent_paid if not self.orders[oid]["deleted_at"]]
        if len(pool) < 2:
            return 0
        stamp = fmt(t)
        chosen = self.rng.sample(pool, k=min(len(pool), self.rng.randint(2, 4)))
        for oid in chosen:
            order = self.orders[oid]
            if parse(order["updated_at"]) < t:
                order["updated_at"] = stamp
                self.changed(order)
        return len(chosen)

    def edit_event(self, t: datetime) -> int | None:
        live = [e for e in self.events.values() if not e["deleted_at"]]
        if not live:
            return None
        event = self.rng.choice(live)
        stamp = fmt(t)
        self.rng.choice(event["shows"])["updated_at"] = stamp
        event["updated_at"] = stamp  # event updated_at >= every show's, as captured
        self.touch()
        return event["id"]

    def deactivate_event(self, event_id: int, t: datetime) -> bool:
        event = self.events[event_id]
        if event["deleted_at"] or not event["is_active"]:
            return False
        event["is_active"] = 0
        event["updated_at"] = fmt(t)
        self.catalog_version += 1
        self.touch()
        return True

    def delete_event(self, event_id: int, t: datetime) -> None:
        event = self.events[event_id]
        event["is_active"] = 0
        event["updated_at"] = event["deleted_at"] = fmt(t)
        self.catalog_version += 1
        self.touch()
