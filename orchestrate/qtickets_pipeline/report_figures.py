"""The report's charts: plotly figures of `ReportData`, each laid out twice, for a wide chart box (a desktop)
and for a narrow one (a phone); the page draws the one that fits its box (report_html.py).

Labels are in Russian, money in roubles. An event deleted in QTickets is marked wherever it is named
(DELETED_MARK after its name) and its bars are hatched. Chart titles are the page's HTML headings, not
plotly titles, so they wrap on a narrow screen.
"""

from __future__ import annotations

import html
import textwrap
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from .report_data import DAYS, MAX_SHOWS, ReportData, ShowRow

TOP_EVENTS = 9  # events drawn by name in the revenue chart; the rest are summed as "other events"
OTHER = "Другие мероприятия"
NO_DATA = "Нет данных за период"
PERIOD = f"{DAYS}\u00a0дней"  # "14 дней", never broken between the number and the word
DELETED_MARK = " (удалено)"  # after the name of an event deleted in QTickets
DELETED_PATTERN = {"shape": "/", "solidity": 0.5}  # the hatching of a deleted event's bars
RUB = "\u00a0₽"  # a no-break space before the rouble sign, as Russian typography writes it
DAY_MS = 86_400_000
FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif'
CHAR_PX = 7.5  # the width of an average character of the 12 px chart font, for estimating legend rows
LINE_PX = 17  # the height of a line of 12 px chart text
AXIS_PX = 50  # below the plot: the x tick labels and the axis title
TEMPLATE = "plotly_white"
COLORS = pio.templates[TEMPLATE].layout.colorway


@dataclass(frozen=True)
class Fit:
    """How a chart is laid out for one class of box widths."""

    name: str
    min_plot_px: int  # the narrowest plot area this layout must fit (legend rows are planned for it)
    label_chars: int  # characters per line of an event or show label on an axis
    label_lines: int  # lines per such label; a longer one ends with "…" (the hover shows it whole)
    time_own_line: bool  # a show label puts its start time on a line of its own
    legend_chars: int  # characters per line of an event's name in the revenue legend
    legend_columns: int  # events per row of the revenue legend
    row_px: int  # the least height of a horizontal bar's row
    plot_px: int  # the plot height of a chart of days
    day_step: int  # days between the labels of a day axis
    axis_titles: bool
    margin: dict[str, int] = field(default_factory=dict)


WIDE = Fit("wide", min_plot_px=520, label_chars=42, label_lines=2, time_own_line=False, legend_chars=34,
           legend_columns=2, row_px=28, plot_px=320, day_step=1, axis_titles=True,
           margin={"l": 16, "r": 30, "t": 10, "b": 10})  # l, r: room for the first, last x tick label
NARROW = Fit("narrow", min_plot_px=240, label_chars=18, label_lines=2, time_own_line=True, legend_chars=26,
             legend_columns=1, row_px=36, plot_px=260, day_step=3, axis_titles=False,
             margin={"l": 16, "r": 24, "t": 10, "b": 10})
FITS = (WIDE, NARROW)
NARROW_BELOW_PX = 720  # a chart box narrower than this draws the NARROW layout (14 day labels need it)


@dataclass
class Chart:
    """One chart of the page: its div id, HTML heading and caption, and its figure per Fit name."""

    div_id: str
    title: str
    caption: str
    figures: dict[str, go.Figure]


def plain(text: str) -> str:
    """Text from the data as plotly shows it literally (plotly reads <b>, <br>, <a …> and entities in
    names, labels and hover text)."""
    return html.escape(text, quote=False)


def wrap(label: str, chars: int, lines: int) -> str:
    """A `plain` label broken at spaces into at most `lines` lines of at most `chars` characters (an
    entity counts as one), joined with <br>; a longer label ends with "…", keeping its DELETED_MARK."""
    text = html.unescape(label)
    parts = textwrap.wrap(text, chars, break_on_hyphens=False) or [""]
    if len(parts) > lines:
        mark = DELETED_MARK.strip() if text.endswith(DELETED_MARK) else ""
        body = text.removesuffix(DELETED_MARK) if mark else text
        parts = textwrap.wrap(body, chars, break_on_hyphens=False)[:lines]
        room = chars - 1 - (len(mark) + 1 if mark else 0)
        last = parts[-1]
        if len(last) > room:  # cut after a whole word where there is one
            last = last[:room + 1].rsplit(" ", 1)[0] if " " in last[:room + 1] else last[:room]
        parts[-1] = last.rstrip() + "…" + (f" {mark}" if mark else "")
    return "<br>".join(plain(p) for p in parts)


