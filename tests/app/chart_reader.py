"""Read back what Vega drew in the browser, and the checks the browser tests make on it.

A chart is a thing a person sees, so its tests read the SVG that Vega rendered, not the spec the app sent:

- marks: every `g.role-mark` child with an `aria-label` (Vega writes each mark's tooltip fields there,
  "field: value; field: value"), with its box on the page, fill, stroke, fill-opacity and its mark type;
- facet headers: the `g.role-row-header` / `g.role-column-header` groups, each one band of the page (a row
  header's background path spans its row's height, a column header's its column's width) and its text;
- cells: each `g.role-scope` (one facet panel) with its box, its own axes (independent scales) and marks;
- axes (`g.role-axis`, "X-axis titled ..."), their label texts and boxes; legends with their labels and
  symbol colours; the main column's box and whether the chart sits in a box that scrolls on purpose.

Each check returns a list of problems in words (empty: fine), so a test prints all of them at once. The
expected values come from the tests' own SQL on the warehouse file, never from the app's code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from playwright.sync_api import Page

CHART = '[data-testid="stVegaLiteChart"]'

READ_JS = r"""(charts) => {
  const box = e => { if (!e) return null; const r = e.getBoundingClientRect();
                     return {x: r.left + scrollX, y: r.top + scrollY, w: r.width, h: r.height}; };
  const text = g => [...g.querySelectorAll('text')].map(t => t.textContent).join(' ');
  return charts.map(chart => {
    const groups = [...chart.querySelectorAll('g.role-scope[class*="concat_"][class$="_group"]')];
    const group = e => groups.indexOf(e.closest('g.role-scope[class*="concat_"][class$="_group"]'));
    const headers = kind => [...chart.querySelectorAll(`g.role-${kind}-header > g`)].map(g => ({
        text: text(g), band: box(g.querySelector(':scope > path.background')), group: group(g)}))
        .filter(h => h.text);
    const marks = scope => [...scope.querySelectorAll('g.role-mark > [aria-label]')].map(e => ({
        type: e.getAttribute('aria-roledescription') || '', label: e.getAttribute('aria-label'),
        box: box(e), fill: e.getAttribute('fill'), stroke: e.getAttribute('stroke'),
        fillOpacity: e.getAttribute('fill-opacity'), group: group(e)}));
    const axes = scope => [...scope.querySelectorAll('g.role-axis')].map(a => ({
        label: a.getAttribute('aria-label') || '', box: box(a), group: group(a),
        inCell: !!a.closest('g.role-scope[class*="cell"]'),
        labels: [...a.querySelectorAll('g.role-axis-label text')].map(t => ({text: t.textContent, box: box(t),
                                                                          opacity: t.getAttribute('opacity')}))}));
    // the nearest box around the chart that scrolls sideways on purpose: the chart's own boxes, not the main
    // column, a st.columns column or the page (those scroll only because something overflowed them)
    const outer = '[data-testid="stMain"], [data-testid="stMainBlockContainer"], [data-testid="stColumn"], body';
    const scrolls = el => {
      for (let e = el; e && !e.matches(outer); e = e.parentElement) {
        const s = getComputedStyle(e);
        if (/(auto|scroll)/.test(s.overflowX) && e.scrollWidth > e.clientWidth + 1) return box(e);
      }
      return null; };
    const main = document.querySelector('[data-testid="stMainBlockContainer"]')
                 || document.querySelector('[data-testid="stMain"]');
    const svg = chart.querySelector('svg');
    // a facet's row headers; a vertical concat's rows are its groups, each named by its own title
    // (a concat row's facet puts its shared y axis into a row-header group: not a header there)
    let rows = groups.length ? [] : headers('row');
    if (groups.length) rows = groups.map((g, i) => {
        const title = g.querySelector(':scope > g > g > g.role-title');
        return {text: title ? text(title) : '', band: box(g), group: i}; }).filter(h => h.text);
    return {
      box: box(chart), svg: box(svg), main: box(main), viewport: {w: innerWidth, h: innerHeight},
      scroll: scrolls(svg || chart), canvas: !!chart.querySelector('canvas'),
      rowHeaders: rows, columnHeaders: headers('column'),
      cells: [...chart.querySelectorAll('g.role-scope[class*="cell"] > g')].map(c => ({
          box: box(c.querySelector(':scope > path.background') || c), axes: axes(c), marks: marks(c),
          group: group(c)})),
      marks: marks(chart),
      axes: axes(chart),
      legends: [...chart.querySelectorAll('g.role-legend')].map(l => ({
          box: box(l), title: text(l.querySelector('g.role-legend-title') || document.createElement('g')),
          labels: [...l.querySelectorAll('g.role-legend-label text')].map(t => t.textContent),
          symbols: [...l.querySelectorAll('g.role-legend-symbol path')].map(p => p.getAttribute('fill')
                                                                            || p.getAttribute('stroke'))})),
    };
  });
}"""


@dataclass
class Box:
    x: float
    y: float
    w: float
    h: float

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h

    @property
    def center(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2

    def overlaps(self, other: Box) -> bool:
        return self.x < other.right - 1 and other.x < self.right - 1 and self.y < other.bottom - 1 \
            and other.y < self.bottom - 1


def _box(raw: dict | None) -> Box | None:
    return Box(**raw) if raw else None


@dataclass
class Mark:
    type: str  # Vega's aria role description of the mark: "point", "rule mark", "rect mark", ...
    fields: dict[str, str]  # the tooltip fields Vega wrote into aria-label
    box: Box
    fill: str | None
    stroke: str | None
    hollow: bool  # a point drawn as a ring (no fill)
    group: int = -1  # which row of a vertical concat it is drawn in (-1: not in one)

    def number(self, name: str) -> float | None:
        value = self.fields.get(name)
        try:
            return float(value.replace(",", "")) if value not in (None, "", "null", "NaN") else None
        except ValueError:
            return None


@dataclass
class Axis:
    label: str  # "X-axis titled 'mean test accuracy' for a linear scale with values from 0.1 to 0.7"
    texts: list[str]
    ticks: list[tuple[str, Box]] = field(default_factory=list)  # each shown label and where
    box: Box | None = None
    group: int = -1  # concat row
    in_cell: bool = True  # False: a shared axis drawn beside the panels (in a facet's header or footer)

    @property
    def orient(self) -> str:
        return self.label[:1]  # "X" or "Y"


@dataclass
class Cell:
    box: Box
    axes: list[Axis]
    marks: list[Mark]
    group: int = -1


@dataclass
class Legend:
    box: Box
    title: str
    labels: list[str]
    symbols: list[str | None]


@dataclass
class Chart:
    box: Box
    svg: Box | None
    main: Box
    viewport: tuple[float, float]
    scroll: Box | None  # the box that scrolls sideways around the chart, if any
    canvas: bool
    row_headers: list[tuple[str, Box, int]]  # text, band on the page, concat row (-1: a facet's)
    column_headers: list[tuple[str, Box, int]]
    cells: list[Cell]
    marks: list[Mark]
    axes: list[Axis]
    legends: list[Legend]
    title: str = ""  # which page and chart, for messages
    extra: dict = field(default_factory=dict)


def parse_label(label: str) -> dict[str, str]:
    """Vega's aria-label of a mark, "a: 1; b: x", as a dict (the first ': ' of each '; '-part splits)."""
    fields = {}
    for part in label.split("; "):
        key, sep, value = part.partition(": ")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def _mark(raw: dict) -> Mark:
    fill = raw["fill"]
    hollow = raw["type"] == "point" and (fill in (None, "transparent", "none") or raw.get("fillOpacity") == "0")
    return Mark(raw["type"], parse_label(raw["label"]), _box(raw["box"]), fill, raw["stroke"], hollow, raw["group"])


