"""Sales: one record per basket of the orders the orders stream emits, handed over from its payload."""

from __future__ import annotations

import typing as t
from functools import cached_property

import msgspec

from tap_qtickets.client import QTicketsStream
from tap_qtickets.decoding import set_fields
from tap_qtickets.handoff import HandedOver
from tap_qtickets.order_records import ORDER_FIELDS_FOR_SALES, zone_of
from tap_qtickets.orders import BASKET_FIELDS_FOR_PASSES, FRESH_TICKET_FIELD, OrdersStream
from tap_qtickets.schemas import ACCOUNT
from tap_qtickets.writer import joined_tail

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context

    from tap_qtickets.normalize import RecordNormalizer


class SalesStream(HandedOver, QTicketsStream):
    """One record per ticket line (`order.baskets[]`) with the order fields; no extra requests.

    Baskets arrive as `item_type` Structs (the orders stream decodes them so); the order's fields come
    converted, once per order (`OrdersStream.sale_fields`). Written past the SDK's loop (`lean_records`), a
    sale is its basket encoded as it is, followed by its order's fields encoded once for all its baskets."""

    name = "sales"
    primary_keys = ("id",)
    replication_key = None
    parent_stream_type = OrdersStream
    joined_rows = True  # `lean_records` yields (item, tail) pairs

    @cached_property
    def item_fields(self) -> frozenset[str]:
        """The fields of a basket as the orders stream decodes it (an `item_type` Struct): the sales fields
        that come from it, the seat, what the passes read, and `zone_id` (set here, from the seat)."""
        from_basket = set(self.normalize.fields.converters) - set(ORDER_FIELDS_FOR_SALES)
        return frozenset(from_basket | {"seat_id", "zone_id", *BASKET_FIELDS_FOR_PASSES})

    @cached_property
    def unselected(self) -> tuple[str, ...]:
        """Fields a basket may hold that the records leave out."""
        held = self.item_fields | {FRESH_TICKET_FIELD}
        return tuple(sorted(held - set(self.normalize.fields.converters)))

    @cached_property
    def parts(self) -> tuple[RecordNormalizer, RecordNormalizer]:
        """The normalisers of a sale's order fields and of its basket fields."""
        return self.normalize.only(ORDER_FIELDS_FOR_SALES), self.normalize.only(
            set(self.normalize.properties) - set(ORDER_FIELDS_FOR_SALES))

    def _conformed(self) -> Iterator[tuple[dict, list[msgspec.Struct]]]:
        """(order fields, its baskets conformed in place, `zone_id` set, unselected fields unset)."""
        conform = t.cast("t.Callable[[msgspec.Struct], None]", self.parts[1].conform_item)
        unset: dict[type, tuple[str, ...]] = {}
        for order_fields, baskets in self.take_handed():
            if not baskets:
                continue
            kind = type(baskets[0])
            if kind not in unset:
                unset[kind] = tuple(key for key in self.unselected if key in kind.__struct_fields__)
            hidden = unset[kind]
            for basket in baskets:
                basket.zone_id = zone_of(basket.seat_id)
                conform(basket)
                for key in hidden:
                    setattr(basket, key, msgspec.UNSET)
            yield order_fields, baskets

    def get_records(self, context: Context | None) -> Iterable[dict]:
        for order_fields, baskets in self._conformed():
            for basket in baskets:
                sale = set_fields(basket)
                sale.update(order_fields)  # the order's values win, as for `{**basket, **order_part}`
                yield sale

    def lean_records(self, context: Context | None) -> Iterable[t.Any]:
        account = {ACCOUNT: self.account}
        for order_fields, baskets in self._conformed():
            tail = joined_tail({**order_fields, **account})
            for basket in baskets:
                yield basket, tail

    def post_process(self, row: t.Any, context: Context | None = None) -> t.Any:
        return row  # finished rows (`get_records`) or (basket, order tail) pairs (`lean_records`)
