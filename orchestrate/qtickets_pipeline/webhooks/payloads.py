"""A webhook body (qtickets-api.md §11: the whole order, plus `refunded_baskets`, `checked_basket` /
`unchecked_basket` and `primary_orders` / `secondary_orders`) → the `orders` and `sales` records the tap
would write for it, through the tap's own normaliser and PII rules (tap_qtickets.order_records).

- The baskets named by `refunded_baskets`, `checked_basket` and `unchecked_basket` replace the order's own
  copy of that basket when they are at least as new (by the basket's `updated_at`): the body is the order
  after the change, so usually they are equal; a basket they name that the order does not list is added.
- Exchanges: `primary_orders` / `secondary_orders` entries that are whole orders (an object with `id` and
  `baskets`) are loaded as orders of their own; bare ids (or objects without baskets) are left to the next
  scheduled run, which reads every changed order (`ids_left`).
- Versions come from the source: the records keep the API's `updated_at`s, and the marts keep, per ticket,
  the row with the newest of them (transform/refresh/10_sales_changes.sql), so an older body delivered late
  or twice never replaces newer state.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field
from decimal import Decimal

import msgspec
from tap_qtickets.errors import QTicketsError

if t.TYPE_CHECKING:
    from tap_qtickets.order_records import OrderRecords

BASKET_UPDATES = ("refunded_baskets", "checked_basket", "unchecked_basket")
EXCHANGES = ("primary_orders", "secondary_orders")
_DECODE = msgspec.json.Decoder(float_hook=Decimal).decode  # money stays exact, as the tap decodes it


class PayloadError(ValueError):
    """A body that cannot become records (the message names the order and the field)."""


def decode(body: bytes) -> dict:
    """The body as an object; PayloadError when it is not JSON or not an object."""
    try:
        value = _DECODE(body)
    except msgspec.DecodeError as exc:
        raise PayloadError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise PayloadError(f"not a JSON object but {type(value).__name__}")
    return value


def _basket_list(value: t.Any) -> list[dict]:
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    return []


def _newer_or_same(candidate: dict, current: dict) -> bool:
    """By the API's own stamps (same format and zone within one body: compared as text)."""
    return str(candidate.get("updated_at") or "") >= str(current.get("updated_at") or "")


def with_basket_updates(order: dict) -> dict:
    """The order with the baskets the webhook names applied to its own (see the module docstring)."""
    updates = [basket for key in BASKET_UPDATES for basket in _basket_list(order.get(key))]
    if not updates:
        return order
    baskets = order.get("baskets")
    baskets = list(baskets) if isinstance(baskets, list) else []
    where = {basket.get("id"): index for index, basket in enumerate(baskets) if isinstance(basket, dict)}
    for basket in updates:
        index = where.get(basket.get("id"))
        if index is None:
            where[basket.get("id")] = len(baskets)
            baskets.append(basket)
        elif _newer_or_same(basket, baskets[index]):
            baskets[index] = {**baskets[index], **basket}
    return {**order, "baskets": baskets}


def _is_whole_order(value: t.Any) -> bool:
    return isinstance(value, dict) and value.get("id") is not None and "baskets" in value


@dataclass
class Records:
    """What one or more bodies of one account become."""

    orders: list[dict] = field(default_factory=list)
    sales: list[dict] = field(default_factory=list)
    ids_left: list[t.Any] = field(default_factory=list)  # exchanged orders sent as ids: polling reads them

    def add(self, convert: OrderRecords, order: dict) -> None:
        order_record, sales = convert(order)
        self.orders.append(order_record)
        self.sales.extend(sales)

    def newest(self) -> Records:
        """One record per order and per ticket, the newest by the source's stamps (the later arrival of
        equal ones), in that order: one insert keeps only the last row of a key (ReplacingMergeTree's
        `optimize_on_insert`), so a body delivered late must not come after a newer one of the same key."""
        return Records(_newest(self.orders, order_version), _newest(self.sales, ticket_version),
                       list(self.ids_left))


Version = tuple[str, ...]


def order_version(record: dict) -> Version:
    return (record.get("updated_at") or "",)


def ticket_version(record: dict) -> Version:
    """What orders a ticket's states (as 10_sales_changes.sql does): the later of its and its order's
    `updated_at`, then its own, then its order's. The records' stamps are UTC ISO text of one format, so
    text order is time order."""
    own, order = record.get("updated_at") or "", record.get("order_updated_at") or ""
    return max(own, order), own, order


def _newest(records: list[dict], version: t.Callable[[dict], Version]) -> list[dict]:
    kept: dict[t.Any, tuple[Version, int, dict]] = {}
    for index, record in enumerate(records):
        key = record.get("id")
        ranked = (version(record), index, record)
        if key not in kept or ranked[:2] >= kept[key][:2]:
            kept[key] = ranked
    return [record for _, _, record in sorted(kept.values(), key=lambda item: item[:2])]


def to_records(convert: OrderRecords, body: dict, into: Records | None = None) -> Records:
    """The records of one webhook body (its order, and the whole orders of its exchanges)."""
    out = into if into is not None else Records()
    if body.get("id") is None:
        raise PayloadError("the body has no order id")
    try:
        out.add(convert, with_basket_updates(body))
        for key in EXCHANGES:
            for item in body.get(key) or []:
                if _is_whole_order(item):
                    out.add(convert, with_basket_updates(item))
                else:
                    out.ids_left.append(item.get("id") if isinstance(item, dict) else item)
    except (QTicketsError, ValueError, TypeError, AttributeError) as exc:
        raise PayloadError(f"order {body.get('id')}: {exc}") from None
    return out