def _axis(raw: dict) -> Axis:
    shown = [t for t in raw["labels"] if t["text"] and t["opacity"] != "0"]
    return Axis(raw["label"], [t["text"] for t in shown], [(t["text"], _box(t["box"])) for t in shown],
                _box(raw["box"]), raw["group"], raw["inCell"])


def read_charts(page: Page, *, title: str = "") -> list[Chart]:
    """Every Vega chart on the page as drawn now (wait for the page to settle first). Needs the SVG renderer,
    which is what Streamlit's vega-embed uses; a canvas chart reads as one without marks."""
    raws = page.locator(CHART).evaluate_all(READ_JS)
    charts = []
    for i, raw in enumerate(raws):
        charts.append(Chart(
            box=_box(raw["box"]), svg=_box(raw["svg"]), main=_box(raw["main"]),
            viewport=(raw["viewport"]["w"], raw["viewport"]["h"]), scroll=_box(raw["scroll"]), canvas=raw["canvas"],
            row_headers=[(h["text"], _box(h["band"]), h["group"]) for h in raw["rowHeaders"]],
            column_headers=[(h["text"], _box(h["band"]), h["group"]) for h in raw["columnHeaders"]],
            cells=[Cell(_box(c["box"]), [_axis(a) for a in c["axes"]], [_mark(m) for m in c["marks"]], c["group"])
                   for c in raw["cells"]],
            marks=[_mark(m) for m in raw["marks"]], axes=[_axis(a) for a in raw["axes"]],
            legends=[Legend(_box(g["box"]), g["title"], g["labels"], g["symbols"]) for g in raw["legends"]],
            title=f"{title} chart {i + 1}"))
    return charts


