"""The HTML report's content: plotly figures built from a real warehouse (embedded ClickHouse, the staging
rows of report_seed.py, transform/*.sql applied) checked against the views; the page's size and its one
inline plotly.js; where the report is written. The page in a browser: test_report_browser.py."""

from __future__ import annotations

import base64
import gzip
import html
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import plotly
import pytest
from plotly.offline import get_plotlyjs
from qtickets_pipeline import report, report_figures, report_html, transforms
from qtickets_pipeline.report_data import MAX_SHOWS, ReportData, RevenueRow, ShowRow
from qtickets_pipeline.report_figures import DELETED_MARK, NARROW, WIDE, wrap
from qtickets_pipeline.settings import load_settings
from qtickets_pipeline.warehouse import connect, query_rows
from report_seed import (
    CHARTS,
    DELETED_EVENT,
    EVENTS,
    TODAY,
    UPCOMING,
    by_trace,
    marked,
    page_figures,
    seeded,
    show_label,
)


@pytest.fixture
def warehouse(settings, staged, insert, version):
    return seeded(staged, settings, insert, version)


@pytest.mark.integration
def test_figures_equal_the_views(settings, warehouse, tmp_path):
    db = settings.database
    _, path = report.write_report(warehouse, settings, tmp_path / "report.html")
    figs = page_figures(path.read_text(encoding="utf-8"))
    assert list(figs) == CHARTS
    for chart in figs.values():  # the narrow layout draws the same numbers
        assert [t["x"] for t in chart["wide"]["data"]] == [t["x"] for t in chart["narrow"]["data"]]
        assert [t["y"] for t in chart["wide"]["data"]] == [t["y"] for t in chart["narrow"]["data"]]
    figs = {div_id: chart["wide"] for div_id, chart in figs.items()}

    days = [str(TODAY - timedelta(days=13 - i)) for i in range(14)]
    _, revenue = query_rows(warehouse, f"SELECT toString(day), event_id, sum(revenue) FROM {db}.v_sales_14d "
                            "GROUP BY day, event_id")
    totals: dict[int, Decimal] = {}
    for _, event, amount in revenue:
        totals[event] = totals.get(event, Decimal(0)) + amount
    top = sorted(totals, key=lambda e: (-totals[e], e))[:report_figures.TOP_EVENTS]
    drawn = by_trace(figs["chart-revenue"], name="meta")
    assert set(drawn) == {marked(e) for e in top} | {report_figures.OTHER}
    assert all(list(series) == days for series in drawn.values())
    label = {e: marked(e) if e in top else report_figures.OTHER for e in totals}
    expected: dict[tuple[str, str], Decimal] = {}
    for day, event, amount in revenue:
        expected[(day, label[event])] = expected.get((day, label[event]), Decimal(0)) + amount
    assert {(d, e, Decimal(str(v))) for e, series in drawn.items() for d, v in series.items() if v} == {
        (d, e, v) for (d, e), v in expected.items() if v}

    _, sold = query_rows(warehouse, f"SELECT city, event_id, sum(tickets_sold) AS n FROM {db}.v_sales_14d "
                         "GROUP BY city, event_id HAVING n > 0")
    drawn = by_trace(figs["chart-tickets"], x="y", y="x")
    assert {(c, html.unescape(e), n) for c, series in drawn.items() for e, n in series.items()} == {
        (c, marked(e), n) for c, e, n in sold}

    _, refunds = query_rows(warehouse, f"SELECT toString(toDate(refunded_at, 'Europe/Moscow')), count(), "
                            f"sum(coalesce(refunded_amount, price)) FROM {db}.v_sales_latest "
                            "WHERE status = 'refunded' GROUP BY 1")
    count, amount = (by_trace(figs["chart-refunds"])[n] for n in ("Возвратов, шт.", "Сумма возвратов, ₽"))
    assert {(d, count[d], Decimal(str(amount[d]))) for d in days if count[d]} == set(refunds)
    assert sum(count.values()) == 2 and sum(amount.values()) == 4500.0

    (occupancy,) = figs["chart-occupancy"]["data"]
    _, seats = query_rows(warehouse, f"SELECT show_id, sum(sold), sum(capacity) FROM {db}.v_inventory_latest "
                          "GROUP BY show_id")
    seats_of = {s: (n, cap) for s, n, cap in seats}
    assert occupancy["y"] == occupancy["hovertext"] == [show_label(s) for s in UPCOMING]  # the hover: whole
    assert occupancy["text"] == [f"{seats_of[s][0]} / {seats_of[s][1]}" for s in UPCOMING]
    assert occupancy["x"] == pytest.approx([seats_of[s][0] / seats_of[s][1] for s in UPCOMING])

    _, attended = query_rows(warehouse, "SELECT show_id, sum(checked_in), sum(not_checked_in) "
                             f"FROM {db}.v_attendance_by_show WHERE show_finish_at < now() "
                             "AND show_start_at > now() - INTERVAL 14 DAY "
                             "GROUP BY show_id ORDER BY any(show_start_at)")
    came, missed = (by_trace(figs["chart-attendance"], x="y", y="x")[n] for n in ("Пришли", "Не пришли"))
    assert [(came[show_label(s)], missed[show_label(s)]) for s, *_ in attended] == [r[1:] for r in attended]
    assert [r[0] for r in attended] == [20, 10, 60]  # oldest first; show 40 is older than 14 days


