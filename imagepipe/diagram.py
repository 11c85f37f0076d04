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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from xml.sax.saxutils import escape, quoteattr

STATEMACHINE_DIR: Final = Path(__file__).resolve().parent.parent / "statemachine"
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

COLOURS: Final[dict[str, tuple[str, str]]] = {  # kind -> (fill, stroke)
    "Task": ("#eef4fb", "#4a6fa5"),
    "Pass": ("#f3f3f3", "#8a8a8a"),
    "Choice": ("#fff7e0", "#b8901c"),
    "Wait": ("#f3f3f3", "#8a8a8a"),
    "Parallel": ("#fafbfd", "#4a6fa5"),
    "Map": ("#fafbfd", "#4a6fa5"),
    "Fail": ("#fdecea", "#c0392b"),
    "Succeed": ("#e9f5ea", "#2e7d32"),
    "terminal": ("#37474f", "#37474f"),
}
EDGE: Final = "#4d4d4d"
CATCH: Final = "#c0392b"


def text_width(text: str, px: int, bold: bool = False) -> int:
    """An estimate of rendered width (no font metrics at hand; errs on the wide side)."""
    narrow = sum(1 for c in text if c in "il.,:;'|!()[]/ tfjrI1")
    wide = sum(1 for c in text if c in "mwMW@%")
    per = 0.62 if bold else 0.56
    return round(px * (per * (len(text) - narrow - wide) + 0.33 * narrow + 0.85 * wide))


# -- the graph ---------------------------------------------------------------------------


@dataclass
class Edge:
    source: str
    target: str
    label: str = ""
    catch: bool = False


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
    layer: int = 0
    column: int = 0
    rank: int = 0

    @property
    def cx(self) -> int:
        return self.x + self.w // 2

    @property
    def bottom(self) -> int:
        return self.y + self.h


def _resource(state: dict[str, Any]) -> str:
    """The short name of a Task resource: lambda:invoke, s3:copyObject (aws-sdk: dropped)."""
    resource = str(state.get("Resource", ""))
    tail = resource.split(":::", 1)[-1] if ":::" in resource else resource.rsplit(":", 1)[-1]
    return tail.removeprefix("aws-sdk:")


def _subtitle(state: dict[str, Any]) -> str:
    kind = str(state.get("Type"))
    parts: list[str] = []
    if kind == "Task":
        parts.append(_resource(state))
    elif kind == "Fail":
        error = state.get("Error") or (
            "from " + str(state["ErrorPath"]) if "ErrorPath" in state else ""
        )
        parts.append(f"Fail {error}".strip())
    else:
        parts.append(kind)
    if state.get("Retry"):
        parts.append("retries")
    return " · ".join(parts)


def _map_subtitle(state: dict[str, Any]) -> str:
    processor = state.get("ItemProcessor") or state.get("Iterator") or {}
    mode = str((processor.get("ProcessorConfig") or {}).get("Mode", "INLINE"))
    parts = ["Distributed Map" if mode == "DISTRIBUTED" else "Map"]
    reader = state.get("ItemReader")
    if reader:
        parts.append("items: " + _resource(reader))
    elif state.get("ItemsPath"):
        parts.append(f"items: {state['ItemsPath']}")
    if "MaxConcurrency" in state:
        parts.append(f"max {state['MaxConcurrency']} at once")
    execution = (processor.get("ProcessorConfig") or {}).get("ExecutionType")
    if execution:
        # A placeholder (the backfill's type follows from its timeouts) is named as such.
        kind = "express or standard" if str(execution).startswith("${") else str(execution)
        parts.append(f"{kind.lower()} children")
    return " · ".join(parts)


def _choice_label(rule: dict[str, Any]) -> str:
    variable = str(rule.get("Variable", ""))
    for key, value in rule.items():
        if key in {"Variable", "Next"}:
            continue
        if key == "IsPresent":
            return f"{variable} {'present' if value else 'absent'}"
        return f"{variable} {key} {json.dumps(value)}"
    return "choice"


