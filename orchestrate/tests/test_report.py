"""The HTML report: plotly figures built from a real warehouse (embedded ClickHouse, hand-made staging
rows, transform/*.sql applied), checked against the views, and the page rendered in headless Chromium."""

from __future__ import annotations

import html
import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import chromium as chromium_support
import pytest
from chromium import ChromiumUnavailable, browser_context, ensure_chromium
from qtickets_pipeline import report, report_html, transforms
from qtickets_pipeline.report_data import MAX_SHOWS, ReportData, RevenueRow, ShowRow
from qtickets_pipeline.warehouse import connect, query_rows

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.astimezone(MSK).date()
CHARTS = ["chart-revenue", "chart-tickets", "chart-refunds", "chart-occupancy", "chart-attendance"]
TITLES = ["Выручка по дням, ₽", "Продано билетов по мероприятиям и городам", "Возвраты",
          "Заполняемость предстоящих сеансов", "Посещаемость прошедших сеансов"]
EVENTS = {  # id: name, city, time zone; the third name holds what plotly and HTML would read as markup
    1: ("Концерт «Весна»", "Новосибирск", "Asia/Novosibirsk"),
    2: ("Спектакль «Чайка»", "Красноярск", "Asia/Krasnoyarsk"),
    3: ("Джаз & блюз <live> </script>", "Москва", "Europe/Moscow"),
}
SHOWS = {  # id: event, start (hours from now), length in hours
    10: (1, -50, 2),   # finished 2 days ago
    11: (1, 72, 2),
    12: (1, 240, 2),   # upcoming, nothing sold
    20: (2, -100, 3),  # finished 4 days ago
    21: (2, 120, 3),
    31: (3, 24, 2),
    32: (3, -1, 2),    # on now: not finished, so occupancy, not attendance
    40: (3, -24 * 30, 2),  # finished a month ago: outside the 14 days
}


def paid(days_ago: int, hour: int = 12) -> datetime:
    day = TODAY - timedelta(days=days_ago)
    return datetime(day.year, day.month, day.day, hour, tzinfo=MSK).astimezone(UTC)


