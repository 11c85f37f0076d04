"""Every way an execution can end badly pages someone, for every state machine."""

from __future__ import annotations

from typing import Any

import pytest

from infra.settings import Settings
from tests.infra.conftest import Deployed

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
STATE_MACHINE = "aws:sfn/stateMachine:StateMachine"
METRICS = {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted", "ExecutionThrottled"}


@pytest.mark.parametrize("delete_derivatives", [False, True], ids=["default", "removals"])
def test_each_state_machine_alarms_on_failed_timed_out_aborted_and_throttled(
    deploy_with: Any, delete_derivatives: bool
) -> None:
    deployed: Deployed = deploy_with(Settings(delete_derivatives=delete_derivatives))
    topic = deployed.one("aws:sns/topic:Topic", "-alarms").outputs["arn"]
    machines = {m.outputs["arn"] for m in deployed.of_type(STATE_MACHINE)}
    assert len(machines) == (3 if delete_derivatives else 2)
    watched: dict[str, set[str]] = {arn: set() for arn in machines}
    for alarm in deployed.of_type(ALARM):
        inputs = alarm.inputs
        if inputs["namespace"] != "AWS/States":
            continue
        watched[inputs["dimensions"]["StateMachineArn"]].add(inputs["metricName"])
        # Any single one, within five minutes, pages.
        assert (inputs["statistic"], inputs["threshold"]) == ("Sum", 0), alarm.name
        assert inputs["comparisonOperator"] == "GreaterThanThreshold", alarm.name
        assert inputs["treatMissingData"] == "notBreaching", alarm.name
        assert inputs["alarmActions"] == [topic], alarm.name
    assert watched == {arn: METRICS for arn in machines}
