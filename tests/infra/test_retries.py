"""Retry only what may pass: every retrier in every definition names transient errors.

AWS SDK integrations name an error <Service>.<Exception>: a modelled S3 error has its
own name (S3.NoSuchKeyException, S3.NoSuchBucketException), every other S3 error code,
throttling and outages as well as AccessDenied, arrives as S3.S3Exception with the HTTP
status in its cause. So S3.S3Exception is retried only where the status said 5xx.
https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest

from infra import asl
from tests.infra.test_definition import FILES, all_state_maps, sample_values

# Names that match permanent failures as well as transient ones.
CATCH_ALL: Final = frozenset(
    {"States.ALL", "States.TaskFailed", "S3.S3Exception", "SNS.SnsException"}
)
SERVER_ERROR: Final = "*Status Code: 5*"


def machine(path: Path) -> dict[str, Any]:
    return json.loads(asl.render_file(sample_values(path), path))  # type: ignore[no-any-return]


def edges_into(states: dict[str, Any], target: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(source state, the Next/Catch/Choice rule) for every transition into `target`."""
    for name, state in states.items():
        if state.get("Next") == target or state.get("Default") == target:
            yield name, {"Next": target}
        for rule in state.get("Catch", []) + state.get("Choices", []):
            if rule["Next"] == target:
                yield name, rule


def is_dead_letter_sender(states: dict[str, Any], state: dict[str, Any]) -> bool:
    """The last resort: it sends the dead letter, then the execution fails."""
    return state.get("Resource") == "arn:aws:states:::sqs:sendMessage" and (
        states[state["Next"]]["Type"] == "Fail"
    )


def reached_only_after_a_server_error(states: dict[str, Any], name: str) -> bool:
    edges = list(edges_into(states, name))
    return bool(edges) and all(
        states[source]["Type"] == "Choice" and rule.get("StringMatches") == SERVER_ERROR
        for source, rule in edges
    )


def catch_all_retries(path: Path) -> list[str]:
    """'<state>: <name>' for each catch-all name a retrier lists where it may not."""
    found = []
    for states in all_state_maps(machine(path)):
        for name, state in states.items():
            allowed: set[str] = set()
            if is_dead_letter_sender(states, state):
                allowed.add("States.ALL")
            if reached_only_after_a_server_error(states, name):
                allowed.add("S3.S3Exception")
            for retrier in state.get("Retry", []):
                found += [
                    f"{name}: {e}" for e in retrier["ErrorEquals"] if e in CATCH_ALL - allowed
                ]
    return found


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_retriers_name_no_catch_all_error(path: Path) -> None:
    assert catch_all_retries(path) == []


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_an_s3_error_is_tried_again_only_after_a_5xx(path: Path) -> None:
    """Each S3 call catches S3.S3Exception into a Choice on the status in the cause:
    5xx to the same call again (with its retries), anything else to the dead letter."""
    for states in all_state_maps(machine(path)):
        for name, state in states.items():
            if not state.get("Resource", "").startswith("arn:aws:states:::aws-sdk:s3:"):
                continue
            if reached_only_after_a_server_error(states, name):
                continue  # the "again" call
            [s3_catch] = [c for c in state["Catch"] if c["ErrorEquals"] == ["S3.S3Exception"]]
            assert state["Catch"].index(s3_catch) == 0, name  # before the States.ALL catch
            choice = states[s3_catch["Next"]]
            assert choice["Type"] == "Choice", name
            [server] = [c for c in choice["Choices"] if c.get("StringMatches") == SERVER_ERROR]
            again = states[server["Next"]]
            assert {k: v for k, v in again.items() if k not in {"Retry", "Comment"}} == {
                k: v for k, v in state.items() if k not in {"Retry", "Comment", "Catch"}
            } | {"Catch": [c for c in state["Catch"] if c is not s3_catch]}, name
            # Anything else (and a failure without a cause) is dead-lettered as it is.
            give_up = states[choice["Default"]]
            assert give_up["InputPath"] == s3_catch["ResultPath"], name
            # (recorded in the catalogue first where the workflow has one; the backfill
            # has a failure recorder of its own, see tests/infra/test_shared_states.py)
            recorders = {"Dead-letter failure", "Record failure", "Remember failure"}
            assert give_up["Next"] in recorders, name


def test_the_cause_format_the_choice_reads_is_the_sdk_integrations() -> None:
    """The local stack's interpreter writes the cause as AWS does: '<message> (Service:
    S3, Status Code: 503, ...)'; a 403 does not match, a 503 does."""
    from fnmatch import fnmatchcase

    denied = "Access Denied (Service: S3, Status Code: 403, Request ID: X)"
    slow = "Please reduce your request rate. (Service: S3, Status Code: 503, Request ID: X)"
    assert not fnmatchcase(denied, SERVER_ERROR)
    assert fnmatchcase(slow, SERVER_ERROR)
