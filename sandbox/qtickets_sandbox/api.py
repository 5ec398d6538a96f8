"""The QTickets REST v1 surface: routing, auth, list/detail handlers and error bodies."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from . import inventory, wire
from .catalog import COLOR_THEMES
from .model import State
from .query import (
    DEFAULT_PER_PAGE,
    BadQuery,
    ResultCache,
    compile_where,
    filter_sorted,
    leading_ascending_column,
    narrow_by_range,
    page_number,
    page_size,
    parse_body,
    project,
    sort_keys,
    sort_rows,
    split_range_conditions,
)

API_PREFIX = "/api/rest/v1"
PARTNERS_PREFIX = "/api/partners/v1"
RESOURCE_NAMES = {
    "orders": "Order",
    "events": "Event",
    "clients": "Client",
    "discounts": "Discount",
    "promo-codes": "PromoCode",
}
_LIST = re.compile(r"^/(orders|events|clients|discounts|promo-codes)(?:/([^/]+))?/?$")
_SHOW = re.compile(r"^/shows/([^/]+)/(seats|barcodes|barcode/([^/]+))/?$")
# Documented write methods: the route exists, so a body the sandbox will not act on gets the catch-all 503.
_WRITES = [
    re.compile(p)
    for p in (
        r"^POST /orders/?$",
        r"^DELETE /orders/[^/]+/baskets$",
        r"^PUT /baskets/[^/]+$",
        r"^POST /orders/[^/]+/restore$",
        r"^POST /clients$",
        r"^POST /events$",
        r"^PUT /events/[^/]+$",
        r"^POST /promo-codes$",
        r"^PUT /promo-codes/[^/]+$",
        r"^POST /shows/[^/]+/barcode/[^/]+$",
        r"^POST /shows/[^/]+/barcodes$",
    )
]


@dataclass(frozen=True)
class Quirks:
    """How fault rules bend the reading of one request's list options."""

    ignore_filters: bool = False  # `where` and `orderBy` are dropped (the unverified-production risk)
    dotted: str | None = None  # conditions on nested columns: "ignore" (dropped), "reject" (503), "empty"

    def apply(self, options: dict) -> dict:
        if self.ignore_filters:
            options = {k: v for k, v in options.items() if k not in ("where", "orderBy")}
        where = options.get("where")
        if self.dotted is None or not isinstance(where, list):
            return options
        dotted = [c for c in where if isinstance(c, dict) and "." in str(c.get("column", ""))]
        if not dotted:
            return options
        if self.dotted == "reject":
            raise BadQuery("conditions on nested columns are not supported")
        kept = [c for c in where if c not in dotted]
        if self.dotted == "empty":
            kept.append({"column": "id", "operator": "in", "value": []})  # matches nothing
        return {**options, "where": kept}


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict = field(default_factory=dict)


def json_response(status: int, obj) -> Response:
    return Response(status, wire.dumps(obj))


def html_404() -> Response:
    return Response(404, wire.not_found_html(), "text/html; charset=UTF-8")


def intval(text: str) -> int:
    """PHP-style: leading digits, else 0 (`/discounts/colors` → id 0, as captured)."""
    m = re.match(r"\d+", text)
    return int(m.group(0)) if m else 0


