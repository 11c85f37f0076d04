"""Faults injected into the local stack (imagepipe.local.faults): what may pass with a
retry passes (renditions, one notification, nothing dead-lettered); what will not ends
as a FAILED execution and exactly one dead-letter message saying why.

Keyed faults (S3, SNS: one upload's key each) run side by side in one batch; the
Lambda faults (per function) one after another. See stack_runs.SCENARIOS.
"""

from __future__ import annotations

import pytest

from imagepipe.local.stack import LocalStack
from tests.reliability.stack_runs import SCENARIOS, Scenario, ScenarioRun, run_scenarios

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def runs(stack: LocalStack) -> dict[str, ScenarioRun]:
    return {run.scenario.name: run for run in run_scenarios(stack, SCENARIOS)}


def _param(scenario: Scenario) -> object:
    marks = [pytest.mark.xfail(reason=scenario.xfail, strict=True)] if scenario.xfail else []
    return pytest.param(scenario, id=scenario.name, marks=marks)


@pytest.mark.parametrize("scenario", [_param(s) for s in SCENARIOS if s.expect == "SUCCEEDED"])
def test_a_transient_fault_is_retried_until_it_passes(
    runs: dict[str, ScenarioRun], stack: LocalStack, scenario: Scenario
) -> None:
    run = runs[scenario.name]
    observed = run.observed
    assert observed.status == "SUCCEEDED", (observed.outcome, run.task_failures)
    assert len(observed.executions) == 1
    assert len(observed.renditions) == len(stack.settings.renditions)
    assert observed.notifications == 1
    assert observed.dead_letters == []
    assert run.raised is not None and run.raised >= 1  # the fault did fire
    if scenario.failures is not None:
        assert tuple(run.task_failures) == scenario.failures
    assert len(run.retry_delays) == len(run.task_failures)


@pytest.mark.parametrize("scenario", [_param(s) for s in SCENARIOS if s.expect == "FAILED"])
def test_a_permanent_fault_ends_in_the_dlq_with_a_reason(
    runs: dict[str, ScenarioRun], scenario: Scenario
) -> None:
    run = runs[scenario.name]
    observed = run.observed
    execution = run.execution
    assert execution is not None and execution.status == "FAILED"
    assert len(observed.executions) == 1
    [letter] = observed.dead_letters
    assert (letter.kind, letter.reason) == ("failed", "processing_error")
    assert letter.execution_arn == execution.arn
    assert letter.body["error"] == execution.error
    assert letter.body["message"]  # the cause, for a person
    assert observed.notifications == 0
    if scenario.failures is not None:
        assert tuple(run.task_failures) == scenario.failures


def test_each_transient_fault_was_used_up(runs: dict[str, ScenarioRun]) -> None:
    """Every injected failure was met, and retried past."""
    for run in runs.values():
        if run.scenario.expect == "SUCCEEDED" and not run.scenario.xfail:
            assert run.raised == run.times, run.scenario.name