@pytest.mark.integration
def test_upcoming_shows_have_not_started(settings, warehouse, tmp_path):
    """A show under way (a concert that began an hour ago, an exhibition open for days) is not upcoming,
    and not attended yet either."""
    _, path = report.write_report(warehouse, settings, tmp_path / "report.html")
    figs = page_figures(path.read_text(encoding="utf-8"))
    occupancy = figs["chart-occupancy"]["wide"]["data"][0]["y"]
    attendance = {y for t in figs["chart-attendance"]["wide"]["data"] for y in t["y"]}
    assert show_label(31) in occupancy and show_label(42) in occupancy  # tomorrow; the next season
    for show in (32, 41):
        assert show_label(show) not in occupancy and show_label(show) not in attendance


@pytest.mark.integration
def test_deleted_events_are_marked_wherever_named(settings, warehouse, tmp_path):
    text, path = report.write_report(warehouse, settings, tmp_path / "report.html")
    page = path.read_text(encoding="utf-8")
    mark, name = DELETED_MARK.strip(), EVENTS[DELETED_EVENT][0]
    assert re.search(rf"^\s*{DELETED_EVENT}\s+{re.escape(name)} \[deleted\]", text, re.M)  # the terminal
    assert 'id="deleted-note"' in page
    tag = '<span class="deleted-tag">удалено</span>'
    row = re.search(rf"<tr class=deleted><td[^>]*>{re.escape(html.escape(name))}{tag}", page)
    assert row, "the summary table does not mark the deleted event"
    assert page.count("<tr class=deleted>") == 1
    for div_id, chart in page_figures(page).items():
        for fit, fig in chart.items():
            labels = [html.unescape(label.replace("<br>", " ")) for label in shown_labels(fig)]
            assert all((mark in label) == (name[:8] in label) for label in labels), (div_id, fit, labels)
            hatched, plain = bars_by_hatching(fig)
            assert all(name[:8] in label for label in hatched), (div_id, fit, hatched)
            assert not any(name[:8] in label for label in plain), (div_id, fit, plain)
            assert bool(hatched) == (div_id != "chart-refunds"), (div_id, fit)


def shown_labels(fig: dict) -> list[str]:
    """The event / show labels a figure shows: its bars' axis labels, else its legend entries."""
    legend = [t["name"] for t in fig["data"] if t.get("showlegend", True)]
    return fig["layout"]["yaxis"].get("ticktext") or legend


def bars_by_hatching(fig: dict) -> tuple[list[str], list[str]]:
    """The labels (full, as the hover shows them) of the hatched bars and of the plain ones."""
    hatched, plain = [], []
    for trace in fig["data"]:
        shape = trace.get("marker", {}).get("pattern", {}).get("shape", "")
        if trace.get("orientation") == "h":
            labels = [html.unescape(y) for y in trace["y"]]
        elif "meta" in trace:
            labels = [html.unescape(trace["meta"])]
        else:
            continue  # not a bar of events (refunds)
        shapes = shape if isinstance(shape, list) else [shape] * len(labels)
        for label, one in zip(labels, shapes, strict=True):
            (hatched if one else plain).append(label)
    return hatched, plain


@pytest.mark.integration
def test_empty_and_fresh_warehouses_still_get_a_page(settings, staged, tmp_path):
    fresh = tmp_path / "fresh.html"
    text, _ = report.write_report(staged, settings, fresh)  # no transforms applied: no views at all
    assert "not created yet" in text and "v_sales_14d" in text
    assert "Витрины ещё не созданы" in fresh.read_text(encoding="utf-8")
    transforms.bring_up_to_date(staged, settings)  # staging tables with no rows
    empty = tmp_path / "empty.html"
    report.write_report(staged, settings, empty)
    page = empty.read_text(encoding="utf-8")
    figs = page_figures(page)
    assert list(figs) == CHARTS and "Данных за последние 14\u00a0дней пока нет" in page
    for chart in figs.values():
        for fig in chart.values():
            assert fig["layout"]["annotations"][0]["text"] == "Нет данных за период"


@pytest.mark.integration
def test_refresh_never_fails_the_run(settings, tmp_path, caplog):
    with connect(settings) as client:
        client.command(f"CREATE DATABASE IF NOT EXISTS {settings.database}")
        client.command(f"CREATE VIEW {settings.database}.v_sales_14d AS SELECT 1 AS broken")
        assert report.refresh(client, settings) is None
    assert "report not refreshed" in caplog.text


