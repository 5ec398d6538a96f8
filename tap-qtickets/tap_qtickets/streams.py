"""Streams for events (+ its children: nested shows and seat inventory) and the reference lists."""

from __future__ import annotations

import typing as t
from collections import defaultdict

from tap_qtickets.client import QTicketsStream
from tap_qtickets.decoding import body_of
from tap_qtickets.handoff import HandedOver, Handover
from tap_qtickets.pagination import EachShow, ShowRef, show_id_of
from tap_qtickets.ticket_changes import ShowSpan

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context

SEAT_FIELDS = ["id", "root_id", "zone_root_id", "max_quantity", "free_quantity", "ordered_quantity",
               "payed_quantity", "in_basket_quantity", "disabled"]
EVENTS_PER_HANDOVER = 200  # events whose shows go to the children in one batch (bounds the memory held)


class EventPayload(t.NamedTuple):
    """What `shows` and `inventory` need of one event: its id, whether it is deleted, its raw shows."""

    event_id: int
    deleted: bool
    shows: list[dict]


class EventsStream(QTicketsStream):
    """GET /events, every page, soft-deleted events included (full table: a few hundred rows)."""

    name = "events"
    path = "/events"
    primary_keys = ("id",)
    replication_key = None

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.handover = Handover(EVENTS_PER_HANDOVER)

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        self.shared.shows = {}
        yield from self.handover.marking_the_last(super().get_records(context))

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        shows = row.get("shows") or []
        if row.get("id") is not None:
            event_id = int(row["id"])
            self.handover.add(EventPayload(event_id, bool(row.get("deleted_at")), shows))
            for show in shows:  # the orders stream's ticket-change fallback checks recent shows
                if show.get("id") is not None:
                    span = ShowSpan.of(event_id, show, event_deleted=bool(row.get("deleted_at")))
                    self.shared.shows[span.show_id] = span  # type: ignore[index]
        city = row["city"] if isinstance(row.get("city"), dict) else {}
        flat = {**row, "city_name": city.get("name"), "city_timezone": city.get("timezone"),
                "shows_count": len(shows)}
        return self.normalize(flat)

    def generate_child_contexts(self, record: dict, context: Context | None) -> t.Iterable[dict | None]:
        return self.handover.contexts()


class ShowsStream(HandedOver, QTicketsStream):
    """`event.shows[]` with `event_id` added; no extra requests."""

    name = "shows"
    primary_keys = ("id",)
    replication_key = None
    parent_stream_type = EventsStream

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        for event in self.take_handed():
            for show in event.shows:
                yield {**show, "event_id": event.event_id}


class InventoryStream(HandedOver, QTicketsStream):
    """GET /shows/{id}/seats (flat + select) per live show, aggregated per show × zone; the shows of a batch
    of events are read as the pages of one request loop (the next show's seats requested ahead)."""

    name = "inventory"
    path = "/shows/{show_id}/seats"
    primary_keys = ("show_id", "zone_id", "snapshot_at")
    replication_key = None
    parent_stream_type = EventsStream

    def gone_is_empty(self, path: str) -> bool:
        return True

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.shows: list[ShowRef] = []
        self.event_of: dict[int, int] = {}  # show id → event id, for the shows being read

    def prepare_request_payload(self, context: Context | None, next_page_token: t.Any) -> dict:
        return {"flat": True, "select": SEAT_FIELDS}

    def page_path(self, token: ShowRef | None) -> str | None:
        return f"/shows/{token.show_id}/seats" if token else None

    def get_new_paginator(self) -> EachShow:
        return EachShow(self.shows)

    def in_window(self, event: EventPayload, show: dict) -> bool:
        span = ShowSpan.of(event.event_id, show, event_deleted=event.deleted)
        return span.is_live(self.shared.clock.now(), self.live_show_hours)

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        self.shows = [ShowRef(event.event_id, int(show["id"])) for event in self.take_handed()
                      for show in event.shows if self.in_window(event, show)]
        self.event_of = {show.show_id: show.event_id for show in self.shows}
        if self.shows:
            yield from self.request_records(context)

    def parse_response(self, response: requests.Response) -> t.Iterable[dict]:
        show_id = show_id_of(response.url)
        if body_of(response) is None:
            self.logger.warning("inventory: show %s no longer exists (404); skipped", show_id)
            return
        zones: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(
            ("capacity", "sold", "held", "disabled", "seats"), 0))
        for seat in super().parse_response(response):
            zone = zones[_zone_of(seat)]
            zone["seats"] += 1
            if seat.get("disabled"):
                zone["disabled"] += 1
                continue
            payed = int(seat.get("payed_quantity") or 0)
            zone["capacity"] += int(seat.get("max_quantity") or 0)
            zone["sold"] += payed
            zone["held"] += (int(seat.get("ordered_quantity") or 0) - payed
                             + int(seat.get("in_basket_quantity") or 0))
        snapshot_at = self.shared.snapshot_at
        event_id = self.event_of.get(show_id)
        for zone_id, agg in sorted(zones.items()):
            free = agg["capacity"] - agg["sold"] - agg["held"]
            yield {"show_id": show_id, "event_id": event_id, "zone_id": zone_id, "snapshot_at": snapshot_at,
                   "free": free, **agg}

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        return self.normalize(row)


def _zone_of(seat: dict) -> str:
    """Root zone id: `zone_root_id`, else the part of the seat id before the last `-`."""
    if seat.get("zone_root_id"):
        return str(seat["zone_root_id"])
    seat_id = str(seat.get("root_id") or seat.get("id") or "")
    return seat_id.rsplit("-", 1)[0] if "-" in seat_id else seat_id


class ClientsStream(QTicketsStream):
    """GET /clients (no timestamps in the API → full table); only `id` unless include_pii, and then not
    selected by default either (a catalog may still select it)."""

    name = "clients"
    path = "/clients"
    primary_keys = ("id",)
    replication_key = None

    @property
    def selected_by_default(self) -> bool:  # type: ignore[override]  # the SDK's is a class attribute
        return self.include_pii


class DiscountsStream(QTicketsStream):
    name = "discounts"
    path = "/discounts"
    primary_keys = ("id",)
    replication_key = None


class PromoCodesStream(QTicketsStream):
    name = "promo_codes"
    path = "/promo-codes"
    primary_keys = ("id",)
    replication_key = None


class ColorThemesStream(QTicketsStream):
    """GET /color-themes: `{"data": [...]}` without paging."""

    name = "color_themes"
    path = "/color-themes"
    primary_keys = ("id",)
    replication_key = None
    paginated = False
