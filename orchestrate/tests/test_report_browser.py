"""The report page in headless Chromium (Debian's, tests/support/chromium.py) at a desktop's and a phone's
width, and resized: screenshots, and the DOM behind them checked for what a person would see go wrong
(tests/support/page_layout.py): a horizontal scrollbar, clipped or overlapping text, scrolling legends,
squeezed plots; deleted events marked; no script error, no network request."""

from __future__ import annotations

import subprocess
from pathlib import Path

import chromium as chromium_support
import pytest
from chromium import ChromiumUnavailable, browser_context, ensure_chromium
from page_layout import READ_LAYOUT, layout_problems
from qtickets_pipeline import report, report_figures, transforms
from qtickets_pipeline.report_figures import DELETED_MARK, NARROW, WIDE
from report_seed import CHARTS, DELETED_EVENT, EVENTS, TITLES, TODAY, UPCOMING, marked, seeded


@pytest.fixture
def warehouse(settings, staged, insert, version):
    return seeded(staged, settings, insert, version)


FITS = {fit.name: fit for fit in (WIDE, NARROW)}
WIDTHS = {1400: "wide", 420: "narrow"}  # window width: the layout its charts draw (screenshots of both)
RESIZED = {800: "wide", 360: "narrow", 1000: "wide"}  # nearly the narrowest wide layout, a small phone, back


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


def open_report(context, path: Path, width: int, errors: list[str]):
    """A page of `context` `width` px wide showing the report once its charts are drawn."""
    page = context.new_page()
    page.set_viewport_size({"width": width, "height": 900})
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda m: m.type == "error" and errors.append(f"console: {m.text}"))
    page.goto(path.as_uri(), wait_until="load")
    wait_drawn(page, WIDTHS[width])
    return page


def wait_drawn(page, fit: str) -> None:
    """Every chart drawn in the layout `fit`, at its box's width (plotly follows a resize by itself)."""
    page.wait_for_function(
        f"""document.body.dataset.charts === "drawn" && Array.from(document.querySelectorAll(".chart"))
            .every((d) => d.dataset.fit === "{fit}" && d.querySelector(".main-svg")
                   && Number(d.querySelector(".main-svg").getAttribute("width")) === d.clientWidth)""",
        timeout=60_000)


def refuse_network(context) -> list[str]:
    """Requests for anything but file:// URLs, refused and listed."""
    requests: list[str] = []

    def route(r):
        if r.request.url.startswith("file://"):
            return r.continue_()
        requests.append(r.request.url)
        return r.abort()

    context.route("**/*", route)
    return requests


def flat(text: str) -> str:
    """Text as the DOM joins a label's lines (no separator): compared without white space."""
    return "".join(text.split())


@pytest.mark.e2e
def test_report_reads_well_on_a_desktop_and_a_phone(chromium, settings, warehouse, tmp_path):
    """Screenshots at 1400 and 420 px (tmp_path/report-<width>.png) and the DOM behind them: no horizontal
    scrollbar, nothing clipped, overlapping or squeezed, every legend entry whole, deleted events marked."""
    _, path = report.write_report(warehouse, settings, tmp_path / "report.html")
    errors: list[str] = []
    with browser_context(tmp_path / "profile") as context:
        requests = refuse_network(context)
        for width, fit in WIDTHS.items():
            page = open_report(context, path, width, errors)
            page.screenshot(path=str(tmp_path / f"report-{width}.png"), full_page=True)
            layout = page.evaluate(READ_LAYOUT)
            assert layout_problems(layout) == [], width
            check_charts(layout, page, fit)
            page.close()
        page = open_report(context, path, 1400, errors)  # a window resized switches layouts when it must
        for width, fit in RESIZED.items():
            page.set_viewport_size({"width": width, "height": 900})
            wait_drawn(page, fit)
            assert layout_problems(page.evaluate(READ_LAYOUT)) == [], width
    assert errors == [] and requests == []


def check_charts(layout: dict, page, fit: str) -> None:
    charts = {c["id"]: c for c in layout["charts"]}
    assert list(charts) == CHARTS
    headings = page.eval_on_selector_all(".block h2", "hs => hs.map(h => h.textContent)")
    assert all(h.startswith(t) for h, t in zip(headings, TITLES, strict=True)), headings
    revenue, tickets, refunds, occupancy, attendance = charts.values()
    # Every event in the revenue legend by its whole name (the 9 biggest and "other events").
    legend = [flat(item["text"]) for item in revenue["legendItems"]]
    assert len(legend) == 10 and flat(report_figures.OTHER) in legend
    assert {flat(marked(e)) for e in EVENTS} >= set(legend) - {flat(report_figures.OTHER)}
    assert flat(marked(DELETED_EVENT)) in legend
    assert all(t["text"].endswith("₽") for t in revenue["yticks"])
    day_ticks = [t["text"] for t in revenue["xticks"]]
    assert TODAY.strftime("%d.%m") in day_ticks and len(day_ticks) == len(range(0, 14, FITS[fit].day_step))
    # A bar with a label for each event / show, the deleted event's marked.
    assert len(tickets["yticks"]) == len(EVENTS) and len(occupancy["yticks"]) == len(UPCOMING)
    for chart in (tickets, occupancy, attendance):
        labels = [t["text"] for t in chart["yticks"]]
        ours = [label for label in labels if "Стендап" in label]
        assert ours and all(label.endswith(DELETED_MARK.strip()) for label in ours), (chart["id"], labels)
        assert not any(DELETED_MARK.strip() in label for label in labels if "Стендап" not in label)
    assert len(attendance["yticks"]) == 3 and {i["text"] for i in attendance["legendItems"]} == {
        "Пришли", "Не пришли"}
    assert set(flat(i["text"]) for i in tickets["legendItems"]) == {flat(c) for _, c, _ in EVENTS.values()}
    assert all(t["text"].endswith("₽") for t in refunds["y2ticks"])
    assert page.is_visible("#deleted-note") and page.is_visible("tr.deleted .deleted-tag")


@pytest.mark.e2e
def test_empty_report_renders_in_headless_chromium(chromium, settings, staged, tmp_path):
    transforms.bring_up_to_date(staged, settings)
    _, path = report.write_report(staged, settings, tmp_path / "empty.html")
    errors: list[str] = []
    with browser_context(tmp_path / "profile") as context:
        requests = refuse_network(context)
        for width in WIDTHS:
            page = open_report(context, path, width, errors)
            layout = page.evaluate(READ_LAYOUT)
            assert layout_problems(layout) == [], width
            for chart in layout["charts"]:
                assert [a["text"] for a in chart["annotations"]] == ["Нет данных за период"], chart["id"]
                assert chart["xticks"], chart["id"]
                days = chart["id"] in ("chart-revenue", "chart-refunds")  # bars of events / shows: no rows
                assert bool(chart["yticks"]) == days, chart["id"]
            assert all(t["text"].endswith("₽") for t in layout["charts"][0]["yticks"])
    assert errors == [] and requests == []
