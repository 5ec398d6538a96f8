"""What the report shows, read from the views: one query per chart (database and zone from the settings).

Days are in the report zone (`settings.report_tz`) and "now" is ClickHouse's `now()`, as in the views. A
view that does not exist yet (no load has applied the transforms) counts as empty and is named in
`ReportData.missing`, so a fresh warehouse still gets a page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import NamedTuple

from target_clickhouse import qualified_table, table_name

from .settings import Settings
from .warehouse import query_rows, table_exists

DAYS = 14
MAX_SHOWS = 30  # shows per occupancy / attendance chart (the nearest upcoming, the latest past)
SALES_COLUMNS = ("event_id", "event", "city", "tickets_sold", "revenue", "refunds", "refunded_amount")
VIEWS = ("v_sales_14d", "v_sales_latest", "dim_events", "v_inventory_latest", "v_attendance_by_show")


class RevenueRow(NamedTuple):
    day: date
    event_id: int
    event: str | None
    city: str | None
    revenue: Decimal


class TicketsRow(NamedTuple):
    event_id: int
    event: str | None
    city: str | None
    tickets_sold: int


class RefundsRow(NamedTuple):
    day: date
    refunds: int
    refunded_amount: Decimal


class ShowRow(NamedTuple):
    """One show (lists of them are in start order): `starts` is its start in the city's local time
    ("dd.mm HH:MM"); `done`/`total` are the sold seats / capacity (occupancy) or the scanned / sold
    tickets (attendance)."""

    show_id: int
    event_id: int
    event: str | None
    city: str | None
    starts: str
    done: int
    total: int


@dataclass
class ReportData:
    today: date
    tz: str
    generated: str  # when the data was read: "dd.mm.yyyy HH:MM" in the report zone
    sales: list[tuple] = field(default_factory=list)  # 14-day totals per event, SALES_COLUMNS
    revenue: list[RevenueRow] = field(default_factory=list)
    tickets: list[TicketsRow] = field(default_factory=list)
    refunds: list[RefundsRow] = field(default_factory=list)
    occupancy: list[ShowRow] = field(default_factory=list)
    attendance: list[ShowRow] = field(default_factory=list)
    deleted: set[int] = field(default_factory=set)  # ids of the events deleted in QTickets (dim_events)
    missing: list[str] = field(default_factory=list)  # views not created yet

    @property
    def days(self) -> list[date]:
        return [self.today - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]

    @property
    def empty(self) -> bool:
        return not (self.revenue or self.tickets or self.refunds or self.occupancy or self.attendance)


def _rows(client, sql: str, parameters: dict | None = None) -> list[tuple]:
    return query_rows(client, sql, parameters)[1]


def today(client, settings: Settings) -> tuple[date, str]:
    """Today in the report zone, and now as "dd.mm.yyyy HH:MM" there."""
    day, now = _rows(client, "SELECT toDate(now(), {tz:String}), formatDateTime(now(), '%d.%m.%Y %H:%i', "
                     "{tz:String})", {"tz": settings.report_tz})[0]
    return day, now


def sales_by_event(client, db: str) -> list[tuple]:
    """The 14-day totals per event (SALES_COLUMNS): the terminal table and the page's summary."""
    return _rows(client, f"""
        SELECT event_id, any(event_name) AS event, any(city) AS city,
               sum(tickets_sold) AS tickets_sold, sum(revenue) AS revenue,
               sum(refunds) AS refunds, sum(refunded_amount) AS refunded_amount
        FROM {db}.v_sales_14d
        GROUP BY event_id
        ORDER BY revenue DESC, event_id""")


def revenue(client, db: str) -> list[RevenueRow]:
    return [RevenueRow(*r) for r in _rows(client, f"""
        SELECT day, event_id, any(event_name), any(city), sum(revenue)
        FROM {db}.v_sales_14d GROUP BY day, event_id ORDER BY day, event_id""")]


def tickets(client, db: str) -> list[TicketsRow]:
    return [TicketsRow(*r) for r in _rows(client, f"""
        SELECT event_id, any(event_name), city, sum(tickets_sold) AS sold
        FROM {db}.v_sales_14d GROUP BY event_id, city HAVING sold > 0
        ORDER BY sold DESC, event_id, city""")]


