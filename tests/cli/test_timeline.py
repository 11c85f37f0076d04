"""The execution timeline over recorded history documents (tests/cli/fixtures): what
`show` and the demo print, tested without a stack. The fixtures are DescribeExecution and
GetExecutionHistory answers recorded from the local stack (fixtures/record.py), plus one
written by hand in the shapes AWS documents."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from imagepipe.executions import FAILED_STATUSES, STATUSES, ExecutionInfo, Step, timeline

FIXTURES = Path(__file__).parent / "fixtures"


def _dates(value: Any) -> Any:
    """The recorded ISO timestamps as the datetimes boto3 returns."""
    if isinstance(value, dict):
        return {
            k: datetime.fromisoformat(v)
            if k in {"timestamp", "startDate", "stopDate"} and isinstance(v, str)
            else _dates(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_dates(v) for v in value]
    return value


def load(name: str) -> tuple[ExecutionInfo, list[Step]]:
    document = _dates(json.loads((FIXTURES / f"{name}.json").read_text()))
    info = ExecutionInfo.from_description(document["execution"])
    return info, timeline(document["events"], info)


def rows(steps: list[Step]) -> list[tuple[str, int, str | None]]:
    return [(s.name, s.depth, s.item) for s in steps]


RENDITIONS = [("Resize", 1, name) for name in ("thumb", "medium", "large")]


def test_a_successful_upload() -> None:
    info, steps = load("succeeded")
    assert info.status == "SUCCEEDED" and info.outcome is None
    assert rows(steps) == [
        ("Inspect upload", 0, None), ("Back up original", 0, None),
        ("Make renditions", 0, None), *RENDITIONS, ("Notify", 0, None),
    ]  # fmt: skip
    assert all(s.exited is not None and s.error is None for s in steps)
    assert [s.iteration for s in steps if s.name == "Resize"] == [0, 1, 2]
    assert all(s.attempts == 1 and s.retries == 0 for s in steps if s.type == "Task")
    assert {r["name"] for r in info.renditions} == {"thumb", "medium", "large"}
    # Each state's input and output, parsed, as the console shows them.
    resizes = [s for s in steps if s.name == "Resize"]
    assert [s.output["name"] for s in resizes] == ["thumb", "medium", "large"]
    assert all(s.input["source"]["key"] == info.key for s in resizes)
    assert steps[0].to_dict(info.started)["output"] == steps[0].output


def test_a_retried_resize_shows_its_retry_and_no_error() -> None:
    _, steps = load("retried")
    resizes = [s for s in steps if s.name == "Resize"]
    assert sum(s.retries for s in resizes) == 1
    assert all(s.error is None for s in steps)
    assert sorted(str(s.item) for s in resizes) == ["large", "medium", "thumb"]


def test_a_rejected_upload() -> None:
    info, steps = load("rejected")
    assert info.outcome is not None
    assert (info.outcome.kind, info.outcome.reason) == ("rejected", "not_an_image")
    by_name = {s.name: s for s in steps}
    assert by_name["Inspect upload"].error == "ImageRejected"
    assert by_name["Rejected"].type == "Fail"
    assert by_name["Rejected"].error == "ImageRejected"
    assert by_name["Rejected"].exited is not None  # a Fail state ends with the execution


def test_failed_iterations_end_where_they_failed() -> None:
    info, steps = load("map-failed")
    assert info.outcome is not None and info.outcome.reason == "processing_error"
    assert [(s.name, s.depth) for s in steps] == [
        ("Inspect upload", 0), ("Back up original", 0), ("Make renditions", 0),
        *[("Resize", 1)] * 3, ("Dead-letter failure", 0), ("Failed", 0),
    ]  # fmt: skip
    by_name = {s.name: s for s in steps}
    assert by_name["Make renditions"].error == "RuntimeError"
    assert by_name["Failed"].error == "RuntimeError"
    assert all(s.error == "RuntimeError" and s.exited for s in steps if s.name == "Resize")


def test_the_hand_checked_map() -> None:
    """Interleaved iterations: thumb fails once and is retried to success; large fails
    twice and ends the Map, whose Catch error and cause come from its exit's output."""
    info, steps = load("map-iteration-retried-and-failed")
    assert rows(steps) == [
        ("Inspect upload", 0, None), ("Make renditions", 0, None),
        ("Resize", 1, "thumb"), ("Resize", 1, "large"),
        ("Dead-letter failure", 0, None), ("Failed", 0, None),
    ]  # fmt: skip
    thumb, large = steps[2], steps[3]
    assert (thumb.attempts, thumb.retries, thumb.error) == (2, 1, None)
    assert thumb.seconds == pytest.approx(1.66)
    assert (large.attempts, large.retries, large.error) == (2, 1, "RuntimeError")
    assert large.cause == "disk full"  # a Lambda error's errorMessage, not its JSON
    assert large.seconds == pytest.approx(1.95)  # it ended where it failed
    make = steps[1]
    assert (make.error, make.cause) == ("RuntimeError", "disk full")
    assert make.seconds == pytest.approx(2.01)
    failed = steps[-1]
    assert (failed.type, failed.error, failed.cause) == ("Fail", "RuntimeError", "disk full")
    assert info.outcome is not None and info.outcome.kind == "failed"
    assert [s.to_dict(info.started)["offsetSeconds"] for s in steps[:2]] == [0.05, 0.92]


@pytest.mark.parametrize("status", [*STATUSES, "PENDING_REDRIVE"])
def test_only_a_failed_status_has_an_outcome_without_output(status: str) -> None:
    """An execution that ended FAILED, TIMED_OUT or ABORTED (FAILED_STATUSES) did not
    process its upload; one still running, waiting for a redrive or SUCCEEDED without a
    recorded rejection did or may yet. Its status also decides whether it is done."""
    started = datetime.fromisoformat("2026-01-01T00:00:00+00:00")
    described = {"executionArn": "arn", "name": "n", "status": status, "startDate": started}
    info = ExecutionInfo.from_description(described)
    failed = status in FAILED_STATUSES
    assert (info.outcome is not None) == failed
    assert info.done == (failed or status == "SUCCEEDED")
    if info.outcome is not None:
        reason = "processing_error" if status == "FAILED" else status.lower()
        assert (info.outcome.kind, info.outcome.reason) == ("failed", reason)