def _distinct(labels: dict, add: Callable[[Any, str], str]) -> dict:
    """`labels` with `add(key, label)` applied to every label that more than one key shares."""
    counts = Counter(labels.values())
    return {key: add(key, label) if counts[label] > 1 else label for key, label in labels.items()}


def event_labels(events: Iterable[tuple[int, str | None, str | None]], deleted: set[int]) -> dict[int, str]:
    """A distinct `plain` label per event id (from (event_id, name, city)): the name, with the city and then
    the id added where two events would otherwise look the same, and DELETED_MARK for a deleted event."""
    info = {event_id: (plain(name or f"Мероприятие {event_id}"), plain(city or "—"))
            for event_id, name, city in events}
    labels = _distinct({e: name for e, (name, _city) in info.items()},
                       lambda e, label: f"{label} ({info[e][1]})")
    labels = _distinct(labels, lambda e, label: f"{label} #{e}")
    return {e: label + (DELETED_MARK if e in deleted else "") for e, label in labels.items()}


def lines_of(label: str) -> int:
    return label.count("<br>") + 1


def money(value: Decimal | float | int) -> float:
    return round(float(value), 2)


def hatch(deleted: list[bool]) -> dict:
    """Per-bar hatching: a deleted event's bars are hatched, the others plain."""
    return {"shape": [DELETED_PATTERN["shape"] if d else "" for d in deleted],
            "solidity": DELETED_PATTERN["solidity"]}


def series_bars(name: str, color: str, deleted: list[bool], columns: dict[str, list],
                **trace) -> list[go.Bar]:
    """The bars of one legend entry as up to two traces of one legend group: the live events' and the
    deleted events' (hatched, without an entry of their own), so that the legend shows the plain colour."""
    bars: list[go.Bar] = []
    for dead in (False, True):
        keep = [i for i, d in enumerate(deleted) if d is dead]
        if keep:
            bars.append(go.Bar(name=name, legendgroup=name, showlegend=not bars, marker_color=color,
                               marker_pattern=DELETED_PATTERN if dead else None,
                               **{k: [v[i] for i in keep] for k, v in columns.items()}, **trace))
    return bars


def legend_px(entries: list[str], fit: Fit, columns: int | None = None) -> int:
    """The height a horizontal legend of `entries` (plotly labels) takes above the plot: `columns` entries
    per row, or as many as fit in the fit's narrowest plot area."""
    if not entries:
        return 0
    if columns:
        rows = [entries[i:i + columns] for i in range(0, len(entries), columns)]
    else:
        rows, width = [[]], 0.0
        for entry in entries:
            px = 40 + CHAR_PX * max(len(html.unescape(line)) for line in entry.split("<br>"))
            if rows[-1] and width + px > fit.min_plot_px:
                rows.append([])
                width = 0.0
            rows[-1].append(entry)
            width += px
    return 10 + sum(max(lines_of(e) for e in row) * LINE_PX + 6 for row in rows)


def _legend(fit: Fit, columns: int | None = None) -> dict:
    """A legend above the plot, never scrolling (the figure's height leaves it room: legend_px)."""
    legend: dict[str, Any] = {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.0, "yanchor": "bottom",
                              "traceorder": "normal", "maxheight": 10_000, "valign": "top"}
    if columns:
        legend |= {"entrywidthmode": "fraction", "entrywidth": 1 / columns - 0.001}
    return legend


