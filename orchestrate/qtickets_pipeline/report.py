"""Text tables for the terminal and the 14-day sales report (table + a self-contained HTML/SVG chart)."""

from __future__ import annotations

import html
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from .settings import Settings
from .warehouse import query_rows

PALETTE = [
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
]


def format_table(columns: list[str], rows: list[tuple], max_width: int = 40) -> str:
    def cell(value) -> str:
        text = "" if value is None else str(value)
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    body = [[cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in body]) for i, c in enumerate(columns)]
    numeric = [
        all(isinstance(r[i], int | float | Decimal) or r[i] is None for r in rows) and bool(rows)
        for i in range(len(columns))
    ]

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if numeric[i] else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        )

    out = [line(columns), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in body)
    return "\n".join(out)


def sales_by_event(client, settings: Settings) -> tuple[list[str], list[tuple]]:
    return query_rows(
        client,
        f"""
        SELECT event_id, any(event_name) AS event, any(city) AS city,
               sum(tickets_sold) AS tickets_sold, sum(revenue) AS revenue,
               sum(refunds) AS refunds, sum(refunded_amount) AS refunded_amount
        FROM {settings.database}.v_sales_14d
        GROUP BY event_id
        ORDER BY revenue DESC, event_id""",
    )


def daily_by_event(client, settings: Settings) -> list[tuple]:
    _, rows = query_rows(
        client,
        f"""
        SELECT day, event_id, any(event_name), sum(revenue), sum(tickets_sold)
        FROM {settings.database}.v_sales_14d GROUP BY day, event_id ORDER BY day, event_id""",
    )
    return rows


def render_html(daily: list[tuple], today: date, tz: str) -> str:
    """Stacked daily revenue bars per event (top 9 events, the rest as 'other') as inline SVG."""
    days = [today - timedelta(days=13 - i) for i in range(14)]
    totals: dict[int, Decimal] = defaultdict(Decimal)
    names: dict[int, str] = {}
    for _day, event_id, name, revenue, _sold in daily:
        totals[event_id] += Decimal(revenue or 0)
        names[event_id] = name or f"event {event_id}"
    top = [e for e, _ in sorted(totals.items(), key=lambda kv: -kv[1])[:9]]
    series = {e: names[e] for e in top}
    if len(totals) > len(top):
        series[-1] = "other events"
    values: dict[tuple[date, int], Decimal] = defaultdict(Decimal)
    for day, event_id, _name, revenue, _sold in daily:
        values[(day, event_id if event_id in top else -1)] += Decimal(revenue or 0)
    peak = max([sum(values[(d, e)] for e in series) for d in days] + [Decimal(1)])
    width, height, left, bottom, bar = 760, 320, 70, 40, 40
    scale = (height - bottom - 20) / float(peak)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        'font-size="11">',
        f'<text x="{left}" y="12">revenue per day ({html.escape(tz)}), max {peak:,.0f}</text>',
    ]
    for i, day in enumerate(days):
        x = left + i * (bar + 8)
        y = height - bottom
        for k, event_id in enumerate(series):
            h = float(values[(day, event_id)]) * scale
            if h > 0:
                y -= h
                parts.append(
                    f'<rect x="{x}" y="{y:.1f}" width="{bar}" height="{h:.1f}" '
                    f'fill="{PALETTE[k % len(PALETTE)]}"><title>{html.escape(series[event_id])}: '
                    f"{values[(day, event_id)]:,.2f}</title></rect>"
                )
        parts.append(
            f'<text x="{x + bar / 2}" y="{height - bottom + 14}" text-anchor="middle">{day:%d.%m}</text>'
        )
    parts.append("</svg>")
    legend = "".join(
        f'<li><span style="background:{PALETTE[k % len(PALETTE)]}">&nbsp;&nbsp;&nbsp;</span> '
        f"{html.escape(name)}</li>"
        for k, name in enumerate(series.values())
    )
    return (
        "<!doctype html><meta charset='utf-8'><title>QTickets sales, last 14 days</title>"
        "<h1>QTickets sales, last 14 days</h1>" + "".join(parts) + f"<ul>{legend}</ul>"
    )


def write_report(client, settings: Settings, out_path: Path) -> tuple[str, Path]:
    columns, rows = sales_by_event(client, settings)
    today = query_rows(client, f"SELECT toDate(now(), '{settings.report_tz}')")[1][0][0]
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(
        render_html(daily_by_event(client, settings), today, settings.report_tz), encoding="utf-8"
    )
    first_day = today - timedelta(days=13)
    title = f"Sales of the last 14 days per event ({settings.report_tz}, {first_day} … {today})"
    return title + "\n" + format_table(columns, rows), out_path