@pytest.mark.unit
def test_the_default_report_path_names_the_warehouse(tmp_path, monkeypatch):
    """Only the project's own warehouse writes data/report/sales_14d.html: another one gets a file named
    after it, so `report` against it never replaces the project's page."""
    root = tmp_path / "project"
    for var in ("CLICKHOUSE_URL", "CLICKHOUSE_DATABASE", "CLICKHOUSE_PASSWORD", "MELTANO_PROJECT_ROOT"):
        monkeypatch.delenv(var, raising=False)

    def path(**env: str) -> Path:
        for var, value in env.items():
            monkeypatch.setenv(var, value)
        try:
            return report.default_report_path(load_settings(environment="demo", project_root=root))
        finally:
            for var in env:
                monkeypatch.delenv(var)

    folder = root / "data" / "report"
    own = path()
    assert own == folder / "sales_14d.html"
    assert path(CLICKHOUSE_URL=f"chdb://{root / 'data' / 'clickhouse'}", CLICKHOUSE_DATABASE="zakaz") == own
    others = [path(CLICKHOUSE_DATABASE="staging"), path(CLICKHOUSE_URL=f"chdb://{tmp_path / 'clickhouse'}"),
              path(CLICKHOUSE_URL="https://reader:s3cret-pass@ch.example.com:8443"),
              path(CLICKHOUSE_URL="https://ch.example.com:8443", CLICKHOUSE_DATABASE="staging")]
    assert len({own, *others}) == 5 and all(p.parent == folder for p in others)
    assert re.fullmatch(r"sales_14d\.chdb-clickhouse\.staging\.[0-9a-f]{8}\.html", others[0].name)
    assert re.fullmatch(r"sales_14d\.ch\.example\.com-8443\.zakaz\.[0-9a-f]{8}\.html", others[2].name)
    assert others[2] == path(CLICKHOUSE_URL="https://ch.example.com:8443")  # credentials play no part


@pytest.mark.unit
def test_labels_wrap_and_keep_the_deleted_mark():
    label = html.escape("Органный вечер в кафедральном соборе святых Петра и Павла", quote=False)
    assert wrap(label, 30, 2) == "Органный вечер в кафедральном<br>соборе святых Петра и Павла"
    assert wrap(label, 20, 2) == "Органный вечер в<br>кафедральном соборе…"
    assert wrap(label + DELETED_MARK, 24, 2) == "Органный вечер в<br>кафедральном… (удалено)"
    assert wrap(label + DELETED_MARK, 20, 2) == "Органный вечер в<br>кафедраль… (удалено)"  # no word fits
    assert wrap("Джаз &amp; блюз &lt;live&gt;", 12, 2) == "Джаз &amp; блюз<br>&lt;live&gt;"  # & counts once
    for chars, lines in ((WIDE.label_chars, WIDE.label_lines), (NARROW.label_chars, NARROW.label_lines)):
        shown = wrap(label + DELETED_MARK, chars, lines).split("<br>")
        assert len(shown) <= lines and all(len(html.unescape(s)) <= chars for s in shown)


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
    traces = {t.meta: t.y for t in report_figures.revenue_figure(data, WIDE).data}
    assert len(traces) == 10 and sum(traces["Другие мероприятия"]) == 100 + 200 + 300 + 5.5 + 0.5
    assert sum(sum(y) for y in traces.values()) == float(sum(r.revenue for r in rows))
    labels = report_figures.event_labels(((r.event_id, r.event, r.city) for r in rows), {21})
    assert labels[1] == "Событие 1 (Омск)" and {labels[20], labels[21]} == {
        "Событие 1 (Томск) #20", "Событие 1 (Томск) #21" + DELETED_MARK}
    occupancy = report_figures.charts(data)[3]
    assert occupancy.title.endswith(f"(ближайшие {MAX_SHOWS})")
    for fig in occupancy.figures.values():  # same time, same event: the show id tells them apart
        assert len(set(fig.data[0].y)) == MAX_SHOWS


@pytest.mark.unit
def test_page_is_small_and_carries_plotly_once_inline():
    day = TODAY - timedelta(days=1)
    revenue = [RevenueRow(day, e, f"Событие {e}", "Омск", Decimal(e)) for e in range(1, 40)]
    shows = [ShowRow(s, 1, "Шоу", "Омск", "01.01 19:00", 1, 10) for s in range(MAX_SHOWS)]
    data = ReportData(today=TODAY, tz="Europe/Moscow", generated="", revenue=revenue, occupancy=shows)
    page = report_html.render(data)
    assert len(page.encode()) < 1_000_000
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", page, re.I), "the page loads a file"
    (packed,) = re.findall(r'<script type="application/gzip\+base64" id="plotly-js">(.*?)</script>', page)
    bundle = gzip.decompress(base64.b64decode(packed)).decode()
    assert page.count('id="plotly-js"') == 1 and "Plotly.react(" in page
    version = re.search(r"plotly\.js \(basic - minified\) v(\d+)\.", bundle[:200])
    assert version, "assets hold no plotly.js basic bundle"
    # The figures are written by the installed plotly (Python) for the plotly.js it ships: same major.
    shipped = re.search(r"plotly\.js v(\d+)\.", get_plotlyjs()[:500])
    assert shipped and version.group(1) == shipped.group(1), plotly.__version__
