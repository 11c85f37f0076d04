"""Rules live once: the states the backfill and removal workflows share with the upload
workflow are the upload workflow's, copied verbatim, and stay so.

Why copies and a test rather than fragments the renderer includes: every reader of
statemachine/*.asl.json takes a file as complete ASL (the diagrams, the worst-case
durations, the retry tests, statelint, a person reading one workflow), and an include
syntax would make each of them go through the renderer first. So statemachine/pipeline.asl.json
is where a shared rule is written, and this test holds the other files to it: a state of
the same name is the same state, and every S3 call follows the upload workflow's pattern
(transient errors retried, a 5xx in S3.S3Exception tried again, anything else dead-lettered).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest

from infra import asl

REFERENCE: Final = asl.DEFINITION_FILE
OTHERS: Final = [asl.BACKFILL_FILE, asl.REMOVAL_FILE]
# Shared states that sit elsewhere in another graph: these keys say where, not what.
PLACED_DIFFERENTLY: Final = {
    # The backfill records the rejections it finds without notifying (Remember rejection).
    ("backfill.asl.json", "Name the reason"): {"Next"},
    # It records what it processed over no record or one of the same version only
    # (Remember renditions), and does not notify.
    ("backfill.asl.json", "Stale in the CDN?"): {"Default"},
    ("backfill.asl.json", "Invalidate stale renditions"): {"Next", "Catch"},
    ("removal.asl.json", "Stale in the CDN?"): {"Default"},
    # The removal workflow records no failure: its catch-all dead-letters the error as
    # caught (at $), as every other state of that file does.
    ("removal.asl.json", "Invalidate stale renditions"): {"Next", "Catch"},
}
# The state that records a failure where the upload workflow's "Record failure" would:
# the backfill records one over no record or a failed one of the same version only (an
# upload's record is its own), so it has a state of its own; a shared state leading
# there leads where the upload workflow's does (the same errors, caught at the same path).
FAILURE_RECORDER: Final = {"backfill.asl.json": "Remember failure"}
# Copies that have drifted, known and to be brought in line (each entry must still be
# drift, so aligning a state fails here until its entry goes). Since a6433c3 the upload
# workflow records a failure in the catalogue before dead-lettering it, carries it at
# $.error, and ends a rejection as recorded (Succeed). The backfill does the same with
# writes of its own (Remember rejection, Remember renditions, Remember failure: it has no
# S3 event's sequencer to condition on, so they condition on the version), and its
# "Rejected" is a Succeed that records without notifying. The removal workflow records
# deletions only, and still dead-letters a failure as it caught it.
KNOWN_DRIFT: Final = {
    "backfill.asl.json": frozenset({"Rejected"}),  # a Succeed that records, no notification
    "removal.asl.json": frozenset(
        {
            "Delete renditions",  # its S3 error handling
            "Delete backup",  # its S3 error handling
            "Dead-letter failure",
            "Failed",
            "Read S3 error",
            "Read rejection",
            "Rejected",
        }
    ),
}
# The upload workflow's S3 call whose error handling every S3 call repeats.
S3_CALL: Final = "Back up original"
S3_SDK: Final = "arn:aws:states:::aws-sdk:s3:"


def states(machine: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, those inside Maps too."""
    for name, state in machine["States"].items():
        yield name, state
        if "ItemProcessor" in state:
            yield from states(state["ItemProcessor"])


def by_name(path: Path) -> dict[str, dict[str, Any]]:
    return dict(states(json.loads(path.read_text(encoding="utf-8"))))


def differences(reference: dict[str, Any], other: dict[str, Any], file: str) -> list[str]:
    """States of `other` that share a name with `reference` but not its content."""
    found = []
    recorder = FAILURE_RECORDER.get(file)

    def as_upload(node: Any) -> Any:
        """The state with its own failure recorder named as the upload workflow's."""
        if isinstance(node, dict):
            return {
                k: "Record failure" if k == "Next" and v == recorder else as_upload(v)
                for k, v in node.items()
            }
        return [as_upload(v) for v in node] if isinstance(node, list) else node

    for name in sorted(set(reference) & set(other) - KNOWN_DRIFT.get(file, frozenset())):
        placed = PLACED_DIFFERENTLY.get((file, name), set())
        mine = {k: v for k, v in as_upload(other[name]).items() if k not in placed}
        theirs = {k: v for k, v in reference[name].items() if k not in placed}
        if mine != theirs:
            keys = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
            found.append(f"{file}: {name!r} differs from the upload workflow's in {keys}")
    return found