def _layout(fig: go.Figure, fit: Fit, empty: bool, height: int, **layout) -> go.Figure:
    fig.update_layout({
        "template": TEMPLATE, "separators": ",\u00a0", "font": {"family": FONT, "size": 12},
        "margin": fit.margin, "height": height, "hoverlabel": {"namelength": -1},
        "uniformtext": {"minsize": 10, "mode": "hide"}, "legend": _legend(fit),
    } | layout)
    if fit is NARROW:  # on a phone a drag scrolls the page rather than zooming the chart
        fig.update_xaxes(fixedrange=True)
        fig.update_yaxes(fixedrange=True)
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    if empty:
        fig.add_annotation(text=NO_DATA, xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False,
                           font={"size": 16, "color": "#888"})
    return fig


def _title(text: str, fit: Fit) -> dict:
    return {"title": {"text": text}} if fit.axis_titles else {}


def _day_axis(data: ReportData, fit: Fit) -> dict:
    first, last = data.days[0], data.days[-1]
    return {"type": "date", "tickformat": "%d.%m", "dtick": DAY_MS * fit.day_step, "tick0": f"{last}",
            "range": [f"{first - timedelta(days=1)} 12:00", f"{last} 12:00"]}


def _money_axis(title: str, peak: float, fit: Fit, **axis) -> dict:
    """A rouble axis from 0 (0 … 1 000 ₽ while there is nothing to show)."""
    return {**_title(title, fit), "tickformat": ",.0f", "ticksuffix": RUB, "rangemode": "tozero",
            "tickmode": "auto", **({"range": [0, 1000]} if peak <= 0 else {}), **axis}


def _count_axis(title: str, peak: int, fit: Fit, **axis) -> dict:
    """A whole-number axis from 0 (a tick per unit for small counts, never 0.5 tickets)."""
    return {**_title(title, fit), "tickformat": ",d", "rangemode": "tozero",
            **({"dtick": 1} if peak <= 10 else {}), **({"range": [0, 5]} if peak <= 0 else {}), **axis}


def _bars_height(labels: list[str], fit: Fit, legend: int) -> int:
    """The height of a chart of horizontal bars: a row per label (taller for labels of more lines)."""
    row = max([fit.row_px, *(lines_of(label) * 15 + 12 for label in labels)])
    return fit.margin["t"] + legend + max(240, row * len(labels)) + AXIS_PX + fit.margin["b"]


def _category_axis(full: list[str], shown: list[str]) -> dict:
    """A category axis of `full` labels (distinct) that shows `shown`, top to bottom. Plotly's %{y} would
    be the shown label: a hover names its bar by `hovertext` (the full label)."""
    return {"type": "category", "categoryorder": "array", "categoryarray": full, "tickmode": "array",
            "tickvals": full, "ticktext": shown, "autorange": "reversed", "ticklabelstandoff": 6}


def revenue_figure(data: ReportData, fit: Fit) -> go.Figure:
    labels = event_labels(((r.event_id, r.event, r.city) for r in data.revenue), data.deleted)
    totals: dict[int, Decimal] = defaultdict(Decimal)
    for row in data.revenue:
        totals[row.event_id] += row.revenue
    top = sorted(totals, key=lambda e: (-totals[e], e))[:TOP_EVENTS]
    series = {e: labels[e] for e in top} | ({-1: OTHER} if len(totals) > len(top) else {})
    values: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
    for row in data.revenue:
        values[(row.day.isoformat(), row.event_id if row.event_id in top else -1)] += row.revenue
    days = [d.isoformat() for d in data.days]
    names = {e: wrap(label, fit.legend_chars, 3) for e, label in series.items()}
    fig = go.Figure([
        go.Bar(name=names[e], meta=label, x=days, y=[money(values[(d, e)]) for d in days],
               marker_pattern=DELETED_PATTERN if e in data.deleted else None,
               hovertemplate="%{x|%d.%m.%Y}<br>%{meta}: %{y:,.2f}" + RUB + "<extra></extra>")
        for e, label in series.items()
    ])
    peak = max([sum(values[(d, e)] for e in series) for d in days], default=Decimal(0))
    legend = legend_px(list(names.values()), fit, fit.legend_columns)
    height = fit.margin["t"] + legend + fit.plot_px + AXIS_PX + fit.margin["b"]
    return _layout(fig, fit, not data.revenue, height, barmode="stack", xaxis=_day_axis(data, fit),
                   yaxis=_money_axis("Выручка, ₽", float(peak), fit),
                   legend=_legend(fit, fit.legend_columns))


