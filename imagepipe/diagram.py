"""State machine diagrams: statemachine/*.asl.json drawn as SVG (docs/diagrams/, by
`imagepipe diagram`), with no external tools; the same definition, the same bytes.

The layout is small and fixed, which suits graphs of a dozen states:

* layers top to bottom: a state sits one layer below the deepest state that leads to
  it (by Next, a Choice branch or a Catch);
* columns: a state continues the column of the state whose Next (or Choice branch)
  leads to it, when it is that column's last state so far; otherwise it opens a new
  column to the right. So the main path is the left column and each error handler
  chain (reached only by Catch) gets a column of its own;
* a Map state is a box holding its own layout (the ItemProcessor's states);
* edges run straight down within a column; any other edge leaves to the lane right of
  its source's column, travels there, and enters its target from the gap above it, so
  no edge crosses a box. Catch edges are dashed and red, labelled with their errors.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any, Final
from xml.sax.saxutils import escape, quoteattr

from infra.asl import STATEMACHINE_DIR

DIAGRAM_DIR: Final = Path(__file__).resolve().parent.parent / "docs" / "diagrams"

FONT: Final = "Helvetica, Arial, sans-serif"
TITLE_PX: Final = 13  # state names (bold)
SMALL_PX: Final = 10  # subtitles and edge labels
BOX_H: Final = 44
PILL_H: Final = 26
PAD_X: Final = 14
COL_GAP: Final = 56  # between columns, plus the widest catch label leaving a column
ROW_GAP: Final = 46
MAP_PAD: Final = 16
MAP_HEADER: Final = 42
LANE_STEP: Final = 9
MARGIN: Final = 20

COLOURS: Final[dict[str, tuple[str, str]]] = {  # kind -> (fill, stroke); others: grey
    "Task": ("#eef4fb", "#4a6fa5"),
    "Choice": ("#fff7e0", "#b8901c"),
    "Map": ("#fafbfd", "#4a6fa5"),
    "Fail": ("#fdecea", "#c0392b"),
    "Succeed": ("#e9f5ea", "#2e7d32"),
    "terminal": ("#37474f", "#37474f"),
}
EDGE: Final = "#4d4d4d"
CATCH: Final = "#c0392b"
GREY: Final = "#52606d"  # subtitles and the legend
LEGEND: Final = (
    (MARGIN, False, "next state"),
    (MARGIN + 120, True, "Catch: the errors it handles"),
)
# A character's width in ems where it is not the average's (0.56, bold 0.62).
EMS: Final = {**dict.fromkeys("il.,:;'|!()[]/ tfjrI1", 0.33), **dict.fromkeys("mwMW@%", 0.85)}
MIDDLE: Final = ' text-anchor="middle"'
BOLD: Final = ' font-weight="bold"'


def text_width(text: str, px: int, bold: bool = False) -> int:
    """An estimate of rendered width (no font metrics at hand; errs on the wide side)."""
    return round(px * sum(EMS.get(c, 0.62 if bold else 0.56) for c in text))


# -- the graph ---------------------------------------------------------------------------


@dataclass
class Edge:
    source: str
    target: str
    label: str = ""
    catch: bool = False
    lane: int = -1  # which lane right of its source's column; -1: a straight drop
    gap: int = 0  # which band of the gap above its target


@dataclass
class Node:
    id: str
    kind: str  # a state Type, or "terminal" for Start/End
    title: str
    subtitle: str = ""
    inner: Layout | None = None
    w: int = 0
    h: int = 0
    x: int = 0
    y: int = 0
    lane: int = 0  # x where the lanes right of its column start
    layer: int = 0
    column: int = 0
    above: str = ""  # the state above it in its column

    def __post_init__(self) -> None:
        if self.kind == "terminal":
            self.w, self.h = text_width(self.title, TITLE_PX, True) + 2 * PAD_X + 8, PILL_H
            return
        text = max(text_width(self.title, TITLE_PX, True), text_width(self.subtitle, SMALL_PX))
        self.w, self.h = max(150, text + 2 * PAD_X), BOX_H
        if self.inner is not None:
            self.w = max(self.w, self.inner.w + 2 * MAP_PAD)
            self.h = MAP_HEADER + self.inner.h + MAP_PAD

    @property
    def cx(self) -> int:
        return self.x + self.w // 2


@dataclass
class Layout:
    nodes: dict[str, Node]
    edges: list[Edge]
    w: int = 0
    h: int = 0


def _resource(state: dict[str, Any]) -> str:
    """The short name of a Task resource: lambda:invoke, s3:copyObject (aws-sdk: dropped)."""
    resource = str(state.get("Resource", ""))
    tail = resource.split(":::", 1)[-1] if ":::" in resource else resource.rsplit(":", 1)[-1]
    return tail.removeprefix("aws-sdk:")


def _subtitle(state: dict[str, Any]) -> str:
    kind = str(state.get("Type"))
    if kind == "Map":
        return _map_subtitle(state)
    if kind == "Task":
        kind = _resource(state)
    elif kind == "Fail":
        error = state.get("Error") or ("from " + state["ErrorPath"] if "ErrorPath" in state else "")
        kind = f"Fail {error}".strip()
    return kind + (" · retries" if state.get("Retry") else "")


def _map_subtitle(state: dict[str, Any]) -> str:
    processor = state.get("ItemProcessor") or state.get("Iterator") or {}
    config = processor.get("ProcessorConfig") or {}
    parts = ["Distributed Map" if config.get("Mode") == "DISTRIBUTED" else "Map"]
    if state.get("ItemReader"):
        parts.append("items: " + _resource(state["ItemReader"]))
    elif state.get("ItemsPath"):
        parts.append(f"items: {state['ItemsPath']}")
    if "MaxConcurrency" in state:
        parts.append(f"max {state['MaxConcurrency']} at once")
    if execution := str(config.get("ExecutionType", "")):
        # A placeholder (the backfill's type follows from its timeouts) is named as such.
        kind = "express or standard" if execution.startswith("${") else execution
        parts.append(f"{kind.lower()} children")
    return " · ".join(parts)


def _choice_label(rule: dict[str, Any]) -> str:
    """A Choice rule in words: `$.a present and IsNull false`, `not $.b present`."""
    variable = str(rule.get("Variable", ""))
    # Its one test: a Choice Rule has one (a comparison, Not, And or Or; JSONata's Condition)
    # https://docs.aws.amazon.com/step-functions/latest/dg/state-choice.html
    key, value = next((k, v) for k, v in rule.items() if k not in {"Variable", "Next"})
    if key == "Not":
        return "not " + _choice_label(value)
    if key in {"And", "Or"}:  # the variable once: `$.a present and IsNull false`
        op, first = f" {key.lower()} ", value[0].get("Variable")
        return op.join(_choice_label(r) for r in value).replace(f"{op}{first} ", op)
    if key == "IsPresent":
        return f"{variable} {'present' if value else 'absent'}"
    return f"{variable} {key} {json.dumps(value)}"


def _edges(name: str, state: dict[str, Any], end: str | None) -> list[Edge]:
    choices = [(rule["Next"], _choice_label(rule)) for rule in state.get("Choices") or []]
    targets = [(state.get("Next"), ""), *choices, (state.get("Default"), "otherwise")]
    targets.append((state.get("End") and end, ""))
    # One arrow per target: a rule that leads where the Default does is drawn as "otherwise";
    # rules that lead to the same other state share an arrow with both their tests ("or").
    labels: dict[str, str] = {}
    for target, label in targets:
        if target:
            before = labels.get(str(target))
            joined = label != "otherwise" and before and label
            labels[str(target)] = f"{before} or {label}" if joined else label
    edges = {target: Edge(name, target, label) for target, label in labels.items()}
    catches = state.get("Catch") or []
    return [*edges.values()] + [
        Edge(name, str(c["Next"]), ", ".join(c["ErrorEquals"]), True) for c in catches
    ]


# -- layout --------------------------------------------------------------------------------


def build(definition: dict[str, Any], top: bool = True) -> Layout:
    """Lay out one state machine (or a Map's ItemProcessor) at the origin."""
    states: dict[str, dict[str, Any]] = definition["States"]
    start = str(definition["StartAt"])
    end = "(end)" if top and any(s.get("End") for s in states.values()) else None
    layout = Layout({}, [])
    if top:
        layout.nodes["(start)"] = Node("(start)", "terminal", "Start")
        layout.edges.append(Edge("(start)", start))
    for name, state in states.items():
        processor = state.get("ItemProcessor") or state.get("Iterator")  # a Map's
        inner = build(processor, top=False) if processor else None
        layout.nodes[name] = Node(name, str(state.get("Type")), name, _subtitle(state), inner)
        layout.edges += _edges(name, state, end)
    if end:
        layout.nodes[end] = Node(end, "terminal", "End")
    _rank(layout, "(start)" if top else start)
    _place(layout)
    return layout


def _rank(layout: Layout, root: str) -> None:
    """Rank: depth-first discovery order, normal edges before Catch edges (the main path
    first). Layer: the longest path from the root over edges forward in rank (loops
    ignored). Column: see the module's docstring."""
    nodes, edges = layout.nodes, layout.edges
    order: list[Node] = []

    def visit(name: str) -> None:
        if name in nodes and nodes[name] not in order:
            order.append(nodes[name])
            for edge in sorted((e for e in edges if e.source == name), key=lambda e: e.catch):
                visit(edge.target)

    for name in [root, *nodes]:  # unreachable states still get drawn
        visit(name)
    for i, node in enumerate(order):
        sources = {e.source for e in edges if e.target == node.id}
        node.layer = max((s.layer + 1 for s in order[:i] if s.id in sources), default=0)
    tails: list[str] = []  # column -> its last node so far
    for node in sorted(order, key=lambda n: n.layer):  # stable: in rank within a layer
        parents = {e.source for e in edges if e.target == node.id and not e.catch}
        above = next((p for p in order if p.id in parents and tails[p.column] == p.id), None)
        node.column, node.above = (above.column, above.id) if above else (len(tails), "")
        tails[node.column : node.column + 1] = [node.id]


def _place(layout: Layout) -> None:
    nodes = list(layout.nodes.values())
    ncols = max(n.column for n in nodes) + 1
    widths = [max(n.w for n in nodes if n.column == c) for c in range(ncols)]
    nlayers = max(n.layer for n in nodes) + 1
    heights = [max(n.h for n in nodes if n.layer == r) for r in range(nlayers)]
    labels = [0] * ncols  # the widest Catch label leaving each column
    lanes: defaultdict[int, dict[str, int]] = defaultdict(dict)  # column -> target -> lane
    gaps: defaultdict[int, dict[str, int]] = defaultdict(dict)  # layer -> target -> its band
    for edge in layout.edges:
        source, target = layout.nodes[edge.source], layout.nodes[edge.target]
        label = text_width(edge.label, SMALL_PX) + 10
        if edge.catch:
            labels[source.column] = max(labels[source.column], label)
        if edge.catch or target.above != source.id:  # not a straight drop: it takes a lane
            edge.lane = lanes[source.column].setdefault(target.id, len(lanes[source.column]))
            edge.gap = gaps[target.layer].setdefault(target.id, len(gaps[target.layer]))
        else:  # its label, left of the line, stays within the column
            widths[source.column] = max(widths[source.column], 2 * label)
    spans = [w + labels[c] + LANE_STEP * len(lanes[c]) for c, w in enumerate(widths)]
    lefts = [0, *accumulate(span + COL_GAP for span in spans[:-1])]
    tops = [0, *accumulate(h + ROW_GAP for h in heights[:-1])]
    layout.w, layout.h = lefts[-1] + spans[-1] + 12, tops[-1] + heights[-1]
    for node in nodes:
        node.x = lefts[node.column] + (widths[node.column] - node.w) // 2
        node.y = tops[node.layer]
        node.lane = lefts[node.column] + widths[node.column] + labels[node.column] + 12


# -- drawing --------------------------------------------------------------------------------


Point = tuple[int, int]


def _route(layout: Layout, edge: Edge) -> tuple[list[Point], Point]:
    """The edge's points and where its label starts."""
    source, target = layout.nodes[edge.source], layout.nodes[edge.target]
    bottom, label_w = source.y + source.h, text_width(edge.label, SMALL_PX)
    if edge.lane < 0:
        # Left of the line, low in the gap: a branch routed right leaves just below.
        return [(source.cx, bottom), (source.cx, target.y)], (source.cx - 6 - label_w, bottom + 30)
    # Which of its source's normal edges, or Catch edges, it is: they leave side by side.
    i = [e for e in layout.edges if e.source == edge.source and e.catch == edge.catch].index(edge)
    lane_x = source.lane + LANE_STEP * edge.lane
    # The middle band of the gap above the target's row (for the first row: above it);
    # a Catch enters its target a little off its centre when several arrive from gaps.
    gap_y = target.y - ROW_GAP + 12 + 7 * edge.gap
    tx = target.cx + (12 * edge.gap if edge.catch else 0)
    into = [(lane_x, gap_y), (tx, gap_y), (tx, target.y)]
    if edge.catch:
        sy = source.y + 15 + 14 * i  # from the top: a Map's Catches leave its header
        right = source.x + source.w
        return [(right, sy), (lane_x, sy), *into], (right + 5, sy - 4)
    sx = source.cx + 24 * i
    if target.layer == source.layer + 1:  # through the gap between them
        points = [(sx, bottom), (sx, gap_y), *into[1:]]
    else:
        points = [(sx, bottom), (sx, bottom + 14), (lane_x, bottom + 14), *into]
    # Above the segment that runs into the target, ending at its arrow.
    return points, (tx - 6 - label_w, gap_y - 4)


def _line(points: list[Point], catch: bool) -> str:
    style = f'stroke="{CATCH}" stroke-dasharray="5 4"' if catch else f'stroke="{EDGE}"'
    return (
        f'<path d="M {" L ".join(f"{x} {y}" for x, y in points)}" fill="none" {style} '
        f'stroke-width="1.4" marker-end="url(#arrow-{"catch" if catch else "next"})"/>'
    )


def _text(x: int, y: int, px: int, fill: str, text: str, more: str = "") -> str:
    return f'<text x="{x}" y="{y}" font-size="{px}" fill="{fill}"{more}>{escape(text)}</text>'


def _draw(layout: Layout, out: list[str], marks: Mapping[str, str] | None, x: int, y: int) -> None:
    """The edges, then the boxes, in a viewport at (x, y) (a Map's states are placed in
    their own layout, drawn in one inside its box). With `marks` (state name -> a word,
    e.g. what happened to it in one execution), each state's box is a `<g class="state
    MARK" data-state="NAME">` that a page can style and click ("unreached" for a state
    without a mark)."""
    out.append(f'<svg x="{x}" y="{y}" overflow="visible">')
    for edge in layout.edges:
        points, label_at = _route(layout, edge)
        out.append(_line(points, edge.catch))
        if edge.label:
            out.append(_text(*label_at, SMALL_PX, CATCH if edge.catch else EDGE, edge.label))
    for node in layout.nodes.values():
        fill, stroke = COLOURS.get(node.kind, ("#f3f3f3", "#8a8a8a"))
        pill = node.kind == "terminal"
        rx = node.h // 2 if pill else 6
        if marks is not None and not pill:
            mark = quoteattr(f"state {marks.get(node.id, 'unreached')}")
            out.append(f"<g class={mark} data-state={quoteattr(node.id)}>")
        out.append(
            f'<rect x="{node.x}" y="{node.y}" width="{node.w}" height="{node.h}" rx="{rx}" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="1.4"/>'
        )
        if pill:
            ty = node.y + node.h // 2 + 4
            out.append(_text(node.cx, ty, SMALL_PX + 1, "#ffffff", node.title, MIDDLE + BOLD))
            continue
        ty = node.y + (19 if node.inner is None else 17)
        out.append(_text(node.cx, ty, TITLE_PX, "#1f2933", node.title, MIDDLE + BOLD))
        out.append(_text(node.cx, ty + 14, SMALL_PX, GREY, node.subtitle, MIDDLE))
        if marks is not None:
            out.append("</g>")
        if node.inner is not None:  # a line under its header; its edges and states over it
            out.append(
                f'<path d="M {node.x} {node.y + MAP_HEADER - 8} h {node.w}" stroke="{stroke}" '
                'stroke-opacity="0.35"/>'
            )
            inner_x = node.x + (node.w - node.inner.w) // 2  # centred under the header
            _draw(node.inner, out, marks, inner_x, node.y + MAP_HEADER)
    out.append("</svg>")


def render(definition: dict[str, Any], title: str, marks: Mapping[str, str] | None = None) -> str:
    """The SVG document for one definition; `marks`: see `_draw` (the local
    console marks what each state did in one execution)."""
    layout = build(definition)
    width = max(layout.w, 420) + 2 * MARGIN  # 420: room for the title and the legend
    # 7 px: wider than the average character of an 11 px line (see text_width)
    comment = textwrap.wrap(str(definition.get("Comment", "")), (width - 2 * MARGIN) // 7)
    header = 26 + 14 * len(comment) + 30
    height = layout.h + header + 2 * MARGIN
    ly = MARGIN + header - 18
    out = [
        '<svg xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family="{FONT}">',
        "<defs>",
        *(
            f'<marker id="arrow-{name}" viewBox="0 0 10 10" refX="9" refY="5" '
            f'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
            f'<path d="M 0 0 L 10 5 L 0 10 z" fill="{colour}"/></marker>'
            for name, colour in (("next", EDGE), ("catch", CATCH))
        ),
        "</defs>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        _text(MARGIN, MARGIN + 12, 15, "#1f2933", title, BOLD),
        *(_text(MARGIN, MARGIN + 30 + 14 * i, 11, GREY, line) for i, line in enumerate(comment)),
    ]
    for x, catch, words in LEGEND:
        out += [_line([(x, ly), (x + 34, ly)], catch), _text(x + 42, ly + 4, SMALL_PX, GREY, words)]
    _draw(layout, out, marks, MARGIN + (width - 2 * MARGIN - layout.w) // 2, MARGIN + header)
    return "\n".join([*out, "</svg>"]) + "\n"


def definitions() -> list[Path]:
    return sorted(STATEMACHINE_DIR.glob("*.asl.json"))


def svg_name(definition: Path) -> str:
    return definition.name.removesuffix(".asl.json") + ".svg"


def render_file(path: Path) -> str:
    return render(json.loads(path.read_text(encoding="utf-8")), f"statemachine/{path.name}")


def _drawn(out_dir: Path) -> dict[Path, str]:
    return {out_dir / svg_name(d): render_file(d) for d in definitions()}


def stale(out_dir: Path = DIAGRAM_DIR) -> list[str]:
    """Diagrams missing or different from what their definition renders to."""
    return [
        str(path)
        for path, svg in _drawn(out_dir).items()
        if not path.exists() or path.read_text(encoding="utf-8") != svg
    ]


def write_all(out_dir: Path = DIAGRAM_DIR) -> list[str]:
    """The diagrams written, as `stale` names them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    drawn = _drawn(out_dir)
    for path, svg in drawn.items():
        path.write_text(svg, encoding="utf-8")
    return [str(path) for path in drawn]


if __name__ == "__main__":  # `python -m imagepipe.diagram`: the same as `imagepipe diagram`
    from imagepipe.cli import main

    raise SystemExit(main(["diagram", *sys.argv[1:]]))