def _edges(name: str, state: dict[str, Any], end: str | None) -> list[Edge]:
    edges: list[Edge] = []
    if "Next" in state:
        edges.append(Edge(name, str(state["Next"])))
    for rule in state.get("Choices") or []:
        edges.append(Edge(name, str(rule["Next"]), _choice_label(rule)))
    if "Default" in state:
        edges.append(Edge(name, str(state["Default"]), "otherwise"))
    if state.get("End") and end is not None:
        edges.append(Edge(name, end))
    for catcher in state.get("Catch") or []:
        edges.append(Edge(name, str(catcher["Next"]), ", ".join(catcher["ErrorEquals"]), True))
    return edges


# -- layout --------------------------------------------------------------------------------


@dataclass
class Layout:
    nodes: dict[str, Node]
    edges: list[Edge]
    w: int = 0
    h: int = 0
    columns: list[tuple[int, int]] = field(default_factory=list)  # (x, width)
    rows: list[tuple[int, int]] = field(default_factory=list)  # (y, height)
    lanes: list[int] = field(default_factory=list)  # x where each column's lanes start


def build(definition: dict[str, Any], top: bool = True) -> Layout:
    """Lay out one state machine (or a Map's ItemProcessor) at the origin."""
    states: dict[str, dict[str, Any]] = definition["States"]
    nodes: dict[str, Node] = {}
    edges: list[Edge] = []
    start = str(definition["StartAt"])
    end = "(end)" if top and any(s.get("End") for s in states.values()) else None
    if top:
        nodes["(start)"] = Node("(start)", "terminal", "Start")
        edges.append(Edge("(start)", start))
    for name, state in states.items():
        kind = str(state.get("Type"))
        node = Node(name, kind, name, _subtitle(state))
        if kind == "Map":
            processor: dict[str, Any] = state.get("ItemProcessor") or state["Iterator"]
            node.inner = build(processor, top=False)
            node.subtitle = _map_subtitle(state)
        nodes[name] = node
        edges += _edges(name, state, end)
    if end:
        nodes[end] = Node(end, "terminal", "End")
    _size(nodes)
    _rank(nodes, edges, "(start)" if top else start)
    _layer(nodes, edges)
    _columns(nodes, edges)
    layout = Layout(nodes, edges)
    _place(layout)
    return layout


def _size(nodes: dict[str, Node]) -> None:
    for node in nodes.values():
        if node.kind == "terminal":
            node.w, node.h = text_width(node.title, TITLE_PX, True) + 2 * PAD_X + 8, PILL_H
            continue
        text = max(text_width(node.title, TITLE_PX, True), text_width(node.subtitle, SMALL_PX))
        node.w, node.h = max(150, text + 2 * PAD_X), BOX_H
        if node.inner is not None:
            node.w = max(node.w, node.inner.w + 2 * MAP_PAD)
            node.h = MAP_HEADER + node.inner.h + MAP_PAD


def _rank(nodes: dict[str, Node], edges: list[Edge], root: str) -> None:
    """Depth-first discovery order, normal edges before Catch edges: the main path first."""
    out: dict[str, list[Edge]] = {}
    for edge in edges:
        out.setdefault(edge.source, []).append(edge)
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen or name not in nodes:
            return
        seen.add(name)
        order.append(name)
        for edge in sorted(out.get(name, []), key=lambda e: e.catch):
            visit(edge.target)

    visit(root)
    for name in nodes:  # unreachable states still get drawn
        visit(name)
    for index, name in enumerate(order):
        nodes[name].rank = index


def _layer(nodes: dict[str, Node], edges: list[Edge]) -> None:
    """Longest path from the root, over edges that go forward in rank (loops ignored)."""
    forward = [
        e for e in edges if e.target in nodes and nodes[e.target].rank > nodes[e.source].rank
    ]
    for name in sorted(nodes, key=lambda n: nodes[n].rank):
        node = nodes[name]
        preds = [nodes[e.source].layer + 1 for e in forward if e.target == name]
        node.layer = max(preds, default=0)