def tickets_figure(data: ReportData, fit: Fit) -> go.Figure:
    labels = event_labels(((r.event_id, r.event, r.city) for r in data.tickets), data.deleted)
    totals: dict[int, int] = defaultdict(int)
    for row in data.tickets:
        totals[row.event_id] += row.tickets_sold
    order = sorted(totals, key=lambda e: (-totals[e], e))
    by_city: dict[str, dict[int, int]] = defaultdict(dict)
    hover = "%{hovertext}<br>%{fullData.name} — продано билетов: %{x}<extra></extra>"
    for row in data.tickets:
        by_city[plain(row.city or "Город не указан")][row.event_id] = row.tickets_sold
    fig = go.Figure([
        bar
        for i, (city, events) in enumerate(sorted(by_city.items()))
        for bar in series_bars(city, COLORS[i % len(COLORS)], [e in data.deleted for e in events],
                               {"y": [labels[e] for e in events], "x": list(events.values()),
                                "hovertext": [labels[e] for e in events]},
                               orientation="h", hovertemplate=hover)
    ])
    full = [labels[e] for e in order]
    shown = [wrap(label, fit.label_chars, fit.label_lines) for label in full]
    legend = legend_px(list(by_city), fit)
    return _layout(fig, fit, not data.tickets, _bars_height(shown, fit, legend), barmode="stack",
                   xaxis=_count_axis("Продано билетов", max(totals.values(), default=0), fit),
                   yaxis=_category_axis(full, shown))


def refunds_figure(data: ReportData, fit: Fit) -> go.Figure:
    by_day = {r.day.isoformat(): r for r in data.refunds}
    days = [d.isoformat() for d in data.days]
    counts = [by_day[d].refunds if d in by_day else 0 for d in days]
    amounts = [money(by_day[d].refunded_amount) if d in by_day else 0.0 for d in days]
    fig = go.Figure([
        go.Bar(name="Возвратов, шт.", x=days, y=counts,
               hovertemplate="%{x|%d.%m.%Y} — возвратов: %{y}<extra></extra>"),
        go.Scatter(name="Сумма возвратов, ₽", x=days, y=amounts, yaxis="y2", mode="lines+markers",
                   hovertemplate="%{x|%d.%m.%Y} — сумма возвратов: %{y:,.2f}" + RUB + "<extra></extra>"),
    ])
    legend = legend_px([t.name for t in fig.data], fit)
    height = fit.margin["t"] + legend + fit.plot_px + AXIS_PX + fit.margin["b"]
    return _layout(fig, fit, not data.refunds, height, xaxis=_day_axis(data, fit),
                   yaxis=_count_axis("Возвратов, шт.", max(counts), fit),
                   yaxis2=_money_axis("Сумма возвратов, ₽", max(amounts), fit, overlaying="y", side="right",
                                      showgrid=False, automargin=True))


def show_labels(rows: list[ShowRow], deleted: set[int]) -> list[str]:
    """A distinct label per show: its start (local time) and its event."""
    events = event_labels(((r.event_id, r.event, r.city) for r in rows), deleted)
    labels = _distinct({i: f"{r.starts} · {events[r.event_id]}" for i, r in enumerate(rows)},
                       lambda i, label: f"{label} (#{rows[i].show_id})")
    return list(labels.values())


def shown_show_label(label: str, fit: Fit) -> str:
    """A show_labels label as the axis shows it in `fit`."""
    starts, event = label.split(" · ", 1)
    if fit.time_own_line:
        return f"{starts}<br>{wrap(event, fit.label_chars, fit.label_lines)}"
    return wrap(label, fit.label_chars, fit.label_lines)


def _shows_title(title: str, rows: list[ShowRow], which: str) -> str:
    """The title, saying so when the chart holds only the first MAX_SHOWS shows."""
    return title + (f" ({which} {MAX_SHOWS})" if len(rows) >= MAX_SHOWS else "")


