"""What a person would see go wrong on a page of plotly charts, read from the DOM of a rendered page:
a horizontal scrollbar, boxes that overlap, text cut off by its box, legends that scroll or spill, tick
labels that collide, plot areas squeezed to a sliver.

`READ_LAYOUT` runs in the page (Playwright's `page.evaluate`) and returns plain rectangles
[left, top, right, bottom] in CSS pixels; `layout_problems` turns them into one line per problem.
"""

from __future__ import annotations

from itertools import combinations

Rect = list[float]
SLACK = 1.0  # px: sub-pixel rounding between an element and its container

READ_LAYOUT = """() => {
  const rect = (el) => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const shown = (el) => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const all = (root, sel) => Array.from(root.querySelectorAll(sel)).filter(shown);
  const texts = (root, sel) => all(root, sel).map((t) => ({text: t.textContent, rect: rect(t)}));
  const one = (root, sel) => {
    const el = root.querySelector(sel);
    return el && shown(el) ? rect(el) : null;
  };
  return {
    viewport: window.innerWidth,
    scrollWidth: document.documentElement.scrollWidth,
    blocks: Array.from(document.body.children).filter((el) => !["SCRIPT", "STYLE"].includes(el.tagName))
      .filter((el) => shown(el) && ["static", "relative"].includes(getComputedStyle(el).position))
      .map((el) => ({name: el.id || el.tagName.toLowerCase(), rect: rect(el)})),
    cut: all(document, "h1, h2, p, th, td, span")
      .filter((el) => el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).display !== "inline")
      .map((el) => el.textContent.slice(0, 60)),
    charts: Array.from(document.querySelectorAll(".chart")).map((div) => ({
      id: div.id,
      fit: div.dataset.fit || "",
      box: rect(div),
      svg: one(div, ".main-svg"),
      plot: one(div, ".draglayer .xy .nsewdrag"),
      legend: one(div, ".legend .bg"),
      legendItems: all(div, ".legend .traces").map((t) => ({
        text: t.querySelector(".legendtext").textContent,
        rect: rect(t.querySelector(".legendtext")),
        symbol: rect(t.querySelector(".legendpoints")),
      })),
      xticks: texts(div, ".xtick text"),
      yticks: texts(div, ".ytick text"),
      y2ticks: texts(div, ".y2tick text"),
      hiddenTicks: Array.from(div.querySelectorAll(".xtick text, .ytick text, .y2tick text"))
        .filter((t) => !shown(t)).map((t) => t.textContent),
      barTexts: texts(div, ".bartext"),
      annotations: texts(div, ".annotation-text"),
    })),
  };
}"""


def inside(inner: Rect, outer: Rect, slack: float = SLACK) -> bool:
    return (inner[0] >= outer[0] - slack and inner[1] >= outer[1] - slack
            and inner[2] <= outer[2] + slack and inner[3] <= outer[3] + slack)


def overlap(a: Rect, b: Rect, slack: float = SLACK) -> bool:
    """The two rectangles share more than a sliver (touching edges do not count)."""
    return min(a[2], b[2]) - max(a[0], b[0]) > slack and min(a[3], b[3]) - max(a[1], b[1]) > slack


def _collisions(where: str, items: list[dict]) -> list[str]:
    return [f"{where}: {a['text']!r} overlaps {b['text']!r}"
            for a, b in combinations(items, 2) if overlap(a["rect"], b["rect"])]


def chart_problems(chart: dict, min_plot_share: float) -> list[str]:
    """What is clipped, spilled or colliding in one plotly chart."""
    name, box, svg, plot, legend = chart["id"], chart["box"], chart["svg"], chart["plot"], chart["legend"]
    if svg is None or plot is None:
        return [f"{name}: not drawn"]
    problems = [] if inside(svg, box) else [f"{name}: the drawing {svg} spills out of its box {box}"]
    if plot[2] - plot[0] < min_plot_share * (box[2] - box[0]):
        problems.append(f"{name}: the plot area is {plot[2] - plot[0]:.0f} px wide in a "
                        f"{box[2] - box[0]:.0f} px box")
    items = chart["legendItems"]
    if items and legend is None:
        problems.append(f"{name}: legend entries without a legend box")
    for item in items:
        parts = (item["rect"], item["symbol"])
        if legend is not None and not all(inside(part, legend) for part in parts):
            problems.append(f"{name}: legend entry {item['text']!r} is cut off by the legend box "
                            "(the legend scrolls or clips)")
        if not all(inside(part, svg) for part in parts):
            problems.append(f"{name}: legend entry {item['text']!r} spills out of the chart")
    problems += _collisions(f"{name} legend", items)
    if legend is not None and overlap(legend, plot):
        problems.append(f"{name}: the legend covers the plot area")
    for axis in ("xticks", "yticks", "y2ticks"):
        ticks = chart[axis]
        problems += _collisions(f"{name} {axis}", ticks)
        for tick in ticks:
            if not inside(tick["rect"], svg):
                problems.append(f"{name}: tick label {tick['text']!r} is cut off by the chart's edge")
            if legend is not None and overlap(tick["rect"], legend):
                problems.append(f"{name}: tick label {tick['text']!r} is under the legend")
    problems += [f"{name}: tick label {text!r} hidden (it would stick out of the chart)"
                 for text in chart["hiddenTicks"]]
    for label in chart["barTexts"] + chart["annotations"]:
        if not inside(label["rect"], svg):
            problems.append(f"{name}: text {label['text']!r} is cut off by the chart's edge")
    return problems


def layout_problems(layout: dict, min_plot_share: float = 0.45) -> list[str]:
    """Every problem of a READ_LAYOUT result, one line each (an empty list: the page reads well)."""
    viewport = layout["viewport"]
    problems = []
    if layout["scrollWidth"] > viewport:
        problems.append(f"the page is {layout['scrollWidth']} px wide in a {viewport} px window "
                        "(horizontal scrollbar)")
    for block in layout["blocks"]:
        if block["rect"][0] < -SLACK or block["rect"][2] > viewport + SLACK:
            problems.append(f"{block['name']} spills out of the window: {block['rect']}")
    problems += [f"{a['name']} overlaps {b['name']}" for a, b in combinations(layout["blocks"], 2)
                 if overlap(a["rect"], b["rect"])]
    problems += [f"text cut off by its box: {text!r}" for text in layout["cut"]]
    for chart in layout["charts"]:
        problems += chart_problems(chart, min_plot_share)
    return problems
