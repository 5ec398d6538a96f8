"""One order as the API answers it (a page row, `GET /orders/{id}`, a webhook body) → its `orders` record and
its `sales` records (one per basket), exactly as the tap emits them.

The rules live here once: `tickets_count` is the number of baskets; a sale is its basket's fields plus the
order's `ORDER_FIELDS_FOR_SALES` (the order's values win) and `zone_id`, the seat id without its last
`-part`. OrdersStream / SalesStream (sales.py) apply them in place to rows decoded with a row type and
their baskets decoded as Structs (the fast path);
`OrderRecords` applies them to a whole decoded order (the webhook receiver), with the same normalisers and
the same PII rules (`PII_FIELDS`, left out unless `include_pii`).
"""

from __future__ import annotations

import typing as t

from tap_qtickets.normalize import RecordNormalizer, record_error
from tap_qtickets.schemas import ACCOUNT, DEFAULT_ACCOUNT, PII_FIELDS, stream_schema

ORDER_FIELDS_FOR_SALES = {
    "order_id": "id", "event_id": "event_id", "client_id": "client_id", "payed": "payed",
    "payed_at": "payed_at", "order_created_at": "created_at", "order_updated_at": "updated_at",
    "order_deleted_at": "deleted_at", "currency_id": "currency_id", "promo_code_id": "promo_code_id",
    "discount_id": "discount_id", "utm": "utm",
}
KEY_PROPERTIES = ("id", ACCOUNT)  # of both streams (stream_schema, QTicketsStream.primary_keys)


def zone_of(seat_id: t.Any) -> str | None:
    """The zone of a seat: `"12-3-7"` → `"12-3"`, a seat id without `-` is its own zone, none → None."""
    seat = str(seat_id or "")
    return seat.rsplit("-", 1)[0] if "-" in seat else (seat or None)


def baskets_of(order: dict, stream: str = "orders") -> list[dict]:
    """The order's baskets (PHP writes `""` for none); anything but an array names the order."""
    baskets = order.get("baskets") or []
    if not isinstance(baskets, list):
        raise record_error(stream, order.get("id"), "baskets", f"expects array, got {baskets!r:.80}")
    return baskets


def selected_properties(stream: str, account: str, include_pii: bool) -> dict:
    """The stream's schema as the tap sends it with the default selection (every property, PII only with
    `include_pii`), `account` included."""
    schema = stream_schema(stream, account)
    if not include_pii:
        for name in PII_FIELDS.get(stream, ()):
            schema["properties"].pop(name, None)
    return schema


class OrderRecords:
    """Whole orders → (`orders` record, `sales` records), each carrying `account`."""

    def __init__(self, account: str = DEFAULT_ACCOUNT, *, include_pii: bool = False) -> None:
        self.account = account
        self.schemas = {stream: selected_properties(stream, account, include_pii)
                        for stream in ("orders", "sales")}
        api = {stream: {name: prop for name, prop in schema["properties"].items() if name != ACCOUNT}
               for stream, schema in self.schemas.items()}
        self.orders = RecordNormalizer({"properties": api["orders"]}, "orders", key="id")
        sales = RecordNormalizer({"properties": api["sales"]}, "sales", key="id")
        self.sale_order_part = sales.only(ORDER_FIELDS_FOR_SALES)
        self.sale_basket_part = sales.only(set(sales.properties) - set(ORDER_FIELDS_FOR_SALES))

    def __call__(self, order: dict) -> tuple[dict, list[dict]]:
        baskets = baskets_of(order)
        record = self.orders({**order, "tickets_count": len(baskets)})
        record[ACCOUNT] = self.account
        fields = self.sale_order_part.convert(
            {target: order[source] for target, source in ORDER_FIELDS_FOR_SALES.items() if source in order})
        sales = []
        for basket in baskets:
            sale = self.sale_basket_part.convert({**basket, "zone_id": zone_of(basket.get("seat_id"))})
            if sale.get("id") is None:
                raise record_error("sales", "<missing>", "id", "(key property) is missing or null")
            sale.update(fields)  # the order's values win
            sale[ACCOUNT] = self.account
            sales.append(sale)
        return record, sales
