"""A failure before the catalogue record exists is still a processing failure: when the
first catalogue write (`Record upload`) keeps failing after its retries (DynamoDB
throttled or failing), the execution fails, the dead letter says why, and the
failed-executions alarm counts it. Never a silent loss, never a record left
`processing` for nobody."""

from __future__ import annotations

import json
from typing import Any

import pytest

from imagepipe.catalogue import get_record
from imagepipe.local import samples
from imagepipe.local.stack import LocalStack
from imagepipe.messages import s3_object_of
from tests.integration.conftest import execution_for, fresh_key
from tests.integration.test_iam_enforced import dead_letter_for
from tests.support import drive, faults

pytestmark = pytest.mark.integration

THROTTLED = "DynamoDB.ProvisionedThroughputExceededException"


def failed_executions_alarm(stack: LocalStack) -> Any:
    """The alarm that pages on any failed execution of the upload workflow."""
    alarms = stack.clients.client("cloudwatch").describe_alarms()["MetricAlarms"]
    [alarm] = [
        a
        for a in alarms
        if a["MetricName"] == "ExecutionsFailed"
        and {"Name": "StateMachineArn", "Value": stack.state_machine_arn} in a["Dimensions"]
    ]
    return alarm


@pytest.mark.parametrize(
    "failing",
    [("put_item",), ("put_item", "update_item")],
    ids=["record-upload-fails", "table-throttled"],
)
def test_a_first_catalogue_write_that_keeps_failing_is_dead_lettered(
    stack: LocalStack, failing: tuple[faults.DynamoDBOperation, ...]
) -> None:
    key = fresh_key(stack, "throttled.jpg")
    with faults.dynamodb_error(failing[0], times=None, key=key) as fault:
        if len(failing) > 1:  # the whole table: Record failure's own write fails too
            with faults.dynamodb_error(failing[1], times=None, key=key) as also:
                drive.upload(stack, samples.jpeg(300, 200, seed=201), key)
                drive.pump(stack)
            assert also.raised == 4  # Record failure: its first try and 3 retries
        else:
            drive.upload(stack, samples.jpeg(300, 200, seed=201), key)
            drive.pump(stack)
    assert fault.raised == 4  # Record upload: its first try and 3 retries

    execution = execution_for(stack, key)
    assert execution.status == "FAILED"  # what ExecutionsFailed counts
    assert execution.error == THROTTLED
    letter = dead_letter_for(stack, execution.arn)
    assert (letter["kind"], letter["reason"], letter["error"]) == (
        "failed",
        "processing_error",
        THROTTLED,
    )
    assert "injected ProvisionedThroughputExceededException" in letter["message"]
    # The dead letter carries the S3 event: `imagepipe redrive` can run it again.
    found = s3_object_of(letter["input"])
    assert found is not None and found[0] == key
    # No record was claimed, so none is left `processing`; nothing was announced.
    dynamodb = stack.clients.client("dynamodb")
    assert get_record(dynamodb, stack.outputs["catalogueTable"], key) is None
    assert not [
        n
        for n in drive.notifications(stack)
        if isinstance(n.message, dict) and (n.message.get("source") or {}).get("key") == key
    ]
    alarm = failed_executions_alarm(stack)
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "Sum",
        0.0,
        "GreaterThanThreshold",
    )
    assert alarm["AlarmActions"]  # it pages someone


def test_once_the_table_answers_again_a_redrive_processes_it(stack: LocalStack) -> None:
    """The dead letter is actionable: the same event, run again, is recorded processed."""
    key = fresh_key(stack, "later.jpg")
    with faults.dynamodb_error("put_item", times=None, key=key):
        drive.upload(stack, samples.jpeg(320, 240, seed=202), key)
        drive.pump(stack)
    failed = execution_for(stack, key)
    letter = dead_letter_for(stack, failed.arn)
    sfn = stack.clients.client("stepfunctions")
    sfn.start_execution(stateMachineArn=stack.state_machine_arn, input=json.dumps(letter["input"]))
    drive.pump(stack)
    record = get_record(stack.clients.client("dynamodb"), stack.outputs["catalogueTable"], key)
    assert record is not None and record.status == "processed"