# ---------------------------------------------------------------- checks: each returns problems in words


def _header_at(headers: list[tuple[str, Box, int]], value: float, vertical: bool, group: int | None) -> str | None:
    """The header whose band holds the position (a column header only among its own concat row's)."""
    for text, band, row in headers:
        if group is not None and row != group:
            continue
        lo, hi = (band.y, band.bottom) if vertical else (band.x, band.right)
        if lo - 0.5 <= value <= hi + 0.5:
            return text
    return None


def misplaced_marks(chart: Chart, *, row_field: str | None, column_field: str | None,
                    header_names=lambda text: text) -> list[str]:
    """Every mark must sit under the row header and in the column header of its own facet values (its
    aria-label's row_field / column_field). header_names maps a header's text to the value it stands for."""
    problems = []
    bad = 0
    checked = 0
    for mark in chart.marks:
        cx, cy = mark.box.center
        for fld, headers, pos, vertical in ((row_field, chart.row_headers, cy, True),
                                            (column_field, chart.column_headers, cx, False)):
            if fld is None or fld not in mark.fields:
                continue
            checked += 1
            text = _header_at(headers, pos, vertical, None if vertical else mark.group)
            if text is None or header_names(text) != mark.fields[fld]:
                bad += 1
                if len(problems) < 8:
                    problems.append(f"{chart.title}: a mark with {fld} = {mark.fields[fld]!r} is drawn under "
                                    f"the header {text!r}")
    if bad:
        problems.append(f"{chart.title}: {bad} of {checked} mark placements under the wrong facet header")
    if not checked:
        problems.append(f"{chart.title}: no mark carries {row_field!r} / {column_field!r} to check against headers")
    return problems


def cell_marks(cell: Cell) -> list[Mark]:
    return [m for m in cell.marks if m.fields]


def missing_axis_labels(chart: Chart, *, orient: str, field_name: str, expected=None) -> list[str]:
    """In every panel, the axis of this orient ("X"/"Y") shows every category its marks use (field_name),
    and, when expected(cell_marks) gives a set, exactly that set (e.g. from SQL)."""
    problems = []
    for cell in chart.cells:
        marks = cell_marks(cell)
        if not marks:
            continue
        used = {m.fields[field_name] for m in marks if field_name in m.fields}
        axes = axes_of(chart, cell, orient)
        shown = set().union(*(a.texts for a in axes)) if axes else set()
        want = used if expected is None else expected(marks)
        if want is None:
            continue
        if not want <= shown:
            problems.append(f"{chart.title}: panel {_panel_name(marks)} shows {len(shown & want)} of {len(want)} "
                            f"{orient}-axis labels; missing {sorted(want - shown)[:6]}")
        if expected is not None and not used <= want:
            problems.append(f"{chart.title}: panel {_panel_name(marks)} draws options SQL does not know: "
                            f"{sorted(used - want)[:6]}")
    return problems


