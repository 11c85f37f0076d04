"""The timeline over previousEventId chains in the shapes the local stack's Step
Functions (moto's interpreter) writes beyond the recorded fixtures: a Map whose next
iteration starts from the last event of the one before (MaxConcurrency below the item
count, e.g. the stack setting mapMaxConcurrency 1), and a Map failing inside an
iteration of another, whose own MapStateFailed follows the inner one's. Event ids and
links as moto wrote them for these definitions (Pass and Fail states only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from imagepipe.executions import ExecutionInfo, timeline

START = datetime(2026, 1, 1, tzinfo=UTC)
INFO = ExecutionInfo.from_description(
    {
        "executionArn": "arn:aws:states:us-east-1:123456789012:execution:m:x",
        "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:m",
        "name": "x",
        "status": "SUCCEEDED",
        "startDate": START,
        "input": "{}",
    }
)
_DETAILS = {"StateEntered": "stateEnteredEventDetails", "StateExited": "stateExitedEventDetails"}


def events(*rows: tuple[int, str, dict[str, Any]]) -> list[dict[str, Any]]:
    """History events from (previousEventId, type, details), ids from 1."""
    found = []
    for eid, (prev, kind, details) in enumerate(rows, start=1):
        event: dict[str, Any] = {
            "id": eid,
            "previousEventId": prev,
            "type": kind,
            "timestamp": START + timedelta(seconds=eid),
        }
        if details:
            suffix = next((s for s in _DETAILS if kind.endswith(s)), None)
            event[_DETAILS[suffix] if suffix else f"{kind[:1].lower()}{kind[1:]}EventDetails"] = (
                details
            )
        found.append(event)
    return found


def state(name: str, **more: Any) -> dict[str, Any]:
    return {"name": name, "input": "{}", **more}


def test_iterations_started_one_after_another_are_siblings() -> None:
    history = events(
        (0, "ExecutionStarted", {}),
        (0, "MapStateEntered", state("M")),  # 2
        (2, "MapStateStarted", {"length": 3}),  # 3
        (3, "MapIterationStarted", {"name": "M", "index": 0}),  # 4
        (4, "PassStateEntered", state("W")),  # 5
        (5, "PassStateExited", {"name": "W", "output": "1"}),  # 6
        (6, "MapIterationSucceeded", {"name": "M", "index": 0}),  # 7
        (6, "MapIterationStarted", {"name": "M", "index": 1}),  # 8: from iteration 0's exit
        (8, "PassStateEntered", state("W")),  # 9
        (9, "PassStateExited", {"name": "W", "output": "2"}),  # 10
        (10, "MapIterationSucceeded", {"name": "M", "index": 1}),  # 11
        (10, "MapIterationStarted", {"name": "M", "index": 2}),  # 12
        (12, "PassStateEntered", state("W")),  # 13
        (13, "PassStateExited", {"name": "W", "output": "3"}),  # 14
        (14, "MapIterationSucceeded", {"name": "M", "index": 2}),  # 15
        (15, "MapStateSucceeded", {}),  # 16
        (15, "MapStateExited", {"name": "M", "output": "[1, 2, 3]"}),  # 17
        (17, "PassStateEntered", state("H")),  # 18
        (18, "PassStateExited", {"name": "H", "output": "{}"}),  # 19
        (19, "ExecutionSucceeded", {}),
    )
    steps = timeline(history, INFO)
    assert [(s.name, s.depth, s.map, s.iteration) for s in steps] == [
        ("M", 0, None, None),
        ("W", 1, "M", 0),
        ("W", 1, "M", 1),
        ("W", 1, "M", 2),
        ("H", 0, None, None),
    ]
    assert [s.output for s in steps] == [[1, 2, 3], 1, 2, 3, {}]
    assert all(s.exited is not None for s in steps)


def test_a_map_failing_inside_another_fails_that_one_too() -> None:
    history = events(
        (0, "ExecutionStarted", {}),
        (0, "MapStateEntered", state("Outer")),  # 2
        (2, "MapStateStarted", {"length": 1}),  # 3
        (3, "MapIterationStarted", {"name": "Outer", "index": 0}),  # 4
        (4, "MapStateEntered", state("Inner")),  # 5
        (5, "MapStateStarted", {"length": 1}),  # 6
        (6, "MapIterationStarted", {"name": "Inner", "index": 0}),  # 7
        (7, "FailStateEntered", state("W")),  # 8
        (8, "MapIterationFailed", {"name": "Inner", "index": 0}),  # 9
        (8, "MapStateFailed", {}),  # 10: Inner
        (10, "MapIterationFailed", {"name": "Outer", "index": 0}),  # 11
        (10, "MapStateFailed", {}),  # 12: Outer, after Inner's
        (12, "MapStateExited", {"name": "Outer", "output": '{"Error": "Boom", "Cause": "c"}'}),
        (13, "PassStateEntered", state("H")),  # 14
        (14, "PassStateExited", {"name": "H", "output": "{}"}),  # 15
        (15, "ExecutionSucceeded", {}),
    )
    by_name = {s.name: s for s in timeline(history, INFO)}
    outer, inner, handler = by_name["Outer"], by_name["Inner"], by_name["H"]
    assert (outer.error, outer.cause, outer.exited is not None) == ("Boom", "c", True)
    assert (inner.error, inner.exited, inner.output) == ("failed", None, None)
    assert (handler.depth, handler.map) == (0, None)