def s3_pattern(machine: dict[str, dict[str, Any]], call: str) -> str:
    """How an S3 call handles errors (its retries, catches, the 5xx choice and the retried
    call), with the call itself (its name, API and parameters) left out."""
    first, choice, again = machine[call], machine[f"{call}: S3 busy?"], machine[f"{call} again"]

    def handling(state: dict[str, Any], *dropped: str) -> dict[str, Any]:
        # Where a catch-all leads is the workflow's own business (how it records a
        # failure); which errors are retried, caught and tried again is the shared rule.
        kept = {k: v for k, v in state.items() if k not in {"Resource", "Parameters", "Next"}}
        kept["Catch"] = [
            rule if rule["Next"].startswith(call) else {**rule, "Next": "<workflow's own>"}
            for rule in state.get("Catch", [])
        ]
        return {k: v for k, v in kept.items() if k not in dropped}

    pattern = [handling(first, "Comment"), choice, handling(again)]
    return json.dumps(pattern, sort_keys=True).replace(call, "<call>")


def s3_calls(machine: dict[str, dict[str, Any]]) -> list[str]:
    return [
        name
        for name, state in machine.items()
        if str(state.get("Resource", "")).startswith(S3_SDK) and not name.endswith(" again")
    ]


@pytest.mark.parametrize("path", OTHERS, ids=lambda p: p.name)
def test_states_shared_with_the_upload_workflow_are_its_own(path: Path) -> None:
    reference, other = by_name(REFERENCE), by_name(path)
    shared = set(reference) & set(other)
    # Not vacuous: at least the dead-letter sender, the last resort of every workflow.
    assert "Dead-letter failure" in shared
    assert differences(reference, other, path.name) == [], (
        "copy the upload workflow's state into this file, or give a state that must "
        "differ its own name (or list it in PLACED_DIFFERENTLY, saying why)"
    )


@pytest.mark.parametrize("path", OTHERS, ids=lambda p: p.name)
def test_every_s3_call_handles_errors_as_the_upload_workflow_does(path: Path) -> None:
    reference, other = by_name(REFERENCE), by_name(path)
    calls = s3_calls(other)
    assert calls, path.name
    for call in sorted(set(calls) - KNOWN_DRIFT[path.name]):
        assert s3_pattern(other, call) == s3_pattern(reference, S3_CALL), f"{path.name}: {call}"


@pytest.mark.parametrize("path", OTHERS, ids=lambda p: p.name)
def test_every_known_drift_is_still_drift(path: Path) -> None:
    reference, other = by_name(REFERENCE), by_name(path)
    calls = s3_calls(other)
    aligned = []
    for name in sorted(KNOWN_DRIFT[path.name]):
        same_state = name not in reference or other.get(name) == reference[name]
        same_handling = name not in calls or s3_pattern(other, name) == s3_pattern(
            reference, S3_CALL
        )
        if same_state and same_handling:
            aligned.append(name)
    assert aligned == [], f"{path.name}: in line again, drop from KNOWN_DRIFT: {aligned}"


def test_a_copy_that_drifts_is_found() -> None:
    reference = by_name(asl.REMOVAL_FILE)
    drifted = copy.deepcopy(reference)
    drifted["Dead-letter failure"]["Retry"][0]["MaxAttempts"] += 1
    assert differences(reference, drifted, "copy.asl.json") == [
        "copy.asl.json: 'Dead-letter failure' differs from the upload workflow's in ['Retry']"
    ]
    call = s3_calls(drifted)[0]
    drifted[f"{call} again"]["Retry"][0]["ErrorEquals"].append("States.ALL")
    assert s3_pattern(drifted, call) != s3_pattern(reference, call)