class Api:
    def __init__(self, state: State, token: str):
        self.state = state
        self.token = token
        self.cache = ResultCache()

    # ---- entry point -------------------------------------------------------------------------------
    def handle(
        self, method: str, path: str, query: str, headers, body: bytes, quirks: Quirks = Quirks()
    ) -> Response:
        if path.startswith(PARTNERS_PREFIX + "/"):
            return json_response(200, wire.PARTNERS_WRONG_AUTH)
        if not path.startswith(API_PREFIX + "/"):
            return html_404()
        route = path[len(API_PREFIX) :]
        if method != "GET":
            if any(p.match(f"{method} {route}") for p in _WRITES):
                return self._authorised(headers) or json_response(503, wire.UNKNOWN_ERROR)
            return html_404()
        handler = self._route(route)
        if handler is None:
            return html_404()
        denied = self._authorised(headers)
        if denied:
            return denied
        if route.rstrip("/") == "/orders" and "where" in parse_qs(query, keep_blank_values=True):
            return json_response(503, wire.UNKNOWN_ERROR_QUERY)
        try:
            options = quirks.apply(parse_body(body))
            with self.state.lock:
                return handler(options)
        except BadQuery:
            return json_response(503, wire.UNKNOWN_ERROR)

    def _authorised(self, headers) -> Response | None:
        auth = headers.get("Authorization") or ""
        if auth != f"Bearer {self.token}":
            return json_response(403, wire.FORBIDDEN)
        return None

    def _route(self, route: str):
        if route.rstrip("/") == "/color-themes":
            return self._color_themes
        m = _LIST.match(route)
        if m:
            name, ident = m.group(1), m.group(2)
            if ident is None:
                return lambda options: self._list(name, options)
            return lambda options: self._detail(name, intval(ident))
        m = _SHOW.match(route)
        if m:
            show_id, what, code = intval(m.group(1)), m.group(2), m.group(3)
            if what == "seats":
                return lambda options: self._seats(show_id, options)
            if what == "barcodes":
                return lambda options: self._barcodes(show_id, options)
            return lambda options: self._barcode(show_id, code)
        return None

    # ---- rows per resource -------------------------------------------------------------------------
    def _rows(self, name: str) -> list[dict]:
        st = self.state
        if name == "orders":
            return list(st.orders.values())
        if name == "events":
            return list(st.events.values())
        if name == "clients":
            return list(st.clients.values())
        if name == "discounts":
            return [self._discount(d) for d in st.discounts.values()]
        return list(st.promo_codes.values())

    def _discount(self, d: dict) -> dict:
        st = self.state
        events = [st.events[i] for i in d["_event_ids"]]
        shows = [st.shows[i] for i in d["_show_ids"]]
        return {
            "id": d["id"],
            "is_active": d["is_active"],
            "name": d["name"],
            "active_from": d["active_from"],
            "active_to": d["active_to"],
            "type": d["type"],
            "events": [
                {"id": e["id"], "is_active": e["is_active"], "name": e["name"], "deleted_at": e["deleted_at"]}
                for e in events
            ],
            "shows": [
                {
                    "id": s["id"],
                    "is_active": s["is_active"],
                    "event_id": e["id"],
                    **{
                        k: s[k]
                        for k in (
                            "sale_start_date",
                            "sale_finish_date",
                            "open_date",
                            "start_date",
                            "finish_date",
                            "created_at",
                            "updated_at",
                            "deleted_at",
                        )
                    },
                }
                for s, e in shows
            ],
            "created_at": d["created_at"],
            "updated_at": d["updated_at"],
            "deleted_at": d["deleted_at"],
        }

    # ---- handlers ----------------------------------------------------------------------------------
    def _list(self, name: str, options: dict) -> Response:
        per_page = page_size(options, DEFAULT_PER_PAGE[name])
        page = page_number(options)
        where, order_by = options.get("where"), options.get("orderBy")
        key = (name, json.dumps(where, sort_keys=True), json.dumps(order_by), self.state.version)

        def build():
            rows = self._rows(name)
            columns = set(rows[0]) if rows else None
            compile_where(where, columns)  # validates every condition, including those bisected below
            version = self.state.version
            ordered, keys, lead = self.cache.get(
                (name, "sorted", json.dumps(order_by), version),
                lambda: self._sorted(name, rows, order_by, columns),
            )
            if lead is None:
                keep = compile_where(where, columns)
                return [r for r in ordered if keep(r)] if where else ordered
            # Keyset paging changes only the range on the leading column from page to page: the other
            # conditions are applied once (cached), the range by bisection, so each page costs O(page).
            ranged, rest = split_range_conditions(where, lead)
            def filtered():
                return filter_sorted(ordered, keys, compile_where(rest, columns)) if rest else (ordered, keys)

            base, base_keys = self.cache.get(
                (name, "filtered", json.dumps(rest, sort_keys=True), json.dumps(order_by), version), filtered
            )
            narrowed, leftover = narrow_by_range(base, base_keys, ranged, lead)
            keep = compile_where(leftover, columns)
            return [r for r in narrowed if keep(r)] if leftover else narrowed

        rows = self.cache.get(key, build)
        chunk = rows[(page - 1) * per_page : page * per_page]
        select = options.get("select")
        if select is not None and not (isinstance(select, list) and all(isinstance(s, str) for s in select)):
            raise BadQuery("select must be a list of field names")
        if select:
            parts = [wire.dumps(project(r, select)) for r in chunk]
        elif name == "orders":
            parts = [self.state.order_json(r["id"]) for r in chunk]
        else:
            parts = [wire.dumps(r) for r in chunk]
        paging = wire.dumps({"perPage": per_page, "currentPage": page, "total": len(rows)})
        return Response(200, b'{"data":[' + b",".join(parts) + b'],"paging":' + paging + b"}")

    @staticmethod
    def _sorted(name: str, rows: list[dict], order_by, columns) -> tuple[list[dict], list, str | None]:
        """(rows in `orderBy` order, their keys on the leading column (none without one), that column)."""
        default = ["discount_id", "id"] if name == "promo-codes" else ["id"]
        ordered = sort_rows(rows, order_by, columns, default)
        lead = leading_ascending_column(order_by)
        return ordered, (sort_keys(ordered, lead) if lead else []), lead

    def _detail(self, name: str, ident: int) -> Response:
        st = self.state
        resource = RESOURCE_NAMES[name]
        if name == "orders" and ident in st.orders:
            return json_response(200, {"data": st.order_detail(ident)})
        table = {
            "events": st.events,
            "clients": st.clients,
            "discounts": st.discounts,
            "promo-codes": st.promo_codes,
        }.get(name, {})
        if ident not in table:
            return json_response(404, wire.not_found(resource, ident))
        row = self._discount(table[ident]) if name == "discounts" else table[ident]
        return json_response(200, {"data": row})

    def _color_themes(self, options: dict) -> Response:
        return json_response(200, {"data": [{"id": i, "color": c} for i, c in enumerate(COLOR_THEMES, 1)]})

    def _show_or_404(self, show_id: int) -> Response | None:
        if show_id not in self.state.shows:
            return json_response(404, wire.not_found("Show", show_id))
        return None

    def _seats(self, show_id: int, options: dict) -> Response:
        missing = self._show_or_404(show_id)
        if missing:
            return missing
        select = options.get("select")
        if select is not None and not isinstance(select, list):
            raise BadQuery("select must be a list")
        keep = compile_where(options.get("where"), None)
        data = inventory.seats_payload(self.state, show_id, bool(options.get("flat")), select, keep)
        return json_response(200, {"data": data if data else []})

    def _barcodes(self, show_id: int, options: dict) -> Response:
        missing = self._show_or_404(show_id)
        if missing:
            return missing
        select = options.get("select")
        fields = select if isinstance(select, list) and select else inventory.DEFAULT_BARCODE_FIELDS
        return json_response(200, inventory.barcodes(self.state, show_id, fields))

    def _barcode(self, show_id: int, code: str) -> Response:
        missing = self._show_or_404(show_id)
        if missing:
            return missing
        for row in inventory.barcodes(self.state, show_id, ("barcode", "checked_at")):
            if row["barcode"] == code:
                return json_response(200, {"barcode": code, "checked_at": row["checked_at"]})
        return json_response(404, wire.not_found("Barcode", intval(code)))
