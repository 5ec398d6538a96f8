"""The report page: the charts of report_figures.py and the summary table, written as one self-contained
offline HTML file that reads well from a desktop down to a phone.

plotly.js travels once, inline: the basic bundle (bar, scatter, pie; assets/plotly-basic.min.js.gz, the npm
package plotly.js-basic-dist-min gzipped: ~0.4 MB instead of the full bundle's 4.8 MB) as base64 that the
browser unpacks with DecompressionStream. The figures travel as one JSON block
(`<script type="application/json" id="report-figures">`: per chart div, a wide and a narrow layout, plus the
plotly template they share); a few lines of script draw, in each chart's box, the layout that fits its width
and switch when a resize crosses NARROW_BELOW_PX. The page makes no network request.
"""

from __future__ import annotations

import base64
import html
import json
from functools import cache
from importlib.resources import files

import plotly.io as pio

from .report_data import ReportData
from .report_figures import DELETED_MARK, FITS, NARROW, NARROW_BELOW_PX, NO_DATA, PERIOD, charts, shown_events

PLOTLY_BUNDLE = "assets/plotly-basic.min.js.gz"
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
TABLE_CARDS_BELOW_PX = 900  # a narrower window shows the summary table's rows as cards (6 columns need ~800)
CONFIG = {"locale": "ru", "displaylogo": False, "responsive": True}
CONFIGS = {fit.name: CONFIG | ({"displayModeBar": False} if fit is NARROW else {}) for fit in FITS}
STYLE = f"""
* {{ box-sizing: border-box; }}
body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; margin: 0 auto;
       max-width: 1200px; padding: 16px 24px 32px; color: #222; line-height: 1.4; }}
h1 {{ font-size: 1.6em; margin: 0.3em 0 0.2em; }} h2 {{ font-size: 1.2em; margin: 0 0 2px; }}
.period {{ color: #555; margin-top: 0; }}
.note {{ background: #fff6d6; border: 1px solid #e8d38b; padding: 8px 12px; border-radius: 4px; }}
.block {{ margin: 28px 0; }} .caption {{ color: #666; font-size: 0.9em; margin: 0 0 4px; }}
.chart {{ width: 100%; min-height: 300px; }}
table {{ border-collapse: collapse; width: 100%; margin: 12px 0 32px; }}
th, td {{ padding: 4px 10px; vertical-align: top; overflow-wrap: break-word; }}
th {{ text-align: left; border-bottom: 2px solid #ccc; }} td {{ border-bottom: 1px solid #eee; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }}
tr.deleted td {{ color: #777; }}
.deleted-tag {{ display: inline-block; margin-left: 6px; padding: 0 6px; border-radius: 3px;
               font-size: 0.85em; background: #fde2e1; color: #9b1c1c; white-space: nowrap; }}
@media (max-width: {NARROW_BELOW_PX}px) {{
  body {{ padding: 8px 12px 24px; }} h1 {{ font-size: 1.3em; }} h2 {{ font-size: 1.05em; }}
}}
@media (max-width: {TABLE_CARDS_BELOW_PX}px) {{
  #summary, #summary tbody, #summary tr, #summary td {{ display: block; }}
  #summary thead {{ display: none; }}
  #summary tr {{ padding: 8px 0; border-bottom: 1px solid #ddd; }}
  #summary td {{ border: 0; padding: 1px 0; display: flex; justify-content: space-between; gap: 12px; }}
  #summary td::before {{ content: attr(data-label); color: #666; text-align: left; }}
  #summary td:first-child {{ display: block; font-weight: 600; }}
  #summary td:first-child::before {{ content: none; }}
}}
"""
SUMMARY_HEADERS = ["Мероприятие", "Город", "Продано билетов", "Выручка, ₽", "Возвратов", "Сумма возвратов, ₽"]
DELETED_TAG = f'<span class="deleted-tag">{DELETED_MARK.strip(" ()")}</span>'
# Unpacks plotly.js, then draws each chart in the layout that fits its box (again when a resize crosses
# the boundary; within one layout plotly's `responsive` follows the box). When done it sets
# <body data-charts="drawn">, or shows #charts-failed (a browser without DecompressionStream).
SCRIPT = """
(async () => {
  const text = (id) => document.getElementById(id).textContent;
  const packed = Uint8Array.from(atob(text("plotly-js")), (c) => c.charCodeAt(0));
  const unpacked = new Blob([packed]).stream().pipeThrough(new DecompressionStream("gzip"));
  const plotly = document.createElement("script");
  plotly.textContent = await new Response(unpacked).text();
  document.head.append(plotly);
  Plotly.register(JSON.parse(text("plotly-locale")));
  const report = JSON.parse(text("report-figures"));
  const draw = (div) => {
    const fit = div.clientWidth < report.narrowBelow ? "narrow" : "wide";
    if (div.dataset.fit === fit) return null;
    div.dataset.fit = fit;
    const fig = report.charts[div.id][fit];
    div.style.height = `${fig.layout.height}px`;  // plotly's responsive resize takes the box's height
    return Plotly.react(div, fig.data, {...fig.layout, template: report.template}, report.configs[fit]);
  };
  const drawAll = () => Promise.all(Array.from(document.querySelectorAll(".chart"), draw));
  await drawAll();
  document.body.dataset.charts = "drawn";
  window.addEventListener("resize", drawAll);
})().catch((error) => {
  document.getElementById("charts-failed").hidden = false;
  console.error(error);
});
"""


