"""The state machine definition: the renderer's contract, statelint, and graph sanity."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from statelint.linter import Linter

from infra import asl

# The upload workflow's placeholders, as the program fills them (infra/workflow.py).
VALUES = {
    "InspectFunctionArn": "arn:aws:lambda:eu-west-1:111111111111:function:inspect",
    "ResizeFunctionArn": "arn:aws:lambda:eu-west-1:111111111111:function:resize",
    "BackupBucketName": "backup-bucket",
    "TopicArn": "arn:aws:sns:eu-west-1:111111111111:processed",
    "DeadLetterQueueUrl": "https://sqs.eu-west-1.amazonaws.com/111111111111/dlq",
    "MapMaxConcurrency": 7,
    "CatalogueTableName": "catalogue",
    "ContentHashIndexName": "content-hash",
    "DestinationBucketName": "renditions-bucket",
    "ManifestFunctionArn": "arn:aws:lambda:eu-west-1:111111111111:function:manifest",
    "DistributionId": "E2EXAMPLE",
}


FILES = [asl.DEFINITION_FILE, asl.BACKFILL_FILE, asl.REMOVAL_FILE]


def rendered() -> dict[str, Any]:
    return json.loads(asl.render_file(VALUES))  # type: ignore[no-any-return]


def sample_values(path: Path) -> dict[str, Any]:
    """A plausible value for every placeholder of a definition file."""
    values: dict[str, Any] = {}
    for name in asl.placeholders(path.read_text()):
        if name.endswith("Concurrency"):
            values[name] = 5
        elif name == "ChildExecutionType":
            values[name] = "EXPRESS"
        elif name.endswith("Arn"):
            values[name] = VALUES.get(name, "arn:aws:sns:eu-west-1:111111111111:x")
        elif name.endswith("Url"):
            values[name] = VALUES["DeadLetterQueueUrl"]
        else:
            values[name] = f"bucket-{name.lower()}"
    return values


def all_state_maps(machine: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The top-level States and those of every Map/Parallel inside."""
    yield machine["States"]
    for state in machine["States"].values():
        if "ItemProcessor" in state:
            yield from all_state_maps(state["ItemProcessor"])
        for branch in state.get("Branches", []):
            yield from all_state_maps(branch)


def test_renders_every_placeholder_with_its_json_type() -> None:
    text = asl.render_file(VALUES)
    assert "${" not in text
    machine = json.loads(text)
    assert machine["States"]["Make renditions"]["MaxConcurrency"] == 7
    # Context-object paths survive untouched (string.Template would mangle them).
    payload = machine["States"]["Inspect upload"]["Parameters"]["Payload"]
    assert payload["execution"]["id.$"] == "$$.Execution.Id"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_statelint_finds_no_problem(path: Path) -> None:
    assert Linter.validate(asl.render_file(sample_values(path), path)) == []


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_transition_names_an_existing_state(path: Path) -> None:
    machine = json.loads(asl.render_file(sample_values(path), path))
    for states in all_state_maps(machine):
        for name, state in states.items():
            targets = [state.get("Next"), state.get("Default")]
            targets += [c["Next"] for c in state.get("Catch", [])]
            targets += [c["Next"] for c in state.get("Choices", [])]
            for target in filter(None, targets):
                assert target in states, f"{name} -> {target}"
            terminal = state.get("End") or state["Type"] in {"Fail", "Succeed", "Choice"}
            assert "Next" in state or terminal, name


def test_no_state_passes_image_bytes() -> None:
    """Inputs and outputs carry keys and numbers: the payloads are built from the
    inspect result, never from a GetObject body."""
    paths: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key.endswith(".$") and isinstance(value, str):
                    paths.append(value)
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    machine = rendered()
    collect(machine)
    assert paths and not [p for p in paths if "Body" in p]
    assert "s3:getObject" not in json.dumps(machine)


def test_unfilled_and_unknown_placeholders_raise() -> None:
    incomplete = dict(VALUES)
    del incomplete["TopicArn"]
    with pytest.raises(asl.DefinitionError, match="TopicArn"):
        asl.render_file(incomplete)
    with pytest.raises(asl.DefinitionError, match="Extra"):
        asl.render_file({**VALUES, "Extra": "x"})


def test_embedded_placeholders_and_dollar_paths() -> None:
    template = '{"a": "${X}", "b": "pre-${Y}-post", "c.$": "$$.Execution.Id", "d": "$notme"}'
    out = json.loads(asl.render(template, {"X": [1, 2], "Y": 3}))
    assert out == {"a": [1, 2], "b": "pre-3-post", "c.$": "$$.Execution.Id", "d": "$notme"}


def test_a_value_that_smuggles_a_placeholder_is_refused() -> None:
    with pytest.raises(asl.DefinitionError, match="survived"):
        asl.render('{"a": "${X}"}', {"X": "${Y}"})


def test_invalid_template_json_is_a_definition_error() -> None:
    with pytest.raises(asl.DefinitionError, match="not valid JSON"):
        asl.render('{"a": "${X}"', {"X": 1})


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_task_is_caught_or_is_a_dead_letter_sender(path: Path) -> None:
    machine = json.loads(asl.render_file(sample_values(path), path))
    for states in all_state_maps(machine):
        for name, state in states.items():
            if state["Type"] not in {"Task", "Map"} or name == "Resize":
                continue  # Resize fails its Map, whose Catch handles it
            if name.startswith("Dead-letter"):
                assert state["Retry"] and states[state["Next"]]["Type"] == "Fail", name
                continue
            errors = [e for c in state.get("Catch", []) for e in c["ErrorEquals"]]
            if (
                state["Type"] == "Map"
                and state["ItemProcessor"]["ProcessorConfig"].get("Mode") == "DISTRIBUTED"
            ):
                assert state["ToleratedFailurePercentage"] == 100  # children dead-letter themselves
                continue
            assert "States.ALL" in errors, f"{path.name}: {name} has no catch-all"
