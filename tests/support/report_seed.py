"""The report tests' warehouse: eleven events in six cities (one deleted; long names, names that plotly
and HTML would read as markup), past / live / upcoming shows, 14 days of sales with refunds and scans, and
seat snapshots, as staging rows; plus readers of the page's figure data and the labels the page must show.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from qtickets_pipeline import transforms
from qtickets_pipeline.report_figures import DELETED_MARK

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.astimezone(MSK).date()
CHARTS = ["chart-revenue", "chart-tickets", "chart-refunds", "chart-occupancy", "chart-attendance"]
TITLES = ["Выручка по дням, ₽", "Продано билетов по мероприятиям и городам", "Возвраты",
          "Заполняемость предстоящих сеансов", "Посещаемость прошедших сеансов"]
DELETED_EVENT = 6
EVENTS = {  # id: name, city, time zone; long names, names that plotly and HTML would read as markup
    1: ("Концерт «Весна»", "Новосибирск", "Asia/Novosibirsk"),
    2: ("Спектакль «Чайка»", "Красноярск", "Asia/Krasnoyarsk"),
    3: ("Джаз & блюз <live> </script>", "Москва", "Europe/Moscow"),
    4: ("Выставка «Импрессионисты: свет и цвет в собрании музея»", "Санкт-Петербург", "Europe/Moscow"),
    5: ("Большой новогодний концерт симфонического оркестра и хора", "Москва", "Europe/Moscow"),
    DELETED_EVENT: ("Стендап «Вечер историй»", "Казань", "Europe/Moscow"),
    7: ("Органный вечер в кафедральном соборе святых Петра и Павла", "Москва", "Europe/Moscow"),
    8: ("Балет «Лебединое озеро»", "Санкт-Петербург", "Europe/Moscow"),
    9: ("Фестиваль уличной еды и музыки", "Казань", "Europe/Moscow"),
    10: ("Лекция о космосе", "Новосибирск", "Asia/Novosibirsk"),
    11: ("Мастер-класс по гончарному делу", "Красноярск", "Asia/Krasnoyarsk"),
}
SHOWS = {  # id: event, start (hours from now), length in hours
    10: (1, -50, 2),   # finished 2 days ago
    11: (1, 72, 2),
    12: (1, 240, 2),   # upcoming, nothing sold
    20: (2, -100, 3),  # finished 4 days ago
    21: (2, 120, 3),
    31: (3, 24, 2),
    32: (3, -1, 2),    # on now: started, so not upcoming; not finished, so not attended either
    40: (3, -24 * 30, 2),  # finished a month ago: outside the 14 days
    41: (4, -24 * 5, 24 * 25),  # an exhibition open since 5 days, for 20 more: not upcoming
    42: (4, 24 * 30, 24 * 30),  # its next season
    51: (5, 48, 3),
    60: (DELETED_EVENT, -30, 2),
    61: (DELETED_EVENT, 96, 2),
    **{70 + e: (e, 24 * e, 2) for e in range(7, 12)},
}
STARTED = {s for s, (_, hours, _) in SHOWS.items() if hours <= 0}
SEATS = {  # show: capacity, sold
    10: (50, 5), 11: (40, 4), 12: (30, 0), 21: (60, 2), 31: (20, 1), 32: (25, 1), 41: (500, 3), 42: (500, 1),
    51: (1200, 3), 61: (80, 2), **{70 + e: (100, 2) for e in range(7, 12)},
}
UPCOMING = sorted((s for s in SEATS if s not in STARTED), key=lambda s: SHOWS[s][1])


def paid(days_ago: int, hour: int = 12) -> datetime:
    day = TODAY - timedelta(days=days_ago)
    return datetime(day.year, day.month, day.day, hour, tzinfo=MSK).astimezone(UTC)


def seed(client, db: str, insert, version) -> None:
    """The staging rows (module docstring)."""
    insert(client, db, "events", [
        {"id": e, "name": name, "city_id": e, "city_name": city, "city_timezone": tz, "updated_at": NOW,
         "deleted_at": NOW - timedelta(hours=2) if e == DELETED_EVENT else None, "_sdc_version": version()}
        for e, (name, city, tz) in EVENTS.items()
    ])
    insert(client, db, "shows", [
        {"id": s, "event_id": e, "start_date": NOW + timedelta(hours=h),
         "finish_date": NOW + timedelta(hours=h + length), "_sdc_version": version()}
        for s, (e, h, length) in SHOWS.items()
    ])
    tickets = []

    def sell(show: int, days_ago: int, price: str, **kw) -> None:
        tid = 1000 + len(tickets)
        tickets.append({
            "id": tid, "order_id": tid, "event_id": SHOWS[show][0], "show_id": show, "zone_id": "PARTERRE",
            "seat_id": f"PARTERRE-1;{tid}", "price": Decimal(price), "payed": True,
            "payed_at": paid(days_ago, 10 + len(tickets) % 10), "updated_at": NOW, "_sdc_version": version(),
            **kw,
        })

    for days_ago in (1, 3, 10, 13):
        sell(11, days_ago, "1500.00")
        sell(10, days_ago, "1200.00", checked_at=NOW - timedelta(hours=50))
    sell(10, 2, "1200.00")  # a no-show
    sell(21, 2, "2500.00")
    sell(21, 2, "2500.00", refunded_at=NOW - timedelta(days=1), refunded_amount=Decimal("2000.00"))
    sell(21, 5, "2500.00", refunded_at=NOW - timedelta(days=4))  # refunded in full: amount = price
    sell(20, 6, "900.00", checked_at=NOW - timedelta(hours=100), zone_id="BALCONY")
    sell(20, 7, "900.00")
    sell(20, 8, "900.00", deleted_at=NOW)  # cancelled
    sell(31, 0, "700.50")
    sell(32, 0, "800.00", checked_at=NOW - timedelta(minutes=50))
    sell(40, 20, "999.00")  # paid before the 14 days
    for show, days in ((41, (1, 4, 6)), (42, (2,)), (51, (0, 5, 9)), (60, (3, 4)), (61, (1, 2)),
                       *((70 + e, (e % 5, e)) for e in range(7, 12))):
        for days_ago in days:
            sell(show, days_ago, f"{300 * SHOWS[show][0]}.00",
                 checked_at=NOW - timedelta(hours=29) if show == 60 and days_ago == 3 else None)
    insert(client, db, "sales", tickets)
    insert(client, db, "inventory", [
        {"show_id": s, "zone_id": "PARTERRE", "snapshot_at": NOW - timedelta(minutes=10),
         "event_id": SHOWS[s][0], "capacity": cap, "free": cap - sold, "sold": sold, "held": 0, "disabled": 0,
         "_sdc_version": version()}
        for s, (cap, sold) in SEATS.items()
    ])



def seeded(client, settings, insert, version):
    """`client`'s database seeded and its transforms applied."""
    seed(client, settings.database, insert, version)
    transforms.bring_up_to_date(client, settings)
    return client


def page_figures(page: str) -> dict:
    """The page's figure data: per chart div, its figure per layout ("wide", "narrow")."""
    match = re.search(r'<script type="application/json" id="report-figures">(.*?)</script>', page, re.S)
    assert match, "the page has no figure data"
    return json.loads(match.group(1))["charts"]


def by_trace(fig: dict, x: str = "x", y: str = "y", name: str = "name") -> dict[str, dict]:
    """{trace label: {x: y}}, merging the traces of one legend entry (a deleted event's bars are a trace
    of their own)."""
    out: dict[str, dict] = {}
    for trace in fig["data"]:
        out.setdefault(html.unescape(trace[name]), {}).update(zip(trace[x], trace[y], strict=True))
    return out


def marked(event: int) -> str:
    name = EVENTS[event][0]
    return name + DELETED_MARK if event == DELETED_EVENT else name


def show_label(show: int) -> str:
    event, hours, _ = SHOWS[show]
    start = (NOW + timedelta(hours=hours)).astimezone(ZoneInfo(EVENTS[event][2]))
    return html.escape(f"{start:%d.%m %H:%M} · {marked(event)}", quote=False)
