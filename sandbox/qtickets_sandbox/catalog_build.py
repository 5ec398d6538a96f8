"""Builds the organiser's catalogue: events with shows, hall layouts and prices, clients, discounts."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from . import catalog
from .timefmt import fmt


class Ids:
    """Per-kind id sequences that grow with time, with small random gaps like a shared production DB."""

    START = {
        "event": 62783,
        "show": 286165,
        "price": 426734,
        "scheme": 12148,
        "client": 1314,
        "details": 321100,
        "order": 6700750,
        "basket": 45782179,
        "discount": 6749,
        "promo": 160368,
        "basket_user": 6126124,
        "poster": 20855,
    }

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.last = dict(self.START)

    def next(self, kind: str, gap: int = 3) -> int:
        self.last[kind] += self.rng.randint(1, gap)
        return self.last[kind]


def _price(pid: int, amount: int, theme: int) -> dict:
    return {"id": pid, "default_price": amount, "color_theme": str(theme), "modifiers": []}


def build_show(rng, ids, kind, start, finish, created, force_ga=False) -> tuple[dict, list[dict]]:
    """One show document plus its seat layout (the sandbox's own view; counters derive from orders)."""
    prices, layout = [], []
    sp_admin, sp_zones, sp_seats = {}, {}, {}
    theme = 1
    if kind == "concert":
        base = rng.choice([900, 1200, 1500, 2500])
        disabled_rate = rng.choice([0, 0, 0.01, 0.03])  # some halls have switched-off seats
        for zone, label, rows, places in catalog.SEATED_ZONES:
            row_price = {}
            for r in range(1, rows + 1):
                tier = 0 if r <= rows // 3 else (1 if r <= 2 * rows // 3 else 2)
                if zone == "BALCONY":
                    tier = 3
                row_price[r] = tier
            tier_ids = {}
            for tier in sorted(set(row_price.values())):
                pid = ids.next("price", 1)
                tier_ids[tier] = pid
                prices.append(_price(pid, base - 200 * tier, theme))
                theme += 1
            sp_admin[zone] = {
                "opened": "0",
                "was_opened": "1",
                "rows": {str(r): {"opened": "0"} for r in range(1, rows + 1)},
            }
            sp_zones[zone] = {
                "disabled": "0",
                "spread": {"enabled": ""},
                "price_id": "",
                "label": "",
                "rows": {
                    str(r): {"disabled": "0", "price_id": str(tier_ids[row_price[r]])}
                    for r in range(1, rows + 1)
                },
            }
            for r in range(1, rows + 1):
                for p in range(1, places + 1):
                    pid = tier_ids[row_price[r]]
                    disabled = rng.random() < disabled_rate
                    seat_id = f"{zone}-{r};{p}"
                    if disabled:
                        sp_seats[seat_id] = {"disabled": "1", "spread": {"enabled": ""}}
                    layout.append(
                        {
                            "seat_id": seat_id,
                            "zone_id": zone,
                            "zone_name": label,
                            "row": str(r),
                            "place": str(p),
                            "name": f"{label}: ряд {r}, место {p}",
                            "max_quantity": 1,
                            "price": base - 200 * row_price[r],
                            "price_id": pid,
                            "color_theme_id": row_price[r] + 1,
                            "disabled": disabled,
                            "admission": False,
                        }
                    )
        ga = (
            [catalog.GA_ZONES[2]] if force_ga or rng.random() < 0.6 else []
        )  # not every hall has a dance floor
        ga_capacity = rng.choice([150, 200, 300])
    else:
        ga = catalog.GA_ZONES[:2]
        ga_capacity = rng.choice([400, 600, 800])
    for zone, label in ga:
        pid = ids.next("price", 1)
        amount = rng.choice([390, 490, 590, 700])
        prices.append(_price(pid, amount, theme))
        sp_admin[zone] = {"opened": "0", "was_opened": "1", "rows": {"1": {"was_opened": "1"}}}
        sp_zones[zone] = {"disabled": "0", "spread": {"enabled": ""}, "price_id": str(pid), "rows": [""]}
        seat_id = f"{zone}-1;1"
        sp_seats[seat_id] = {"max_quantity": "", "hot": "", "show_free_quantity": ""}
        layout.append(
            {
                "seat_id": seat_id,
                "zone_id": zone,
                "zone_name": label,
                "row": "1",
                "place": "1",
                "name": label,
                "max_quantity": ga_capacity,
                "price": amount,
                "price_id": pid,
                "color_theme_id": theme,
                "disabled": False,
                "admission": True,
            }
        )
        theme += 1
    scheme = {"admin": {"zones": sp_admin}, "zones": sp_zones}
    if sp_seats:
        scheme["seats"] = sp_seats
    by_amount = sorted(prices, key=lambda p: p["default_price"])
    sale_finish = finish if kind == "expo" else start
    show = {
        "id": ids.next("show"),
        "name": "",
        "is_active": 1,
        "sale_start_date": None if rng.random() < 0.6 else fmt(created),
        "sale_finish_date": fmt(sale_finish),
        "open_date": fmt(start - timedelta(minutes=30 if kind == "concert" else 0)),
        "start_date": fmt(start),
        "finish_date": fmt(finish),
        "scheme_properties": scheme,
        "prices": prices,
        "min_price": by_amount[0],
        "max_price": by_amount[-1],
        "created_at": fmt(created),
        "updated_at": fmt(created),
        "deleted_at": None,
    }
    return show, layout


def build_event(rng, ids, index: int, now: datetime) -> tuple[dict, dict[int, list[dict]]]:
    title, slug, type_id, kind = catalog.TITLES[index % len(catalog.TITLES)]
    city_id, city_name, tz, sub, lat, lon = catalog.CITIES[index % len(catalog.CITIES)]
    venue, address = catalog.VENUES[index % len(catalog.VENUES)]
    local = ZoneInfo(tz)
    created = (now - timedelta(days=rng.uniform(100, 150))).replace(microsecond=0)
    event_id = ids.next("event", 40)
    # The first two events always run into the far future so new orders always find a show on sale.
    shows, layouts = [], {}
    if kind == "expo":
        begin = (now + timedelta(days=rng.uniform(-60, 10) if index >= 2 else -30)).astimezone(local)
        begin = begin.replace(hour=10, minute=0, second=0, microsecond=0)
        end = begin + timedelta(days=int(rng.uniform(30, 80)) if index >= 2 else 120)
        spans = [(begin, end.replace(hour=20))]
    else:
        n = rng.randint(2, 5)
        first = -60 if index >= 2 else 5
        days = sorted(rng.uniform(first, 90) for _ in range(n))
        if index < 2:
            days[-1] = 88.0
        spans = []
        for d in days:
            # 19:00 local time in the event's city; the API shows it as Moscow wall clock
            start = (
                (now + timedelta(days=d))
                .astimezone(local)
                .replace(hour=19, minute=0, second=0, microsecond=0)
            )
            spans.append((start, start + timedelta(hours=2)))
    for start, finish in spans:
        show, layout = build_show(
            rng, ids, kind, start.replace(microsecond=0), finish.replace(microsecond=0), created, index < 2
        )
        shows.append(show)
        layouts[show["id"]] = layout
    name_suffix = "" if index < len(catalog.TITLES) else f" ({city_name})"
    event = {
        "id": event_id,
        "is_active": 1,
        "name": title + name_suffix,
        "scheme_id": ids.next("scheme"),
        "currency_id": "RUB",
        "place_name": venue,
        "place_address": address,
        "place_description": "",
        "city_id": city_id,
        "description": catalog.DESCRIPTIONS[index % len(catalog.DESCRIPTIONS)],
        "site_url": "http://tickets.example.org/" if index % 3 else "https://tickets.example.org",
        "external_id": None,
        "ticket_id": 35,
        "mail_template_id": 31,
        "age": rng.choice(["0+", "6+", "12+"]),
        "shows": shows,
        "payments": []
        if index % 7 == 6
        else [
            {
                "id": 52000 + index % 3,
                "is_active": True,
                "name": "ИП Ручейников Д.С.",
                "handler": "payanyway",
                "agree_url": f"https://example.org/legal/demo-org/18211?event={event_id}",
            }
        ],
        "poster": {
            "id": ids.next("poster"),
            "content_type": "image/jpeg",
            "file_size": rng.randint(40000, 300000),
            "url": f"https://example.org/storage/app/uploads/public/{rng.getrandbits(64):016x}.jpg",
        },
        "event_type_id": type_id,
        "city": {"id": city_id, "name": city_name, "timezone": tz},
        "ticket": {"id": 35, "is_active": 1, "name": "Системный шаблон"},
        "mail_template": {"id": 31, "is_active": 1, "name": "Системный шаблон"},
        "slug": slug,
        "place_coordinates": [
            round(lat + rng.uniform(-0.02, 0.02), 6),
            round(lon + rng.uniform(-0.02, 0.02), 6),
        ],
        "url": f"https://{sub}.qtickets.events/{event_id}-{slug}",
        "created_at": fmt(created),
        "updated_at": fmt(created),
        "deleted_at": None,
    }
    return event, layouts


def build_client(rng, ids) -> dict:
    cid = ids.next("client", 7)
    name = rng.choice(catalog.FIRST_NAMES)
    email = f"user{cid}@example.org"
    if rng.random() < 0.1:
        email = email.capitalize()
    return {
        "id": cid,
        "email": email,
        "details": {
            "id": ids.next("details", 50),
            "name": name,
            "middlename": rng.choice(catalog.MIDDLENAMES),
            "surname": rng.choice(catalog.SURNAMES),
            "phone": f"+79000{cid % 1000000:06d}",
            "vk_id": "" if rng.random() < 0.8 else str(rng.randint(10**7, 10**9)),
            "facebook_id": "",
        },
    }


def build_discounts(rng, ids, events: list[dict], now: datetime) -> tuple[list[dict], dict[int, int]]:
    """Discount rows (with event/show links kept as ids) and their percentages (only in the name)."""
    rows, pct = [], {}
    for i, percent in enumerate(catalog.DISCOUNT_PERCENTS * 2):
        created = (now - timedelta(days=rng.uniform(60, 99))).replace(microsecond=0)
        did = ids.next("discount", 20)
        linked = rng.sample(events, k=min(len(events), rng.randint(0, 2)))
        deleted = i >= len(catalog.DISCOUNT_PERCENTS) and rng.random() < 0.5
        updated = created + timedelta(days=rng.uniform(0, 30)) if deleted or rng.random() < 0.5 else created
        bounded = rng.random() < 0.3
        rows.append(
            {
                "id": did,
                "is_active": 0 if deleted else 1,
                "name": f"Скидка {percent}%" if i % 2 else f"СКИДКА - {percent}%",
                "active_from": fmt(created) if bounded else None,
                "active_to": fmt(now + timedelta(days=120)) if bounded else None,
                "type": "P",
                "_event_ids": [e["id"] for e in linked],
                "_show_ids": [e["shows"][0]["id"] for e in linked[:1]],
                "created_at": fmt(created),
                "updated_at": fmt(updated),
                "deleted_at": fmt(updated) if deleted else None,
            }
        )
        pct[did] = percent
    return rows, pct


def build_promo_codes(rng, ids, discounts: list[dict]) -> list[dict]:
    rows = []
    # Codes are added to discounts over time, so promo-code ids interleave across discounts.
    batches = [d for d in discounts for _ in range(rng.randint(1, 4))]
    rng.shuffle(batches)
    for d in batches:
        if True:
            code = "".join(rng.choice("abcdefghkmnpqrstuvwxyz0123456789") for _ in range(8))
            if rng.random() < 0.15:
                code = code.upper()
            deleted = d["deleted_at"] is not None
            rows.append(
                {
                    "id": ids.next("promo", 40),
                    "is_active": 0 if deleted else 1,
                    "type": 0,
                    "discount_id": d["id"],
                    "code": code,
                    "max_uses_count": rng.choice([0, 0, 1, 50]),
                    "active_from": None,
                    "active_to": None,
                    "created_at": d["created_at"],
                    "updated_at": d["updated_at"],
                    "deleted_at": d["deleted_at"],
                }
            )
    return rows
