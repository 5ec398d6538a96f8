"""The report page: plotly figures of `ReportData`, written as one self-contained offline HTML file.

plotly.js is inlined (no CDN, the page makes no network request); the figures travel as one JSON block
(`<script type="application/json" id="report-figures">`, keyed by the chart's div id) that a few lines
of script hand to `Plotly.newPlot`. Labels are in Russian, money in roubles.
"""

from __future__ import annotations

import html
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from .report_data import DAYS, MAX_SHOWS, ReportData, ShowRow

TOP_EVENTS = 9  # events drawn by name in the revenue chart; the rest are summed as "other events"
OTHER = "Другие мероприятия"
NO_DATA = "Нет данных за период"
LABEL_WIDTH = 45
LEGEND_ON_TOP = {"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom", "traceorder": "normal"}
RUB = "\u00a0₽"  # a no-break space before the rouble sign, as Russian typography writes it
DAY_MS = 86_400_000
# Plotly's locale hook: Russian month/day names, decimal comma, space for thousands, modebar tooltips.
LOCALE_RU = {
    "moduleType": "locale",
    "name": "ru",
    "dictionary": {
        "Autoscale": "Автомасштаб", "Box Select": "Выделение", "Download plot as a png": "Сохранить как PNG",
        "Lasso Select": "Лассо", "Pan": "Сдвиг", "Produced with Plotly.js": "Создано с Plotly.js",
        "Reset axes": "Сбросить оси", "Zoom": "Масштаб", "Zoom in": "Увеличить", "Zoom out": "Уменьшить",
        "Show closest data on hover": "Ближайшее значение", "Compare data on hover": "Сравнить значения",
        "Double-click to zoom back out": "Двойной щелчок — исходный масштаб",
    },
    "format": {
        "days": ["воскресенье", "понедельник", "вторник", "среда", "четверг", "пятница", "суббота"],
        "shortDays": ["вс", "пн", "вт", "ср", "чт", "пт", "сб"],
        "months": ["январь", "февраль", "март", "апрель", "май", "июнь", "июль", "август", "сентябрь",
                   "октябрь", "ноябрь", "декабрь"],
        "shortMonths": ["янв", "фев", "мар", "апр", "май", "июн", "июл", "авг", "сен", "окт", "ноя", "дек"],
        "date": "%d.%m.%Y", "decimal": ",", "thousands": "\u00a0",
    },
}
CONFIG = {"locale": "ru", "displaylogo": False, "responsive": True}
STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; margin: 24px auto;
       max-width: 1200px; padding: 0 16px; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } .period { color: #555; margin-top: 0; }
.note { background: #fff6d6; border: 1px solid #e8d38b; padding: 8px 12px; border-radius: 4px; }
.chart { margin: 24px 0; min-height: 320px; }
table { border-collapse: collapse; margin: 12px 0 32px; } th, td { padding: 4px 10px; }
th { text-align: left; border-bottom: 2px solid #ccc; } td { border-bottom: 1px solid #eee; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
"""
SUMMARY_HEADERS = ["Мероприятие", "Город", "Продано билетов", "Выручка, ₽", "Возвратов", "Сумма возвратов, ₽"]


def plain(text: str) -> str:
    """Text from the data as plotly shows it literally (plotly reads <b>, <br>, <a …> and entities in
    names, labels and hover text)."""
    return html.escape(text, quote=False)


def short(label: str, width: int = LABEL_WIDTH) -> str:
    """A `plain` label cut to `width` characters (as shown: an entity counts as one)."""
    text = html.unescape(label)
    return label if len(text) <= width else plain(text[: width - 1] + "…")


def _distinct(labels: dict, add: Callable[[Any, str], str]) -> dict:
    """`labels` with `add(key, label)` applied to every label that more than one key shares."""
    counts = Counter(labels.values())
    return {key: add(key, label) if counts[label] > 1 else label for key, label in labels.items()}


def event_labels(events: Iterable[tuple[int, str | None, str | None]]) -> dict[int, str]:
    """A distinct label per event id (from (event_id, name, city)): the name, with the city and then
    the id added where two events would otherwise look the same."""
    info = {event_id: (plain(name or f"Мероприятие {event_id}"), plain(city or "—"))
            for event_id, name, city in events}
    labels = _distinct({e: name for e, (name, _city) in info.items()},
                       lambda e, label: f"{label} ({info[e][1]})")
    return _distinct(labels, lambda e, label: f"{label} #{e}")


def bars_height(bars: int) -> int:
    """The height of a chart of horizontal bars, in pixels."""
    return max(320, 160 + 28 * bars)


def money(value: Decimal | float | int) -> float:
    return round(float(value), 2)


def _layout(fig: go.Figure, title: str, empty: bool, **layout) -> go.Figure:
    fig.update_layout({
        "title": {"text": title, "x": 0, "xanchor": "left", "font": {"size": 18}},
        "template": "plotly_white", "separators": ",\u00a0", "margin": {"t": 70},
        "legend": {"traceorder": "normal"},  # at the right, where a list of events fits
    } | layout)
    if empty:
        fig.add_annotation(text=NO_DATA, xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False,
                           font={"size": 16, "color": "#888"})
    return fig


def _day_axis(data: ReportData) -> dict:
    first, last = data.days[0], data.days[-1]
    return {"type": "date", "tickformat": "%d.%m", "dtick": DAY_MS,
            "range": [f"{first - timedelta(days=1)} 12:00", f"{last} 12:00"]}


def _money_axis(title: str, peak: float, **axis) -> dict:
    """A rouble axis from 0 (0 … 1 000 ₽ while there is nothing to show)."""
    return {"title": {"text": title}, "tickformat": ",.0f", "ticksuffix": RUB, "rangemode": "tozero",
            "tickmode": "auto", **({"range": [0, 1000]} if peak <= 0 else {}), **axis}


def _count_axis(title: str, peak: int, **axis) -> dict:
    """A whole-number axis from 0 (a tick per unit for small counts, never 0.5 tickets)."""
    return {"title": {"text": title}, "tickformat": ",d", "rangemode": "tozero",
            **({"dtick": 1} if peak <= 10 else {}), **({"range": [0, 5]} if peak <= 0 else {}), **axis}


def revenue_figure(data: ReportData) -> go.Figure:
    labels = event_labels((r.event_id, r.event, r.city) for r in data.revenue)
    totals: dict[int, Decimal] = defaultdict(Decimal)
    for row in data.revenue:
        totals[row.event_id] += row.revenue
    top = sorted(totals, key=lambda e: (-totals[e], e))[:TOP_EVENTS]
    series = {labels[e]: e for e in top} | ({OTHER: -1} if len(totals) > len(top) else {})
    values: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
    for row in data.revenue:
        values[(row.day.isoformat(), row.event_id if row.event_id in top else -1)] += row.revenue
    days = [d.isoformat() for d in data.days]
    fig = go.Figure([
        go.Bar(name=name, x=days, y=[money(values[(d, event_id)]) for d in days],
               hovertemplate="%{x|%d.%m.%Y}<br>%{fullData.name}: %{y:,.2f}" + RUB + "<extra></extra>")
        for name, event_id in series.items()
    ])
    peak = max([sum(values[(d, e)] for e in series.values()) for d in days], default=Decimal(0))
    return _layout(fig, "Выручка по дням, ₽", not data.revenue, barmode="stack", xaxis=_day_axis(data),
                   yaxis=_money_axis("Выручка, ₽", float(peak)))


def tickets_figure(data: ReportData) -> go.Figure:
    labels = event_labels((r.event_id, r.event, r.city) for r in data.tickets)
    totals: dict[int, int] = defaultdict(int)
    for row in data.tickets:
        totals[row.event_id] += row.tickets_sold
    order = [labels[e] for e in sorted(totals, key=lambda e: (-totals[e], e))]
    by_city: dict[str, dict[str, int]] = defaultdict(dict)
    for row in data.tickets:
        by_city[plain(row.city or "Город не указан")][labels[row.event_id]] = row.tickets_sold
    fig = go.Figure([
        go.Bar(name=city, orientation="h", y=list(events), x=list(events.values()),
               hovertemplate="%{y}<br>%{fullData.name}: %{x} билетов<extra></extra>")
        for city, events in sorted(by_city.items())
    ])
    return _layout(fig, "Продано билетов по мероприятиям и городам (14 дней)", not data.tickets,
                   barmode="stack", height=bars_height(len(order)),
                   xaxis=_count_axis("Продано билетов", max(totals.values(), default=0)),
                   yaxis={"categoryorder": "array", "categoryarray": order, "tickmode": "array",
                          "tickvals": order, "ticktext": [short(e) for e in order], "autorange": "reversed",
                          "automargin": True},
                   legend_title_text="Город")


def refunds_figure(data: ReportData) -> go.Figure:
    by_day = {r.day.isoformat(): r for r in data.refunds}
    days = [d.isoformat() for d in data.days]
    counts = [by_day[d].refunds if d in by_day else 0 for d in days]
    amounts = [money(by_day[d].refunded_amount) if d in by_day else 0.0 for d in days]
    fig = go.Figure([
        go.Bar(name="Возвратов, шт.", x=days, y=counts,
               hovertemplate="%{x|%d.%m.%Y}: %{y} возвратов<extra></extra>"),
        go.Scatter(name="Сумма возвратов, ₽", x=days, y=amounts, yaxis="y2", mode="lines+markers",
                   hovertemplate="%{x|%d.%m.%Y}: %{y:,.2f}" + RUB + "<extra></extra>"),
    ])
    return _layout(fig, "Возвраты по дням (по дате возврата)", not data.refunds, xaxis=_day_axis(data),
                   yaxis=_count_axis("Возвратов, шт.", max(counts)),
                   yaxis2=_money_axis("Сумма возвратов, ₽", max(amounts), overlaying="y", side="right",
                                      showgrid=False), legend=LEGEND_ON_TOP)


def show_labels(rows: list[ShowRow]) -> list[str]:
    events = event_labels((r.event_id, r.event, r.city) for r in rows)
    labels = _distinct({i: f"{r.starts} · {short(events[r.event_id], 35)}" for i, r in enumerate(rows)},
                       lambda i, label: f"{label} (#{rows[i].show_id})")
    return list(labels.values())


def _shows_title(title: str, rows: list[ShowRow], which: str) -> str:
    """The title, saying so when the chart holds only the first MAX_SHOWS shows."""
    return title + (f" ({which} {MAX_SHOWS})" if len(rows) >= MAX_SHOWS else "")


def occupancy_figure(data: ReportData) -> go.Figure:
    rows = data.occupancy
    labels = show_labels(rows)
    share = [r.done / r.total if r.total else 0.0 for r in rows]
    fig = go.Figure(go.Bar(
        name="Заполняемость", orientation="h", y=labels, x=share,
        text=[f"{r.done} / {r.total}" for r in rows], textposition="outside", cliponaxis=False,
        customdata=[[r.done, r.total, plain(r.event or ""), plain(r.city or "—")] for r in rows],
        hovertemplate="%{customdata[2]} (%{customdata[3]})<br>продано %{customdata[0]} из %{customdata[1]}"
                      " мест: %{x:.0%}<extra></extra>",
    ))
    return _layout(fig, _shows_title("Заполняемость предстоящих сеансов", rows, "ближайшие"), not rows,
                   height=bars_height(len(rows)), showlegend=False,
                   xaxis={"title": {"text": "Продано мест от вместимости"}, "tickformat": ".0%",
                          "range": [0, max([1.0, *share])]},
                   yaxis={"title": {"text": "Начало сеанса (местное время)"}, "autorange": "reversed",
                          "automargin": True, "type": "category"})


def attendance_figure(data: ReportData) -> go.Figure:
    rows = data.attendance
    labels = show_labels(rows)
    hover = "%{y}<br>%{fullData.name}: %{x} из %{customdata[0]} билетов (%{customdata[1]:.0%})<extra></extra>"
    traces = []
    for name, counts in (("Пришли", [r.done for r in rows]), ("Не пришли", [r.total - r.done for r in rows])):
        shares = [n / r.total if r.total else 0.0 for r, n in zip(rows, counts, strict=True)]
        traces.append(go.Bar(name=name, orientation="h", y=labels, x=counts, hovertemplate=hover,
                             customdata=[[r.total, share] for r, share in zip(rows, shares, strict=True)],
                             texttemplate="%{customdata[1]:.0%}", textposition="inside"))
    title = _shows_title("Посещаемость прошедших сеансов (14 дней)", rows, "последние")
    return _layout(go.Figure(traces), title, not rows, barmode="stack", height=bars_height(len(rows)),
                   legend=LEGEND_ON_TOP,
                   xaxis=_count_axis("Проданных билетов", max([r.total for r in rows], default=0)),
                   yaxis={"title": {"text": "Начало сеанса (местное время)"}, "autorange": "reversed",
                          "automargin": True, "type": "category"})


FIGURES = {
    "chart-revenue": revenue_figure,
    "chart-tickets": tickets_figure,
    "chart-refunds": refunds_figure,
    "chart-occupancy": occupancy_figure,
    "chart-attendance": attendance_figure,
}


def figures(data: ReportData) -> dict[str, go.Figure]:
    """The report's figures by the id of the div each is drawn in, in page order."""
    return {div_id: build(data) for div_id, build in FIGURES.items()}


def _script_json(value) -> str:
    """JSON safe inside a <script> element (no `</script>` can end it early)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


def summary_table(rows: list[tuple]) -> str:
    """The 14-day totals per event (report_data.sales_by_event rows) as an HTML table."""
    def num(value, places: int = 0) -> str:
        return f"{float(value or 0):,.{places}f}".replace(",", "\u00a0").replace(".", ",")

    body = "".join(
        f"<tr><td>{html.escape(event or f'Мероприятие {event_id}')}</td><td>{html.escape(city or '—')}</td>"
        f"<td class=num>{num(sold)}</td><td class=num>{num(revenue, 2)}</td><td class=num>{num(refunds)}</td>"
        f"<td class=num>{num(refunded, 2)}</td></tr>"
        for event_id, event, city, sold, revenue, refunds, refunded in rows
    ) or f"<tr><td colspan={len(SUMMARY_HEADERS)}>{NO_DATA}</td></tr>"
    head = "".join(f"<th>{h}</th>" for h in SUMMARY_HEADERS)
    return f"<table id=summary><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def note(data: ReportData) -> str:
    if data.missing:
        text = (f"Витрины ещё не созданы: {', '.join(data.missing)}. Запустите загрузку "
                "(<code>qtickets-pipeline run</code>), графики заполнятся после неё.")
    elif data.empty:
        text = "Данных за последние 14 дней пока нет: графики пусты."
    else:
        return ""
    return f'<p class="note" id="report-note">{text}</p>'


def render(data: ReportData) -> str:
    figs = {div_id: json.loads(pio.to_json(fig, validate=False)) for div_id, fig in figures(data).items()}
    first, last = data.days[0], data.days[-1]
    charts = "\n".join(f'<div class="chart" id="{div_id}"></div>' for div_id in figs)
    return f"""<!doctype html>
<html lang="ru">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>QTickets: отчёт за {DAYS} дней ({first:%d.%m}–{last:%d.%m.%Y})</title>
<style>{STYLE}</style>
<script>{get_plotlyjs()}</script>
<script>Plotly.register({_script_json(LOCALE_RU)});</script>
</head>
<body>
<h1>QTickets: продажи за последние {DAYS} дней</h1>
<p class="period">{first:%d.%m.%Y} – {last:%d.%m.%Y}, дни по часовому поясу {html.escape(data.tz)};
отчёт сформирован {html.escape(data.generated)}</p>
{note(data)}
{charts}
<h2>Итого по мероприятиям за {DAYS} дней</h2>
{summary_table(data.sales)}
<script type="application/json" id="report-figures">{_script_json(figs)}</script>
<script>
const config = {_script_json(CONFIG)};
const figures = JSON.parse(document.getElementById("report-figures").textContent);
for (const [id, fig] of Object.entries(figures)) Plotly.newPlot(id, fig.data, fig.layout, config);
</script>
</body>
</html>
"""
