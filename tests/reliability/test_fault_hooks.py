"""imagepipe.local.faults on plain moto: the caller sees AWS's error (status, code), the
fault fires only where it is aimed and only as often as asked, and leaving the `with`
block puts moto's methods back. Also pins the moto internals the hooks patch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import pytest
from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]
from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]
from moto import mock_aws

from tests.support import faults

REGION = "eu-west-1"
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name=REGION, config=NO_RETRIES)
        for bucket in ("fault-a", "fault-b"):
            client.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
            )
            client.put_object(Bucket=bucket, Key="k", Body=b"data")
        yield client


def error_of(call: Any) -> tuple[int, str]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def test_an_s3_fault_answers_as_s3_does_then_passes(s3: Any) -> None:
    with faults.s3_error("get_object", "SlowDown", times=2) as fault:
        assert error_of(lambda: s3.get_object(Bucket="fault-a", Key="k")) == (503, "SlowDown")
        assert error_of(lambda: s3.get_object(Bucket="fault-a", Key="k")) == (503, "SlowDown")
        assert s3.get_object(Bucket="fault-a", Key="k")["Body"].read() == b"data"
    assert fault.raised == 2


def test_an_s3_fault_hits_only_its_bucket_key_and_operation(s3: Any) -> None:
    with faults.s3_error("get_object", "InternalError", times=None, bucket="fault-a", key="k"):
        assert error_of(lambda: s3.get_object(Bucket="fault-a", Key="k")) == (500, "InternalError")
        assert s3.get_object(Bucket="fault-b", Key="k")["Body"].read() == b"data"
        assert s3.head_object(Bucket="fault-a", Key="k")["ContentLength"] == 4
        s3.put_object(Bucket="fault-a", Key="other", Body=b"x")
    with faults.s3_error("put_object", "AccessDenied", times=None, key_contains="/thumbs/"):
        assert error_of(lambda: s3.put_object(Bucket="fault-a", Key="a/thumbs/x", Body=b"")) == (
            403,
            "AccessDenied",
        )
        s3.put_object(Bucket="fault-a", Key="a/large/x", Body=b"")


def test_botocore_retries_an_s3_fault_by_itself(s3: Any) -> None:
    retrying = boto3.client(
        "s3",
        region_name=REGION,
        config=Config(retries={"total_max_attempts": 3, "mode": "standard"}),
    )
    with faults.s3_error("get_object", "SlowDown", times=2) as fault:
        response = retrying.get_object(Bucket="fault-a", Key="k")
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert fault.raised == 2


def test_leaving_puts_moto_back(s3: Any) -> None:
    from moto.s3.responses import S3Response

    original = S3Response.__dict__["copy_object"]
    with (
        faults.s3_error("copy_object", "SlowDown", times=None),
        faults.s3_error("copy_object", "InternalError", times=None),
    ):
        assert S3Response.__dict__["copy_object"] is not original
        assert len(faults.active()) == 2
    assert S3Response.__dict__["copy_object"] is original
    assert faults.active() == []


def test_unknown_codes_and_operations_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown S3 error"), faults.s3_error("get_object", "Nope"):
        pass
    with (
        pytest.raises(ValueError, match="unknown S3 operation"),
        faults.s3_error("list_objects", "SlowDown"),  # type: ignore[arg-type]
    ):
        pass


def test_sns_and_step_functions_faults() -> None:
    # The local stack's configuration: moto's Step Functions interpreter backend.
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sns = boto3.client("sns", region_name=REGION, config=NO_RETRIES)
        topic = sns.create_topic(Name="t")["TopicArn"]
        with faults.sns_publish_error("InternalError", times=1, contains="mine") as fault:
            sns.publish(TopicArn=topic, Message="not this one")
            assert error_of(lambda: sns.publish(TopicArn=topic, Message="mine")) == (
                500,
                "InternalError",
            )
            sns.publish(TopicArn=topic, Message="mine")
        assert fault.raised == 1

        sfn = boto3.client("stepfunctions", region_name=REGION, config=NO_RETRIES)
        arn = f"arn:aws:states:{REGION}:123456789012:stateMachine:nothing"
        with faults.stepfunctions_error("start_execution", "ExecutionLimitExceeded", times=1):
            assert error_of(lambda: sfn.start_execution(stateMachineArn=arn)) == (
                400,
                "ExecutionLimitExceeded",
            )
        # Then the real answer: no such state machine.
        assert error_of(lambda: sfn.start_execution(stateMachineArn=arn))[1] == (
            "StateMachineDoesNotExist"
        )