def seed(client, db: str, insert, version) -> None:
    """Three events in three cities, past / live / upcoming shows, 14 days of sales with refunds and scans,
    and seat snapshots."""
    insert(client, db, "events", [
        {"id": e, "name": name, "city_id": e, "city_name": city, "city_timezone": tz, "updated_at": NOW,
         "_sdc_version": version()} for e, (name, city, tz) in EVENTS.items()
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
    insert(client, db, "sales", tickets)
    insert(client, db, "inventory", [
        {"show_id": s, "zone_id": "PARTERRE", "snapshot_at": NOW - timedelta(minutes=10),
         "event_id": SHOWS[s][0], "capacity": cap, "free": cap - sold, "sold": sold, "held": 0, "disabled": 0,
         "_sdc_version": version()}
        for s, cap, sold in ((10, 50, 5), (11, 40, 4), (12, 30, 0), (21, 60, 2), (31, 20, 1), (32, 25, 1))
    ])


@pytest.fixture
def warehouse(settings, staged, insert, version):
    seed(staged, settings.database, insert, version)
    transforms.apply_all(staged, settings)
    return staged


def page_figures(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="report-figures">(.*?)</script>', page, re.S)
    assert match, "the page has no figure data"
    return json.loads(match.group(1))


def by_trace(fig: dict, x: str = "x", y: str = "y") -> dict[str, dict]:
    return {html.unescape(t["name"]): dict(zip(t[x], t[y], strict=True)) for t in fig["data"]}


def check_no_network_resources(page: str) -> None:
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", page, re.I), "the page loads a file"
    assert "Plotly.newPlot" in page and len(page) > 3_000_000  # plotly.js is inlined


@pytest.mark.integration
def test_figures_equal_the_views(settings, warehouse, tmp_path):
    db = settings.database
    text, path = report.write_report(warehouse, settings, tmp_path / "report.html")
    page = path.read_text(encoding="utf-8")
    check_no_network_resources(page)
    figs = page_figures(page)
    assert list(figs) == CHARTS
    for div_id, title in zip(CHARTS, TITLES, strict=True):
        assert figs[div_id]["layout"]["title"]["text"].startswith(title)
        assert f'id="{div_id}"' in page
    assert all(name in text for name, _, _ in EVENTS.values())  # the terminal table stays

    days = [str(TODAY - timedelta(days=13 - i)) for i in range(14)]
    _, revenue = query_rows(warehouse, "SELECT toString(day), event_name, sum(revenue) "
                            f"FROM {db}.v_sales_14d GROUP BY day, event_name")
    drawn = by_trace(figs["chart-revenue"])
    assert set(drawn) == {name for name, _, _ in EVENTS.values()}
    assert all(list(series) == days for series in drawn.values())
    assert {(d, e, Decimal(str(v))) for e, series in drawn.items() for d, v in series.items() if v} == {
        (d, e, v) for d, e, v in revenue if v}
    assert figs["chart-revenue"]["layout"]["yaxis"]["ticksuffix"].strip() == "₽"

    _, sold = query_rows(warehouse, f"SELECT city, event_name, sum(tickets_sold) AS n FROM {db}.v_sales_14d "
                         "GROUP BY city, event_name HAVING n > 0")
    drawn = by_trace(figs["chart-tickets"], x="y", y="x")
    assert {(c, html.unescape(e), n) for c, series in drawn.items() for e, n in series.items()} == set(sold)

    _, refunds = query_rows(warehouse, f"SELECT toString(toDate(refunded_at, 'Europe/Moscow')), count(), "
                            f"sum(coalesce(refunded_amount, price)) FROM {db}.v_sales_latest "
                            "WHERE status = 'refunded' GROUP BY 1")
    count, amount = (by_trace(figs["chart-refunds"])[n] for n in ("Возвратов, шт.", "Сумма возвратов, ₽"))
    assert {(d, count[d], Decimal(str(amount[d]))) for d in days if count[d]} == set(refunds)
    assert sum(count.values()) == 2 and sum(amount.values()) == 4500.0

    (occupancy,) = figs["chart-occupancy"]["data"]
    _, seats = query_rows(warehouse, f"SELECT show_id, sum(sold), sum(capacity) FROM {db}.v_inventory_latest "
                          "GROUP BY show_id")
    seats_of = {s: (sold, cap) for s, sold, cap in seats}
    upcoming = sorted((s for s, (_, h, length) in SHOWS.items() if h + length > 0 and s in seats_of),
                      key=lambda s: SHOWS[s][1])
    assert occupancy["text"] == [f"{seats_of[s][0]} / {seats_of[s][1]}" for s in upcoming]
    assert occupancy["x"] == pytest.approx([seats_of[s][0] / seats_of[s][1] for s in upcoming])
    start_31 = (NOW + timedelta(hours=24)).astimezone(MSK)
    assert occupancy["y"][1] == f"{start_31:%d.%m %H:%M} · {html.escape(EVENTS[3][0], quote=False)}"

    _, attended = query_rows(warehouse, "SELECT show_id, sum(checked_in), sum(not_checked_in) "
                             f"FROM {db}.v_attendance_by_show WHERE show_finish_at < now() "
                             "AND show_start_at > now() - INTERVAL 14 DAY "
                             "GROUP BY show_id ORDER BY any(show_start_at)")
    came, missed = (by_trace(figs["chart-attendance"], x="y", y="x")[n] for n in ("Пришли", "Не пришли"))
    shows = figs["chart-attendance"]["data"][0]["y"]
    assert [(came[y], missed[y]) for y in shows] == [r[1:] for r in attended]
    assert [r[0] for r in attended] == [20, 10]  # oldest first; show 40 is older than 14 days


@pytest.mark.integration
def test_empty_and_fresh_warehouses_still_get_a_page(settings, staged, tmp_path):
    fresh = tmp_path / "fresh.html"
    text, _ = report.write_report(staged, settings, fresh)  # no transforms applied: no views at all
    assert "not created yet" in text and "v_sales_14d" in text
    assert "Витрины ещё не созданы" in fresh.read_text(encoding="utf-8")
    transforms.apply_all(staged, settings)  # staging tables with no rows
    empty = tmp_path / "empty.html"
    report.write_report(staged, settings, empty)
    page = empty.read_text(encoding="utf-8")
    check_no_network_resources(page)
    figs = page_figures(page)
    assert list(figs) == CHARTS and "Данных за последние 14 дней пока нет" in page
    for fig in figs.values():
        assert fig["layout"]["annotations"][0]["text"] == "Нет данных за период"


@pytest.mark.integration
def test_refresh_never_fails_the_run(settings, tmp_path, caplog):
    with connect(settings) as client:
        client.command(f"CREATE DATABASE IF NOT EXISTS {settings.database}")
        client.command(f"CREATE VIEW {settings.database}.v_sales_14d AS SELECT 1 AS broken")
        assert report.refresh(client, settings) is None
    assert "report not refreshed" in caplog.text


@pytest.mark.unit
def test_many_events_and_shows_stay_readable():
    """Past the 9 biggest events the rest is one series; same-named events get their city, then their id;
    full show lists say they are cut."""
    day = TODAY - timedelta(days=2)
    rows = [RevenueRow(day, e, f"Событие {e}", "Омск", Decimal(100 * e)) for e in range(1, 13)]
    rows += [RevenueRow(day, 20, "Событие 1", "Томск", Decimal("5.5")),
             RevenueRow(day, 21, "Событие 1", "Томск", Decimal("0.5"))]
    shows = [ShowRow(s, 1, "Шоу", "Омск", "01.01 19:00", 1, 10) for s in range(MAX_SHOWS)]
    data = ReportData(today=TODAY, tz="Europe/Moscow", generated="", revenue=rows, occupancy=shows)
    traces = {t.name: t.y for t in report_html.revenue_figure(data).data}
    assert len(traces) == 10 and sum(traces["Другие мероприятия"]) == 100 + 200 + 300 + 5.5 + 0.5
    assert sum(sum(y) for y in traces.values()) == float(sum(r.revenue for r in rows))
    labels = report_html.event_labels((r.event_id, r.event, r.city) for r in rows)
    assert labels[1] == "Событие 1 (Омск)" and {labels[20], labels[21]} == {"Событие 1 (Томск) #20",
                                                                          "Событие 1 (Томск) #21"}
    occupancy = report_html.occupancy_figure(data)
    assert occupancy.layout.title.text.endswith(f"(ближайшие {MAX_SHOWS})")
    assert len(set(occupancy.data[0].y)) == MAX_SHOWS  # same time, same event: the show id tells them apart


# What the browser test reads off the rendered page: per chart, plotly's own DOM (its class, the axis
# groups with their tick labels, the title, the legend) and the text of the whole page.
READ_CHARTS = """() => Array.from(document.querySelectorAll('.chart')).map(div => ({
    id: div.id,
    plotted: div.classList.contains('js-plotly-plot') && !!div.querySelector('.main-svg'),
    xaxis: div.querySelectorAll('g.xaxislayer-above').length,
    yaxis: div.querySelectorAll('g.yaxislayer-above').length,
    xticks: Array.from(div.querySelectorAll('g.xtick text')).map(t => t.textContent),
    yticks: Array.from(div.querySelectorAll('g.ytick text')).map(t => t.textContent),
    y2ticks: Array.from(div.querySelectorAll('g.y2tick text')).map(t => t.textContent),
    title: (div.querySelector('.gtitle') || {}).textContent || '',
    legend: Array.from(div.querySelectorAll('.legendtext')).map(t => t.textContent),
    text: div.textContent,
}))"""


def render_in_chromium(path: Path, profile: Path) -> tuple[list[dict], list[str], list[str]]:
    """The charts as drawn, the page's script errors and console errors, and any non-file:// request
    (refused)."""
    errors: list[str] = []
    requests: list[str] = []
    with browser_context(profile) as context:
        def route(r):
            if r.request.url.startswith("file://"):
                return r.continue_()
            requests.append(r.request.url)
            return r.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
        page.on("console", lambda m: m.type == "error" and errors.append(f"console: {m.text}"))
        page.goto(path.as_uri(), wait_until="load")
        page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot').length === {len(CHARTS)}",
                               timeout=30_000)
        charts = page.evaluate(READ_CHARTS)
    return charts, errors, requests


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's Chromium, installed with apt when missing; a test that cannot have it fails (no skip)."""
    try:
        return ensure_chromium()
    except ChromiumUnavailable as exc:
        pytest.fail(f"headless Chromium is needed for this test: {exc}", pytrace=False)


@pytest.mark.unit
def test_missing_chromium_is_installed_with_apt_or_named(tmp_path, monkeypatch):
    binary = tmp_path / "chromium"
    calls: list[tuple[str, ...]] = []

    def apt(*args: str, fails: bool):
        calls.append(args)
        if args[0] == "install" and not fails and len(calls) > 1:
            binary.touch()  # found after `apt-get update`, as on a machine with stale package lists
        code = 100 if fails or len(calls) == 1 else 0
        return subprocess.CompletedProcess(["apt-get", *args], code, "", "E: Unable to locate package")

    monkeypatch.setattr(chromium_support, "CHROMIUM", binary)
    monkeypatch.setattr(chromium_support, "_apt", lambda *a: apt(*a, fails=False))
    assert ensure_chromium() == binary
    assert [c[0] for c in calls] == ["install", "update", "install"]
    binary.unlink()
    calls.clear()
    monkeypatch.setattr(chromium_support, "_apt", lambda *a: apt(*a, fails=True))
    with pytest.raises(ChromiumUnavailable, match=r"chromium` failed \(exit 100\):\nE: Unable to locate"):
        ensure_chromium()


@pytest.mark.e2e
def test_report_renders_in_headless_chromium(chromium, settings, warehouse, tmp_path):
    _, path = report.write_report(warehouse, settings, tmp_path / "report.html")
    charts, errors, requests = render_in_chromium(path, tmp_path / "profile")
    assert errors == [] and requests == []
    assert [c["id"] for c in charts] == CHARTS
    for chart, title in zip(charts, TITLES, strict=True):
        assert chart["plotted"] and chart["xaxis"] and chart["yaxis"], chart["id"]
        assert chart["xticks"] and chart["yticks"], chart["id"]
        assert chart["title"].startswith(title), chart["title"]
    revenue, tickets, refunds, occupancy, attendance = charts
    assert all(t.endswith("₽") for t in revenue["yticks"]) and any(t != "0\u00a0₽" for t in revenue["yticks"])
    assert sorted(revenue["legend"]) == sorted(name for name, _, _ in EVENTS.values())  # shown literally
    assert {TODAY.strftime("%d.%m"), (TODAY - timedelta(days=13)).strftime("%d.%m")} <= set(revenue["xticks"])
    assert set(tickets["legend"]) == {city for _, city, _ in EVENTS.values()}
    assert all(name in " ".join(tickets["yticks"]) for name, _, _ in EVENTS.values())
    assert all(t.endswith("₽") for t in refunds["y2ticks"])
    assert all(t.endswith("%") for t in occupancy["xticks"]) and len(occupancy["yticks"]) == 5
    assert set(attendance["legend"]) == {"Пришли", "Не пришли"} and len(attendance["yticks"]) == 2


@pytest.mark.e2e
def test_empty_report_renders_in_headless_chromium(chromium, settings, staged, tmp_path):
    transforms.apply_all(staged, settings)
    _, path = report.write_report(staged, settings, tmp_path / "empty.html")
    charts, errors, requests = render_in_chromium(path, tmp_path / "profile")
    assert errors == [] and requests == []
    assert [c["id"] for c in charts] == CHARTS
    for chart in charts:
        assert chart["plotted"] and chart["xaxis"] and chart["yaxis"], chart["id"]
        assert "Нет данных за период" in chart["text"], chart["id"]
    assert all(t.endswith("₽") for t in charts[0]["yticks"])
