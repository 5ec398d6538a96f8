"""Text tables for the terminal and the report: the 14-day table per event plus one self-contained HTML
page of plotly charts (report_data.py reads the views, report_html.py draws the page)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

from target_clickhouse import DEFAULT_DATABASE, DEFAULT_EMBEDDED_DIR, chdb_path

from . import logs, report_data
from .settings import Settings

REPORT_DIR = Path("data") / "report"  # under the project root
REPORT_STEM = "sales_14d"
DELETED = " [deleted]"  # after the name of an event deleted in QTickets, in the terminal table


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


def format_rows(columns: list[str], rows: list[tuple], output: str) -> str:
    """A query's result as `table` (format_table, whole values), `csv` or `json` (one object per line)."""
    if output == "table":
        return format_table(columns, rows, max_width=10_000) + "\n"
    if output == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(["" if v is None else v for v in row] for row in rows)
        return buffer.getvalue()
    return "".join(json.dumps(dict(zip(columns, row, strict=True)), ensure_ascii=False, default=str) + "\n"
                   for row in rows)


def write_report(client, settings: Settings, out_path: Path) -> tuple[str, Path]:
    """Writes the HTML report to `out_path`; returns the 14-day table per event (for the terminal)."""
    data = report_data.load(client, settings)
    draw(data, out_path)
    first_day, today = data.days[0], data.today
    title = f"Sales of the last 14 days per event ({settings.report_tz}, {first_day} … {today})"
    if data.missing:
        title += f"\nnot created yet (run the load first): {', '.join(data.missing)}"
    rows = [(event_id, (event or "") + (DELETED if event_id in data.deleted else ""), *rest)
            for event_id, event, *rest in data.sales]
    return title + "\n" + format_table(list(report_data.SALES_COLUMNS), rows), out_path


def is_project_warehouse(settings: Settings) -> bool:
    """The warehouse is the project's own default: embedded in <project>/data/clickhouse, database zakaz."""
    own = str((settings.project_root / DEFAULT_EMBEDDED_DIR).resolve())
    return chdb_path(settings.clickhouse_url) == own and settings.database == DEFAULT_DATABASE


def warehouse_slug(settings: Settings) -> str:
    """A file-name part naming the warehouse: host and port (or the embedded directory's name), database and
    a short hash of the whole address, so two warehouses never share it (the user and password play no part:
    the same warehouse read by another user is the same warehouse)."""
    directory = chdb_path(settings.clickhouse_url)
    if directory is not None:
        place, address = f"chdb-{Path(directory).name}", f"chdb://{directory}"
    else:
        parts = urlsplit(settings.clickhouse_url)
        host = parts.hostname or "clickhouse"
        place = f"{host}-{parts.port}" if parts.port else host
        address = f"{parts.scheme}://{host}:{parts.port}{parts.path}"
    digest = hashlib.sha256(f"{address}#{settings.database}".encode()).hexdigest()[:8]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{place}.{settings.database}.{digest}")


def default_report_path(settings: Settings) -> Path:
    """Where every successful run (and `qtickets-pipeline report` without --html) writes the report:
    data/report/sales_14d.html for the project's own warehouse (is_project_warehouse), and
    data/report/sales_14d.<warehouse_slug>.html for any other, so that a report of another warehouse never
    replaces the project's."""
    folder = settings.project_root / REPORT_DIR
    if is_project_warehouse(settings):
        return folder / f"{REPORT_STEM}.html"
    return folder / f"{REPORT_STEM}.{warehouse_slug(settings)}.html"


DIGEST_MARK = "<!-- report data "  # the first line of the page: the digest of the data it shows


def digest(data: report_data.ReportData) -> str:
    return hashlib.sha256(repr(data).encode()).hexdigest()[:32]


def draw(data: report_data.ReportData, out_path: Path) -> None:
    # Imported here: plotting libraries only where a page is drawn.
    from . import report_html

    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    tmp.write_text(f"{DIGEST_MARK}{digest(data)} -->\n" + report_html.render(data), encoding="utf-8")
    tmp.replace(out_path)  # a browser showing the report never sees a half-written page


def drawn_digest(path: Path) -> str | None:
    try:
        with open(path, encoding="utf-8") as page:
            first = page.readline()
    except OSError:
        return None
    return first[len(DIGEST_MARK):].split(" ", 1)[0] if first.startswith(DIGEST_MARK) else None


def refresh(client, settings: Settings) -> Path | None:
    """After a load: the report drawn again when the data it shows changed (a few queries decide; the
    page itself costs ~0.5 s). A report that cannot be drawn is logged, never fails the load."""
    path = default_report_path(settings)
    try:
        data = report_data.load(client, settings)
        if drawn_digest(path) != digest(data):
            draw(data, path)
        return path
    except Exception as exc:
        logs.get("report").warning("report not refreshed: %s", str(exc).splitlines()[0] if str(exc) else exc)
        return None