@cache
def plotly_bundle() -> bytes:
    """The gzipped plotly.js basic bundle the page carries."""
    return files(__package__).joinpath(PLOTLY_BUNDLE).read_bytes()


def _script_json(value) -> str:
    """JSON safe inside a <script> element (no `</script>` can end it early)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


def _num(value, places: int = 0) -> str:
    return f"{float(value or 0):,.{places}f}".replace(",", "\u00a0").replace(".", ",")


def summary_table(rows: list[tuple], deleted: set[int]) -> str:
    """The 14-day totals per event (report_data.sales_by_event rows) as an HTML table; on a narrow screen
    each row becomes a card whose cells carry their header (data-label)."""
    def cell(header: str, value: str, numeric: bool = True) -> str:
        return f'<td{" class=num" if numeric else ""} data-label="{header}">{value}</td>'

    body = "".join(
        f'<tr{" class=deleted" if event_id in deleted else ""}>'
        + cell(SUMMARY_HEADERS[0], html.escape(event or f"Мероприятие {event_id}")
               + (DELETED_TAG if event_id in deleted else ""), numeric=False)
        + cell(SUMMARY_HEADERS[1], html.escape(city or "—"), numeric=False)
        + cell(SUMMARY_HEADERS[2], _num(sold)) + cell(SUMMARY_HEADERS[3], _num(revenue, 2))
        + cell(SUMMARY_HEADERS[4], _num(refunds)) + cell(SUMMARY_HEADERS[5], _num(refunded, 2)) + "</tr>"
        for event_id, event, city, sold, revenue, refunds, refunded in rows
    ) or f"<tr><td colspan={len(SUMMARY_HEADERS)}>{NO_DATA}</td></tr>"
    head = "".join(f"<th>{h}</th>" for h in SUMMARY_HEADERS)
    return f"<table id=summary><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def notes(data: ReportData) -> str:
    """The notes above the charts: views not created yet or no data, and deleted events on the page."""
    out = []
    if data.missing:
        out.append(("report-note", f"Витрины ещё не созданы: {', '.join(data.missing)}. Запустите загрузку "
                    "(<code>qtickets-pipeline run</code>), графики заполнятся после неё."))
    elif data.empty:
        out.append(("report-note", f"Данных за последние {PERIOD} пока нет: графики пусты."))
    if data.deleted & shown_events(data):
        out.append(("deleted-note", f"Мероприятия, удалённые в QTickets, отмечены «{DELETED_MARK.strip()}», "
                    "их столбцы заштрихованы."))
    return "\n".join(f'<p class="note" id="{note_id}">{text}</p>' for note_id, text in out)


def figures_json(data: ReportData) -> dict:
    """What the page's script reads: per chart div, its figure per Fit name (without the shared
    template), the template, the plotly config per Fit and the boundary between the Fits."""
    out: dict = {"narrowBelow": NARROW_BELOW_PX, "configs": CONFIGS, "charts": {}}
    for chart in charts(data):
        out["charts"][chart.div_id] = {}
        for fit, fig in chart.figures.items():
            spec = json.loads(pio.to_json(fig, validate=False))
            out["template"] = spec["layout"].pop("template")
            out["charts"][chart.div_id][fit] = spec
    return out


def render(data: ReportData) -> str:
    first, last = data.days[0], data.days[-1]
    blocks = "\n".join(
        f'<section class="block"><h2>{html.escape(c.title)}</h2>'
        + (f'<p class="caption">{html.escape(c.caption)}</p>' if c.caption else "")
        + f'<div class="chart" id="{c.div_id}"></div></section>'
        for c in charts(data)
    )
    return f"""<!doctype html>
<html lang="ru">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>QTickets: отчёт за {PERIOD} ({first:%d.%m}–{last:%d.%m.%Y})</title>
<style>{STYLE}</style>
</head>
<body>
<h1>QTickets: продажи за последние {PERIOD}</h1>
<p class="period">{first:%d.%m.%Y} – {last:%d.%m.%Y}, дни по часовому поясу {html.escape(data.tz)};
отчёт сформирован {html.escape(data.generated)}</p>
{notes(data)}
<p class="note" id="charts-failed" hidden>Браузер не смог показать графики (нужен Chrome или Edge 80+,
Firefox 113+, Safari 16.4+). Итоги по мероприятиям — в таблице ниже.</p>
{blocks}
<h2>Итого по мероприятиям за {PERIOD}</h2>
{summary_table(data.sales, data.deleted)}
<script type="application/gzip+base64" id="plotly-js">{base64.b64encode(plotly_bundle()).decode()}</script>
<script type="application/json" id="plotly-locale">{_script_json(LOCALE_RU)}</script>
<script type="application/json" id="report-figures">{_script_json(figures_json(data))}</script>
<script>{SCRIPT}</script>
</body>
</html>
"""
