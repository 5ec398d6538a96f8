"""Streams for events (+ nested shows and seat inventory) and the reference lists."""

from __future__ import annotations

import typing as t
from collections import defaultdict
from http import HTTPStatus

from tap_qtickets.client import QTicketsStream
from tap_qtickets.ticket_changes import has_live_show, show_is_live

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context



class ShowGoneError(Exception):
    """GET /shows/{id}/seats answered a JSON 404 (the show was removed)."""


SEAT_FIELDS = ["id", "root_id", "zone_root_id", "max_quantity", "free_quantity", "ordered_quantity",
               "payed_quantity", "in_basket_quantity", "disabled"]


class EventsStream(QTicketsStream):
    """GET /events, every page, soft-deleted events included (full table: a few hundred rows)."""

    name = "events"
    path = "/events"
    primary_keys = ("id",)
    replication_key = None

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.current_event: dict | None = None

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        self.shared.live_events = set()
        yield from super().get_records(context)

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        # Children (shows, inventory) read the raw nested shows of the event being processed.
        self.current_event = row
        if has_live_show(row, self.shared.clock.now(), self.live_show_hours) and row.get("id") is not None:
            self.shared.live_events.add(int(row["id"]))  # type: ignore[union-attr]
        city = row["city"] if isinstance(row.get("city"), dict) else {}
        shows = row.get("shows") or []
        flat = {**row, "city_name": city.get("name"), "city_timezone": city.get("timezone"),
                "shows_count": len(shows)}
        return self.normalize(flat)

    def get_child_context(self, record: dict, context: Context | None) -> dict:
        return {"event_id": record["id"]}


class _EventChild(QTicketsStream):
    parent_stream_type = EventsStream
    state_partitioning_keys: t.ClassVar[list[str]] = []

    def event_payload(self, context: Context | None) -> dict:
        event = t.cast("EventsStream", self.shared.streams["events"]).current_event
        if not context or event is None or event.get("id") != context.get("event_id"):
            return {}
        return event


class ShowsStream(_EventChild):
    """`event.shows[]` with `event_id` added; no extra requests."""

    name = "shows"
    primary_keys = ("id",)
    replication_key = None

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        for show in self.event_payload(context).get("shows") or []:
            yield {**show, "event_id": context["event_id"]}  # type: ignore[index]


class InventoryStream(_EventChild):
    """GET /shows/{id}/seats (flat + select) per show in the window, aggregated per show × zone."""

    name = "inventory"
    path = "/shows/{show_id}/seats"
    primary_keys = ("show_id", "zone_id", "snapshot_at")
    replication_key = None
    paginated = False

    def prepare_request_payload(self, context: Context | None, next_page_token: t.Any) -> dict:
        return {"flat": True, "select": SEAT_FIELDS}

    def show_in_window(self, event: dict, show: dict) -> bool:
        """Not deleted (nor its event) and live: not finished more than `inventory_show_window` hours ago
        by the server's clock."""
        if event.get("deleted_at") or show.get("deleted_at"):
            return False
        return show_is_live(show, self.shared.clock.now(), self.live_show_hours)

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        event = self.event_payload(context)
        for show in event.get("shows") or []:
            if self.show_in_window(event, show):
                yield from self.show_rows({"event_id": event["id"], "show_id": show["id"]})

    def show_rows(self, show_context: dict) -> list[dict]:
        """Zone rows of one show; a show deleted since the events were listed is skipped, not fatal."""
        try:
            return list(self.request_records(show_context))
        except ShowGoneError:
            self.logger.warning("inventory: show %s no longer exists (404); skipped", show_context["show_id"])
            return []

    def validate_response(self, response: t.Any) -> None:
        is_json = "json" in response.headers.get("Content-Type", "")
        if response.status_code == HTTPStatus.NOT_FOUND and is_json:
            raise ShowGoneError(response.url)
        super().validate_response(response)

    def parse_response(self, response: t.Any) -> t.Iterable[dict]:
        seats = list(super().parse_response(response))
        show_id = _show_id_of(response.url)
        zones: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(
            ("capacity", "sold", "held", "disabled", "seats"), 0))
        for seat in seats:
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
        for zone_id, agg in sorted(zones.items()):
            free = agg["capacity"] - agg["sold"] - agg["held"]
            yield {"show_id": show_id, "zone_id": zone_id, "snapshot_at": snapshot_at, "free": free, **agg}

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        row = {**row, "event_id": context["event_id"] if context else None}
        return self.normalize(row)


def _show_id_of(url: str) -> int:
    """show id from `.../shows/{id}/seats`."""
    return int(url.split("?")[0].rstrip("/").split("/")[-2])


def _zone_of(seat: dict) -> str:
    """Root zone id: `zone_root_id`, else the part of the seat id before the last `-`."""
    if seat.get("zone_root_id"):
        return str(seat["zone_root_id"])
    seat_id = str(seat.get("root_id") or seat.get("id") or "")
    return seat_id.rsplit("-", 1)[0] if "-" in seat_id else seat_id


class ClientsStream(QTicketsStream):
    """GET /clients (no timestamps in the API → full table); only `id` unless include_pii."""

    name = "clients"
    path = "/clients"
    primary_keys = ("id",)
    replication_key = None


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