def _columns(nodes: dict[str, Node], edges: list[Edge]) -> None:
    tails: list[str] = []  # column -> its last node so far
    for name in sorted(nodes, key=lambda n: (nodes[n].layer, nodes[n].rank)):
        node = nodes[name]
        parents = sorted(
            (nodes[e.source] for e in edges if e.target == name and not e.catch),
            key=lambda n: n.rank,
        )
        column = next((p.column for p in parents if tails[p.column] == p.id), None)
        if column is None:
            column = len(tails)
            tails.append(name)
        tails[column] = name
        node.column = column


def _place(layout: Layout) -> None:
    nodes = list(layout.nodes.values())
    ncols = max(n.column for n in nodes) + 1
    nrows = max(n.layer for n in nodes) + 1
    widths = [max((n.w for n in nodes if n.column == c), default=0) for c in range(ncols)]
    heights = [max((n.h for n in nodes if n.layer == r), default=0) for r in range(nrows)]
    labels = [0] * ncols  # the widest Catch label leaving each column
    lane_users = [0] * ncols
    for edge in layout.edges:
        source = layout.nodes[edge.source]
        if edge.catch:
            labels[source.column] = max(
                labels[source.column], text_width(edge.label, SMALL_PX) + 10
            )
        if _routed(layout, edge):
            lane_users[source.column] += 1
    x = 0
    for c in range(ncols):
        layout.columns.append((x, widths[c]))
        layout.lanes.append(x + widths[c] + labels[c] + 12)
        gap = COL_GAP + labels[c] + LANE_STEP * lane_users[c]
        x += widths[c] + (gap if c < ncols - 1 else labels[c] + LANE_STEP * lane_users[c] + 12)
    y = 0
    for r in range(nrows):
        layout.rows.append((y, heights[r]))
        y += heights[r] + (ROW_GAP if r < nrows - 1 else 0)
    layout.w, layout.h = x, y
    for node in nodes:
        cx, cw = layout.columns[node.column]
        node.x = cx + (cw - node.w) // 2
        node.y = layout.rows[node.layer][0]
    # Children move with their Map box.
    for node in nodes:
        if node.inner is not None:
            _shift(node.inner, node.x + (node.w - node.inner.w) // 2, node.y + MAP_HEADER)


def _shift(layout: Layout, dx: int, dy: int) -> None:
    for node in layout.nodes.values():
        node.x += dx
        node.y += dy
        if node.inner is not None:
            _shift(node.inner, dx, dy)
    layout.columns = [(x + dx, w) for x, w in layout.columns]
    layout.rows = [(y + dy, h) for y, h in layout.rows]
    layout.lanes = [x + dx for x in layout.lanes]


def _routed(layout: Layout, edge: Edge) -> bool:
    """Whether an edge needs a lane (anything but a straight drop within a column)."""
    source, target = layout.nodes[edge.source], layout.nodes[edge.target]
    if edge.catch or source.column != target.column or target.layer <= source.layer:
        return True
    return any(
        n.column == source.column and source.layer < n.layer < target.layer
        for n in layout.nodes.values()
    )


# -- drawing --------------------------------------------------------------------------------


def _path(points: list[tuple[int, int]]) -> str:
    cleaned: list[tuple[int, int]] = []
    for p in points:
        if not cleaned or cleaned[-1] != p:
            cleaned.append(p)
    return "M " + " L ".join(f"{x} {y}" for x, y in cleaned)


def _draw_edges(layout: Layout, out: list[str]) -> None:
    lane_index: dict[tuple[int, str], int] = {}  # (column, target) -> lane
    gap_index: dict[tuple[int, str], int] = {}  # (layer, target) -> offset in the gap
    catches: dict[str, list[Edge]] = {}
    normals: dict[str, list[Edge]] = {}
    for edge in layout.edges:
        (catches if edge.catch else normals).setdefault(edge.source, []).append(edge)
    for edge in layout.edges:
        source, target = layout.nodes[edge.source], layout.nodes[edge.target]
        colour = CATCH if edge.catch else EDGE
        dash = ' stroke-dasharray="5 4"' if edge.catch else ""
        if not _routed(layout, edge):
            start = (source.cx, source.bottom)
            points = [start, (source.cx, target.y)]
            # Left of the line, low in the gap: a branch routed right leaves just below.
            label_at = (source.cx - 6 - text_width(edge.label, SMALL_PX), source.bottom + 30)
        else:
            lanes = lane_index
            key = (source.column, edge.target)
            if key not in lanes:
                lanes[key] = sum(1 for k in lanes if k[0] == source.column)
            lane_x = layout.lanes[source.column] + LANE_STEP * lanes[key]
            gkey = (target.layer, edge.target)
            if gkey not in gap_index:
                gap_index[gkey] = sum(1 for k in gap_index if k[0] == target.layer)
            # The middle band of the gap above the target's row (for the first row: above it).
            gap_y = layout.rows[target.layer][0] - ROW_GAP + 12 + 7 * gap_index[gkey]
            # Enter the target a little off its centre when several edges arrive from gaps.
            tx = target.cx + (12 * gap_index[gkey] if edge.catch else 0)
            if edge.catch:
                siblings = catches[edge.source]
                i = siblings.index(edge)
                sy = source.y + source.h // 2 + round((i - (len(siblings) - 1) / 2) * 14)
                if source.inner is not None:  # leave from the Map's header band
                    sy = source.y + 12 + 14 * i
                start = (source.x + source.w, sy)
                points = [start, (lane_x, sy), (lane_x, gap_y), (tx, gap_y), (tx, target.y)]
                label_at = (source.x + source.w + 5, sy - 4)
            else:
                siblings = normals[edge.source]
                i = siblings.index(edge)
                sx = source.cx + 24 * i
                below = source.bottom + 14
                start = (sx, source.bottom)
                if target.layer == source.layer + 1:
                    points = [start, (sx, gap_y), (tx, gap_y), (tx, target.y)]
                else:
                    points = [
                        start, (sx, below), (lane_x, below), (lane_x, gap_y), (tx, gap_y),
                        (tx, target.y),
                    ]  # fmt: skip
                # Above the segment that runs into the target, ending at its arrow.
                label_at = (tx - 6 - text_width(edge.label, SMALL_PX), gap_y - 4)
        arrow = "catch" if edge.catch else "next"
        out.append(
            f'<path d="{_path(points)}" fill="none" stroke="{colour}" stroke-width="1.4"'
            f'{dash} marker-end="url(#arrow-{arrow})"/>'
        )
        if edge.label:
            out.append(_text(*label_at, SMALL_PX, colour, edge.label))


def _text(
    x: int, y: int, px: int, fill: str, text: str, middle: bool = False, bold: bool = False
) -> str:
    anchor = ' text-anchor="middle"' if middle else ""
    weight = ' font-weight="bold"' if bold else ""
    return (
        f'<text x="{x}" y="{y}"{anchor} font-size="{px}"{weight} fill="{fill}">'
        f"{escape(text)}</text>"
    )


def _draw_nodes(layout: Layout, out: list[str], marks: Mapping[str, str] | None = None) -> None:
    """The boxes; with `marks` (state name -> a word, e.g. what happened to it in one
    execution), each state's box is a `<g class="state MARK" data-state="NAME">` that a
    page can style and click ("unreached" for a state without a mark)."""
    for node in sorted(layout.nodes.values(), key=lambda n: n.rank):
        fill, stroke = COLOURS.get(node.kind, COLOURS["Task"])
        if node.kind == "terminal":
            out.append(
                f'<rect x="{node.x}" y="{node.y}" width="{node.w}" height="{node.h}" '
                f'rx="{node.h // 2}" fill="{fill}" stroke="{stroke}"/>'
            )
            ty = node.y + node.h // 2 + 4
            out.append(_text(node.cx, ty, SMALL_PX + 1, "#ffffff", node.title, True, True))
            continue
        if marks is not None:
            mark = quoteattr(f"state {marks.get(node.id, 'unreached')}")
            out.append(f"<g class={mark} data-state={quoteattr(node.id)}>")
        out.append(
            f'<rect x="{node.x}" y="{node.y}" width="{node.w}" height="{node.h}" rx="6" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="1.4"/>'
        )
        if node.inner is not None:
            out.append(
                f'<line x1="{node.x}" y1="{node.y + MAP_HEADER - 8}" x2="{node.x + node.w}" '
                f'y2="{node.y + MAP_HEADER - 8}" stroke="{stroke}" stroke-opacity="0.35"/>'
            )
            ty, sy = node.y + 17, node.y + 30
        else:
            ty, sy = node.y + 19, node.y + 34
        out.append(_text(node.cx, ty, TITLE_PX, "#1f2933", node.title, True, True))
        if node.subtitle:
            out.append(_text(node.cx, sy, SMALL_PX, "#52606d", node.subtitle, True))
        if marks is not None:
            out.append("</g>")
        if node.inner is not None:  # its own edges and states, over its box
            _draw_edges(node.inner, out)
            _draw_nodes(node.inner, out, marks)


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in text.split():
        if line and text_width(f"{line} {word}", SMALL_PX + 1) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line] if line else lines