def occupancy_figure(data: ReportData, fit: Fit) -> go.Figure:
    rows = data.occupancy
    full = show_labels(rows, data.deleted)
    shown = [shown_show_label(label, fit) for label in full]
    share = [r.done / r.total if r.total else 0.0 for r in rows]
    text = [f"{r.done} / {r.total}" for r in rows]
    # The text inside a bar past the middle, else just past its end: never past the plot's edge (while the
    # plot is more than twice as wide as the text), so no right margin is kept for it.
    inside = [s >= 0.5 * max([1.0, *share]) for s in share]
    fig = go.Figure(go.Bar(
        name="Заполняемость", orientation="h", y=full, x=share, text=text, textangle=0, cliponaxis=False,
        textposition=["inside" if i else "outside" for i in inside],
        marker_pattern=hatch([r.event_id in data.deleted for r in rows]),
        customdata=[[r.done, r.total] for r in rows],
        hovertext=full,
        hovertemplate="%{hovertext}<br>продано мест: %{customdata[0]} из %{customdata[1]} (%{x:.0%})"
                      "<extra></extra>",
    ))
    return _layout(fig, fit, not rows, _bars_height(shown, fit, 0), showlegend=False,
                   xaxis={**_title("Продано мест от вместимости", fit), "tickformat": ".0%",
                          "range": [0, max([1.0, *share])]},
                   yaxis=_category_axis(full, shown))


def attendance_figure(data: ReportData, fit: Fit) -> go.Figure:
    rows = data.attendance
    full = show_labels(rows, data.deleted)
    shown = [shown_show_label(label, fit) for label in full]
    hover = "%{hovertext}<br>%{fullData.name}: %{x} из %{customdata[0]} (%{customdata[1]:.0%})<extra></extra>"
    deleted = [r.event_id in data.deleted for r in rows]
    traces = []
    series = (("Пришли", [r.done for r in rows]), ("Не пришли", [r.total - r.done for r in rows]))
    for color, (name, counts) in zip(COLORS, series, strict=False):
        shares = [n / r.total if r.total else 0.0 for r, n in zip(rows, counts, strict=True)]
        customdata = [[r.total, share] for r, share in zip(rows, shares, strict=True)]
        columns: dict[str, list] = {"y": full, "x": counts, "customdata": customdata, "hovertext": full}
        traces += series_bars(name, color, deleted, columns,
                              orientation="h", hovertemplate=hover, texttemplate="%{customdata[1]:.0%}",
                              textposition="inside", textangle=0, insidetextanchor="middle")
    legend = legend_px([name for name, _ in series], fit)
    return _layout(go.Figure(traces), fit, not rows, _bars_height(shown, fit, legend), barmode="stack",
                   xaxis=_count_axis("Продано билетов", max([r.total for r in rows], default=0), fit),
                   yaxis=_category_axis(full, shown))


def charts(data: ReportData) -> list[Chart]:
    """The page's charts in page order, each with its figure per Fit."""
    local = "Время начала — местное время города мероприятия."
    specs = [
        ("chart-revenue", "Выручка по дням, ₽", "Выручка проданных билетов по дню оплаты.", revenue_figure),
        ("chart-tickets", f"Продано билетов по мероприятиям и городам ({PERIOD})", "", tickets_figure),
        ("chart-refunds", "Возвраты по дням (по дате возврата)", "", refunds_figure),
        ("chart-occupancy", _shows_title("Заполняемость предстоящих сеансов", data.occupancy, "ближайшие"),
         f"Сеансы, которые ещё не начались; подпись — продано мест из вместимости. {local}",
         occupancy_figure),
        ("chart-attendance",
         _shows_title(f"Посещаемость прошедших сеансов ({PERIOD})", data.attendance, "последние"),
         f"Сеансы, закончившиеся за {PERIOD}: пришли — билеты, отсканированные на входе. {local}",
         attendance_figure),
    ]
    return [Chart(div_id, title, caption, {fit.name: build(data, fit) for fit in FITS})
            for div_id, title, caption, build in specs]


def shown_events(data: ReportData) -> set[int]:
    """The ids of the events the page names (in a chart or in the summary table)."""
    rows: list[Iterable[int]] = [(r.event_id for r in data.revenue), (r.event_id for r in data.tickets),
                                 (r.event_id for r in data.occupancy), (r.event_id for r in data.attendance),
                                 (row[0] for row in data.sales)]
    return {e for ids in rows for e in ids}