def axes_of(chart: Chart, cell: Cell, orient: str) -> list[Axis]:
    """A panel's axes of one orient: its own, else the shared ones beside it (same concat row, level with it)."""
    own = [a for a in cell.axes if a.orient == orient]
    if own:
        return own
    beside = []
    for axis in chart.axes:
        if axis.in_cell or axis.orient != orient or axis.group != cell.group or axis.box is None:
            continue
        if orient == "Y" and axis.box.y < cell.box.bottom and cell.box.y < axis.box.bottom:
            beside.append(axis)
        if orient == "X" and axis.box.x < cell.box.right and cell.box.x < axis.box.right:
            beside.append(axis)
    return beside


def _panel_name(marks: list[Mark]) -> str:
    m = marks[0].fields
    for keys in (("row parameter", "column parameter"), ("parameter", None)):
        if keys[0] in m:
            return " × ".join(m[k] for k in keys if k and k in m)
    return "?"


def off_screen(chart: Chart) -> list[str]:
    """The chart fits the main column, or scrolls inside its own box that fits; its legends too."""
    problems = []
    limit = chart.main.right + 1
    holder = chart.scroll
    if holder is not None:
        if holder.right > limit:
            problems.append(f"{chart.title}: its scroll box ends at x = {holder.right:.0f}, past the main column "
                            f"(right edge {chart.main.right:.0f})")
    elif chart.svg and chart.svg.right > limit:
        problems.append(f"{chart.title}: {chart.svg.w:.0f} px wide, ends at x = {chart.svg.right:.0f} past the main "
                        f"column's right edge {chart.main.right:.0f} and nothing scrolls it")
    for legend in chart.legends:
        visible_right = holder.right if holder else limit
        if legend.box.right > visible_right + 1:
            problems.append(f"{chart.title}: legend '{legend.title}' sits at x = {legend.box.x:.0f}..."
                            f"{legend.box.right:.0f}, outside what is visible (right edge {visible_right:.0f})")
    return problems


def overlapping(charts: list[Chart]) -> list[str]:
    """No chart is drawn over another (compare mode puts two matrices side by side)."""
    problems = []
    for i, a in enumerate(charts):
        for b in charts[i + 1:]:
            boxes = [(a.scroll or a.svg or a.box), (b.scroll or b.svg or b.box)]
            if boxes[0] and boxes[1] and boxes[0].overlaps(boxes[1]):
                problems.append(f"{a.title} and {b.title} overlap: {boxes[0]} / {boxes[1]}")
    return problems


def outside_unit_range(chart: Chart, fields: tuple[str, ...]) -> list[str]:
    """No mark's accuracy field (tooltip value) outside 0..1, and no numeric axis label of an accuracy axis
    outside 0..1 (an interval that runs past 1 stretches the axis)."""
    problems = []
    for mark in chart.marks:
        for name in fields:
            value = mark.number(name)
            if value is not None and not -1e-9 <= value <= 1 + 1e-9:
                problems.append(f"{chart.title}: {name} = {value} on a mark of {_panel_name([mark])} "
                                f"({mark.fields.get('option', '')})")
    for axis in chart.axes:
        if "accuracy" not in axis.label:
            continue
        for text in axis.texts:
            try:
                value = float(text.replace("−", "-"))
            except ValueError:
                continue
            if not 0 <= value <= 1:
                problems.append(f"{chart.title}: accuracy axis label {text}")
    return problems[:12]


def colours_by(charts: list[Chart], field_name: str) -> dict[str, set[str]]:
    """For each value of a field (status, dataset), the fill colours of the marks that carry it, drawn
    (marks coloured by something else, e.g. a heat map's count, do not carry the field as their only key)."""
    seen: dict[str, set[str]] = {}
    for chart in charts:
        for mark in chart.marks:
            value = mark.fields.get(field_name)
            colour = mark.fill if mark.fill not in (None, "none", "transparent") else mark.stroke
            if value is not None and colour:
                seen.setdefault(value, set()).add(colour.lower())
    return seen


def legend_colours(charts: list[Chart], title: str) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for chart in charts:
        for legend in chart.legends:
            if legend.title.strip() == title:
                for label, colour in zip(legend.labels, legend.symbols, strict=False):
                    if colour:
                        seen.setdefault(label, set()).add(colour.lower())
    return seen


NUMBER = re.compile(r"-?\d+(\.\d+)?")