def refunds(client, db: str, tz: str) -> list[RefundsRow]:
    """Refunds per day of the refund (v_sales_14d counts a ticket on the day it was paid)."""
    return [RefundsRow(*r) for r in _rows(client, f"""
        SELECT toDate(refunded_at, {{tz:String}}) AS day, count(), sum(coalesce(refunded_amount, price))
        FROM {db}.v_sales_latest
        WHERE status = 'refunded' AND day >= toDate(now(), {{tz:String}}) - {DAYS - 1}
        GROUP BY day ORDER BY day""", {"tz": tz})]


def deleted_events(client, db: str) -> set[int]:
    """The events deleted in QTickets: the page marks them wherever it names one."""
    return {e for (e,) in _rows(client, f"SELECT event_id FROM {db}.dim_events WHERE is_deleted")}


def _named(db: str, shows_sql: str) -> str:
    """Shows (show_id, event_id, start_at (UTC), done, total) with their event's name, city and start in
    the city's time zone (the report zone when the event has none)."""
    local = "coalesce(nullIf(e.city_timezone, ''), {tz:String})"
    return f"""
        SELECT s.show_id, s.event_id, e.name, e.city_name, formatDateTime(s.start_at, '%d.%m %H:%i', {local}),
               s.done, s.total
        FROM ({shows_sql}) AS s
        LEFT JOIN {db}.dim_events AS e ON e.event_id = s.event_id
        ORDER BY s.start_at, s.show_id"""


def occupancy(client, db: str, tz: str) -> list[ShowRow]:
    """Sold seats / capacity of the nearest shows that have not started yet (the latest seat snapshot): a
    show under way, such as an exhibition open for weeks, is no longer upcoming."""
    shows = qualified_table(db, table_name("shows"))
    upcoming = f"""
        SELECT i.show_id AS show_id, any(i.event_id) AS event_id, any(sh.start_date) AS start_at,
               toInt64(sum(i.sold)) AS done, toInt64(sum(i.capacity)) AS total
        FROM {db}.v_inventory_latest AS i
        INNER JOIN (SELECT id, start_date FROM {shows} FINAL WHERE deleted_at IS NULL) AS sh
            ON sh.id = i.show_id
        WHERE sh.start_date > now()
        GROUP BY i.show_id ORDER BY start_at, show_id LIMIT {MAX_SHOWS}"""
    return [ShowRow(*r) for r in _rows(client, _named(db, upcoming), {"tz": tz})]


def attendance(client, db: str, tz: str) -> list[ShowRow]:
    """Scanned / sold tickets of the latest shows that finished in the last 14 days."""
    past = f"""
        SELECT show_id, any(event_id) AS event_id, any(show_start_at) AS start_at,
               toInt64(sum(checked_in)) AS done, toInt64(sum(tickets_sold)) AS total
        FROM {db}.v_attendance_by_show
        WHERE coalesce(show_finish_at, show_start_at) <= now()
          AND toDate(coalesce(show_finish_at, show_start_at), {{tz:String}})
              >= toDate(now(), {{tz:String}}) - {DAYS - 1}
        GROUP BY show_id ORDER BY start_at DESC, show_id LIMIT {MAX_SHOWS}"""
    return [ShowRow(*r) for r in _rows(client, _named(db, past), {"tz": tz})]


def load(client, settings: Settings) -> ReportData:
    db, tz = settings.database, settings.report_tz
    day, now = today(client, settings)
    data = ReportData(today=day, tz=tz, generated=now,
                      missing=[v for v in VIEWS if not table_exists(client, db, v)])
    present = set(VIEWS) - set(data.missing)
    if {"v_sales_14d"} <= present:
        data.sales, data.revenue = sales_by_event(client, db), revenue(client, db)
        data.tickets = tickets(client, db)
    if {"v_sales_latest"} <= present:
        data.refunds = refunds(client, db, tz)
    if "dim_events" in present:
        data.deleted = deleted_events(client, db)
    if {"v_inventory_latest", "dim_events"} <= present:
        data.occupancy = occupancy(client, db, tz)
    if {"v_attendance_by_show", "dim_events"} <= present:
        data.attendance = attendance(client, db, tz)
    return data