def render(definition: dict[str, Any], title: str, marks: Mapping[str, str] | None = None) -> str:
    """The SVG document for one definition; `marks`: see `_draw_nodes` (the local
    console marks what each state did in one execution)."""
    layout = build(definition)
    legend_w = 330
    width = max(layout.w, legend_w, 420) + 2 * MARGIN
    comment = _wrap(str(definition.get("Comment", "")), width - 2 * MARGIN)
    header = 26 + 14 * len(comment) + 30
    _shift(layout, MARGIN + (width - 2 * MARGIN - layout.w) // 2, MARGIN + header)
    height = layout.h + header + 2 * MARGIN
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
        _text(MARGIN, MARGIN + 12, 15, "#1f2933", title, bold=True),
    ]
    for i, line in enumerate(comment):
        out.append(_text(MARGIN, MARGIN + 30 + 14 * i, SMALL_PX + 1, "#52606d", line))
    ly = MARGIN + header - 18
    out += [
        f'<line x1="{MARGIN}" y1="{ly}" x2="{MARGIN + 34}" y2="{ly}" stroke="{EDGE}" '
        'stroke-width="1.4" marker-end="url(#arrow-next)"/>',
        _text(MARGIN + 42, ly + 4, SMALL_PX, "#52606d", "next state"),
        f'<line x1="{MARGIN + 120}" y1="{ly}" x2="{MARGIN + 154}" y2="{ly}" stroke="{CATCH}" '
        'stroke-width="1.4" stroke-dasharray="5 4" marker-end="url(#arrow-catch)"/>',
        _text(MARGIN + 162, ly + 4, SMALL_PX, "#52606d", "Catch: the errors it handles"),
    ]
    _draw_edges(layout, out)
    _draw_nodes(layout, out, marks)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def definitions(directory: Path = STATEMACHINE_DIR) -> list[Path]:
    return sorted(directory.glob("*.asl.json"))


def svg_name(definition: Path) -> str:
    return definition.name.removesuffix(".asl.json") + ".svg"


def render_file(path: Path) -> str:
    return render(json.loads(path.read_text(encoding="utf-8")), f"statemachine/{path.name}")


def _drawn(out_dir: Path, directory: Path) -> Iterator[tuple[Path, str]]:
    for definition in definitions(directory):
        yield out_dir / svg_name(definition), render_file(definition)


def stale(out_dir: Path = DIAGRAM_DIR, directory: Path = STATEMACHINE_DIR) -> list[str]:
    """Diagrams missing or different from what their definition renders to."""
    return [
        str(path)
        for path, svg in _drawn(out_dir, directory)
        if not path.exists() or path.read_text(encoding="utf-8") != svg
    ]


def write_all(out_dir: Path = DIAGRAM_DIR, directory: Path = STATEMACHINE_DIR) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path, svg in _drawn(out_dir, directory):
        path.write_text(svg, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":  # `python -m imagepipe.diagram`: the same as `imagepipe diagram`
    from imagepipe.cli import main

    raise SystemExit(main(["diagram", *sys.argv[1:]]))
