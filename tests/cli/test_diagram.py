"""docs/diagrams/*.svg are drawn from statemachine/*.asl.json by `imagepipe diagram`, and
must match what the current definitions draw (regenerate with `imagepipe diagram`)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from imagepipe import diagram

DEFINITIONS = diagram.definitions()


def all_states(definition: dict[str, object]) -> list[str]:
    names: list[str] = []
    states = definition["States"]
    assert isinstance(states, dict)
    for name, state in states.items():
        names.append(name)
        inner = state.get("ItemProcessor") or state.get("Iterator")
        if inner:
            names += all_states(inner)
    return names


def test_there_is_a_diagram_per_definition() -> None:
    names = {p.name.removesuffix(".asl.json") for p in DEFINITIONS}
    assert {"pipeline", "backfill", "removal"} <= names
    drawn = {p.stem for p in diagram.DIAGRAM_DIR.glob("*.svg")}
    assert drawn == names


@pytest.mark.parametrize("definition", DEFINITIONS, ids=lambda p: p.name)
def test_the_committed_diagram_is_current(definition: Path) -> None:
    committed = diagram.DIAGRAM_DIR / diagram.svg_name(definition)
    assert committed.exists(), f"{committed} is missing: run `imagepipe diagram`"
    assert committed.read_text(encoding="utf-8") == diagram.render_file(definition), (
        f"{committed} is out of date with {definition.name}: run `imagepipe diagram` "
        "(or python -m imagepipe.diagram) and commit the result"
    )


@pytest.mark.parametrize("definition", DEFINITIONS, ids=lambda p: p.name)
def test_every_state_is_drawn_in_valid_svg(definition: Path) -> None:
    svg = diagram.render_file(definition)
    root = ET.fromstring(svg)
    texts = {el.text for el in root.iter("{http://www.w3.org/2000/svg}text")}
    for name in all_states(json.loads(definition.read_text())):
        assert name in texts
    assert svg == diagram.render_file(definition)  # deterministic


def test_check_mode_reports_a_stale_diagram(tmp_path: Path) -> None:
    diagram.write_all(tmp_path)
    assert diagram.stale(tmp_path) == []
    (tmp_path / "pipeline.svg").write_text("<svg/>")
    assert diagram.stale(tmp_path) == [str(tmp_path / "pipeline.svg")]


def test_json_says_what_was_checked(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Bug 6: diagram had no --json."""
    from tests.cli.conftest import run

    diagram.write_all(tmp_path)
    (tmp_path / "backfill.svg").write_text("<svg/>")
    result = run(capsys, "diagram", "--check", "--out", str(tmp_path), "--json")
    assert result.code == 1
    assert result.json() == {
        "out": str(tmp_path), "check": True, "written": [], "stale": [str(tmp_path / "backfill.svg")]
    }  # fmt: skip


def test_marks_group_each_state_for_the_console() -> None:
    """With marks, each state is a <g class="state MARK" data-state="NAME"> (the local
    console colours and clicks them); the Map's inner states too; unmarked ones say so."""
    path = next(p for p in DEFINITIONS if p.name == "pipeline.asl.json")
    definition = json.loads(path.read_text(encoding="utf-8"))
    svg = diagram.render(definition, "t", {"Inspect upload": "succeeded", "Resize": "caught"})
    groups = {
        g.get("data-state"): g.get("class")
        for g in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}g")
    }
    assert set(groups) == set(all_states(definition))
    assert groups["Inspect upload"] == "state succeeded"
    assert groups["Resize"] == "state caught"
    assert groups["Failed"] == "state unreached"
    assert "data-state" not in diagram.render(definition, "t")  # the docs' diagrams: plain


def test_choice_rules_to_one_state_keep_both_tests() -> None:
    """Two rules leading to the same state share one arrow labelled with both tests (the
    backfill's 'Anything to make?'); a rule leading where Default does is 'otherwise'."""
    choice = {
        "Type": "Choice",
        "Choices": [
            {"Variable": "$.a", "IsPresent": True, "Next": "Make"},
            {"Variable": "$.b", "IsPresent": True, "Next": "Make"},
            {"Variable": "$.c", "IsPresent": True, "Next": "Skip"},
        ],
        "Default": "Skip",
    }
    edges = {(e.target, e.label) for e in diagram._edges("Pick", choice, None)}
    assert edges == {("Make", "$.a present or $.b present"), ("Skip", "otherwise")}
