"""The local stack's moving parts against moto itself.

These fail when a moto upgrade moves what imagepipe.local patches or relies on:
LambdaFunction.invoke, the IAM condition code, the Step Functions aws-sdk task, the
EventBridge pattern matcher and moto's Pipes and Step Functions interpreter.
"""

from __future__ import annotations

import inspect
import io
import json
import sys
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import pytest
from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]
from moto import mock_aws

from imagepipe.local import lambda_runtime, moto_patches
from imagepipe.local.pipe import PipeConfig, matches
from imagepipe.messages import pipe_input, sqs_record
from infra.workflow import PIPE_FILTER_PATTERN
from tests.support import faults

pytestmark = pytest.mark.integration

REGION = "eu-west-1"
ROLE_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)
ECHO = b"""
import os
GREETING = os.environ["GREETING"]  # read at import, like the real handlers

def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    print("handling", event)
    return {
        "greeting": GREETING,
        "event": event,
        "requestId": context.aws_request_id,
        "name": context.function_name,
        "memory": context.memory_limit_in_mb,
        "remaining": context.get_remaining_time_in_millis(),
        "arn": context.invoked_function_arn,
    }
"""


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, body in files.items():
            zf.writestr(name, body)
    return buffer.getvalue()


@pytest.fixture
def aws() -> Iterator[Any]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        moto_patches.install()
        lambda_runtime.install()
        try:
            yield boto3.session.Session(region_name=REGION)
        finally:
            lambda_runtime.uninstall()


def _function(aws: Any, name: str, greeting: str) -> str:
    role = aws.client("iam").create_role(
        RoleName=f"{name}-role", AssumeRolePolicyDocument=ROLE_POLICY
    )
    return str(
        aws.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role["Role"]["Arn"],
            Handler="echo_fn.handler",
            Code={"ZipFile": _zip({"echo_fn.py": ECHO})},
            Timeout=30,
            MemorySize=512,
            Environment={"Variables": {"GREETING": greeting}},
        )["FunctionArn"]
    )


def _invoke(aws: Any, name: str, event: Any) -> tuple[Any, dict[str, Any]]:
    response = aws.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event))
    return json.loads(response["Payload"].read()), response


def test_moto_still_has_the_invoke_we_replace() -> None:
    from moto.awslambda.models import LambdaFunction

    moto_invoke = LambdaFunction.invoke
    parameters = list(inspect.signature(moto_invoke).parameters)
    assert parameters == ["self", "body", "request_headers", "response_headers"]
    lambda_runtime.install()
    try:
        assert LambdaFunction.invoke is not moto_invoke  # the runtime's
    finally:
        lambda_runtime.uninstall()
    assert LambdaFunction.invoke is moto_invoke


def test_other_threads_write_to_the_live_stdout_while_a_handler_is_imported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A handler is imported on a worker thread with sys.stdout swapped for the runtime's
    stand-in. If the stream was replaced after install() (pytest's capture does it for
    each test) and the old one closed, the CLI printing meanwhile must still reach the
    live stream: it met the closed one ('I/O operation on closed file') or lost its
    output when the stand-in wrapped the stream live at install()."""
    import threading
    import types

    at_install = io.StringIO()
    monkeypatch.setattr(sys, "stdout", at_install)
    lambda_runtime.install()
    try:
        live = io.StringIO()
        sys.stdout = live
        at_install.close()
        gate = types.ModuleType("gate_for_test")
        gate.entered, gate.release = threading.Event(), threading.Event()  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "gate_for_test", gate)
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as zf:
            zf.writestr(
                "gated.py",
                "import gate_for_test\n"
                "gate_for_test.entered.set()\n"
                "gate_for_test.release.wait(30)\n"
                "def handler(event, context):\n    return event\n",
            )
        fn = types.SimpleNamespace(
            function_name="gated", code_bytes=code.getvalue(), handler="gated.handler"
        )
        worker = threading.Thread(target=lambda_runtime._import_handler, args=(fn, {}))
        worker.start()
        assert gate.entered.wait(30)  # the import is under way, the stand-in in place
        print("printed meanwhile")
        gate.release.set()
        worker.join(30)
    finally:
        lambda_runtime.uninstall()
    assert "printed meanwhile" in live.getvalue()


def test_a_function_round_trips_with_its_own_environment(aws: Any) -> None:
    arn = _function(aws, "hello", "hello")
    _function(aws, "bonjour", "bonjour")  # same module name, other environment

    payload, response = _invoke(aws, "hello", {"n": 1})
    assert "FunctionError" not in response
    assert payload["greeting"] == "hello"
    assert payload["event"] == {"n": 1}
    assert (payload["name"], payload["memory"], payload["arn"]) == ("hello", 512, arn)
    assert 0 < payload["remaining"] <= 30_000
    assert _invoke(aws, "bonjour", {})[0]["greeting"] == "bonjour"
    assert _invoke(aws, "hello", {})[0]["greeting"] == "hello"
    assert "echo_fn" not in sys.modules  # the function's modules stay its own

    streams = aws.client("logs").describe_log_streams(logGroupName="/aws/lambda/hello")
    events = aws.client("logs").get_log_events(
        logGroupName="/aws/lambda/hello",
        logStreamName=streams["logStreams"][0]["logStreamName"],
    )["events"]
    lines = [e["message"] for e in events]
    assert lines[0].startswith("START RequestId:") and lines[-1].startswith("END RequestId:")


def test_an_exception_is_reported_like_lambda(aws: Any) -> None:
    _function(aws, "failing", "x")
    payload, response = _invoke(aws, "failing", {"fail": True})
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "ValueError"
    assert payload["errorMessage"] == "asked to fail"
    assert payload["requestId"]
    assert isinstance(payload["stackTrace"], list) and payload["stackTrace"]


def test_faults_can_be_injected(aws: Any) -> None:
    _function(aws, "flaky", "x")
    faults.inject_lambda_fault("flaky", "Lambda.ServiceException", times=1)
    faults.inject_lambda_fault("flaky", "Boom", times=1)
    client = aws.client("lambda", config=boto3.session.Config(retries={"max_attempts": 0}))
    with pytest.raises(ClientError) as raised:
        client.invoke(FunctionName="flaky", Payload=b"{}")
    assert raised.value.response["Error"]["Code"] == "ServiceException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    payload, response = _invoke(aws, "flaky", {})
    assert (response["FunctionError"], payload["errorType"]) == ("Unhandled", "Boom")
    assert _invoke(aws, "flaky", {})[0]["greeting"] == "x"  # faults used up


def test_a_tls_only_bucket_policy_lets_requests_through(aws: Any) -> None:
    """moto_patches: a conditional Deny must not deny everything; an unconditional one still does."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="tls-only", CreateBucketConfiguration={"LocationConstraint": REGION})
    statement = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::tls-only", "arn:aws:s3:::tls-only/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    s3.put_bucket_policy(
        Bucket="tls-only", Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    )
    s3.put_object(Bucket="tls-only", Key="k", Body=b"ok")

    del statement["Condition"]
    s3.put_bucket_policy(
        Bucket="tls-only", Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    )
    with pytest.raises(ClientError):
        s3.put_object(Bucket="tls-only", Key="k2", Body=b"no")


def test_step_functions_copy_object_takes_an_encoded_copy_source(aws: Any) -> None:
    """moto_patches: the aws-sdk:s3:copyObject task sends CopySource as Step Functions does."""
    s3 = aws.client("s3")
    for bucket in ("copy-src", "copy-dst"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    key = "uploads/a b+c%d é.jpg"
    s3.put_object(Bucket="copy-src", Key=key, Body=b"original")
    definition = {
        "StartAt": "Copy",
        "States": {
            "Copy": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:s3:copyObject",
                "Parameters": {
                    "Bucket": "copy-dst",
                    "CopySource.$": "$.copySource",
                    "Key.$": "$.key",
                },
                # As the pipeline does. moto keeps the SDK result's datetimes, which then
                # break DescribeExecution: with the result kept, this test would fail.
                "ResultPath": None,
                "End": True,
            }
        },
    }
    sfn = aws.client("stepfunctions")
    machine = _machine(sfn, "copy", json.dumps(definition))
    from urllib.parse import quote

    execution = sfn.start_execution(
        stateMachineArn=machine,
        name="copy-1",
        input=json.dumps({"copySource": quote(f"copy-src/{key}", safe="/"), "key": key}),
    )["executionArn"]
    for _ in range(200):
        status = sfn.describe_execution(executionArn=execution)["status"]
        if status != "RUNNING":
            break
        import time

        time.sleep(0.05)
    assert status == "SUCCEEDED"
    assert s3.get_object(Bucket="copy-dst", Key=key)["Body"].read() == b"original"


def _machine(sfn: Any, name: str, definition: str) -> str:
    """A state machine in moto (its role is not checked: it is not the stack's)."""
    arn = "arn:aws:iam::123456789012:role/sfn"
    return str(
        sfn.create_state_machine(name=name, definition=definition, roleArn=arn)["stateMachineArn"]
    )


def _finished(sfn: Any, execution: str) -> dict[str, Any]:
    import time

    for _ in range(200):
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.05)
    raise AssertionError(f"{execution} still running")


def test_an_updated_definition_runs_in_the_next_execution(aws: Any) -> None:
    """moto_patches parses a definition once per text: an execution after
    UpdateStateMachine runs the new definition, and each execution reads its own input."""

    def definition(greeting: str) -> str:
        state = {"Type": "Pass", "Parameters": {"greeting": greeting, "who.$": "$.who"}}
        return json.dumps({"StartAt": "Greet", "States": {"Greet": {**state, "End": True}}})

    sfn = aws.client("stepfunctions")
    machine = _machine(sfn, "greet", definition("hello"))

    def run(name: str, who: str) -> Any:
        execution = sfn.start_execution(
            stateMachineArn=machine, name=name, input=json.dumps({"who": who})
        )["executionArn"]
        described = _finished(sfn, execution)
        assert described["status"] == "SUCCEEDED", described
        return json.loads(described["output"])

    assert run("first", "ann") == {"greeting": "hello", "who": "ann"}
    assert run("second", "bob") == {"greeting": "hello", "who": "bob"}
    sfn.update_state_machine(stateMachineArn=machine, definition=definition("goodbye"))
    assert run("third", "cy") == {"greeting": "goodbye", "who": "cy"}


@pytest.mark.parametrize("objects", [0, 1_003])
def test_an_item_reader_lists_every_object_under_its_prefix(aws: Any, objects: int) -> None:
    """As Step Functions does: none for an empty prefix (moto failed on the missing
    Contents, so a backfill of an empty prefix ended FAILED) and past S3's 1,000-key
    page (moto read the first page only)."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="items", CreateBucketConfiguration={"LocationConstraint": REGION})
    for n in range(objects):
        s3.put_object(Bucket="items", Key=f"in/{n:05}", Body=b"x")
    s3.put_object(Bucket="items", Key="other/0", Body=b"x")  # outside the prefix
    reader = {
        "Resource": "arn:aws:states:::s3:listObjectsV2",
        "Parameters": {"Bucket": "items", "Prefix": "in/"},
    }
    each = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    processor = {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, **each}
    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ItemReader": reader,
                "ItemSelector": {"key.$": "$$.Map.Item.Value.Key"},
                "ItemProcessor": processor,
                "End": True,
            }
        },
    }
    sfn = aws.client("stepfunctions")
    machine = _machine(sfn, "items", json.dumps(definition))
    described = _finished(sfn, sfn.start_execution(stateMachineArn=machine)["executionArn"])
    assert described["status"] == "SUCCEEDED", described
    keys = [item["key"] for item in json.loads(described["output"])]
    assert keys == [f"in/{n:05}" for n in range(objects)]


def _message(body: str) -> dict[str, Any]:
    return {
        "MessageId": "m-1",
        "ReceiptHandle": "r-1",
        "Body": body,
        "MD5OfBody": "x",
        "Attributes": {"ApproximateReceiveCount": "1"},
        "MessageAttributes": {"a": {"StringValue": "v", "DataType": "String"}},
    }


S3_EVENT = {
    "Records": [
        {
            "eventSource": "aws:s3",
            "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "b"}, "object": {"key": "uploads/x.jpg"}},
        }
    ]
}
QUEUE_ARN = "arn:aws:sqs:eu-west-1:123456789012:ingest"


def test_a_record_has_the_shape_pipes_sends() -> None:
    record = sqs_record(_message(json.dumps(S3_EVENT)), QUEUE_ARN)
    assert set(record) == {
        "messageId", "receiptHandle", "body", "attributes", "messageAttributes",
        "md5OfBody", "eventSource", "eventSourceARN", "awsRegion",
    }  # fmt: skip
    assert (record["eventSource"], record["eventSourceARN"], record["awsRegion"]) == (
        "aws:sqs",
        QUEUE_ARN,
        "eu-west-1",
    )
    assert isinstance(record["body"], str)
    assert record["messageAttributes"]["a"]["stringValue"] == "v"
    assert json.loads(pipe_input([record])) == [record]


TEST_EVENT = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}
OBJECT_CREATED = {"body": {"Records": {"eventName": [{"prefix": "ObjectCreated:"}]}}}


def _passes(body: str, pattern: Any) -> bool:
    return matches(sqs_record(_message(body), QUEUE_ARN), (json.dumps(pattern),))


def test_the_programs_pipe_filter_drops_only_the_s3_test_event() -> None:
    assert _passes(json.dumps(S3_EVENT), PIPE_FILTER_PATTERN)
    assert not _passes(json.dumps(TEST_EVENT), PIPE_FILTER_PATTERN)


def test_the_filter_looks_inside_arrays_of_objects_like_eventbridge() -> None:
    removed = {"Records": [{**S3_EVENT["Records"][0], "eventName": "ObjectRemoved:Delete"}]}
    assert _passes(json.dumps(S3_EVENT), OBJECT_CREATED)
    assert not _passes(json.dumps(removed), OBJECT_CREATED)
    assert not _passes(json.dumps(TEST_EVENT), OBJECT_CREATED)


def test_a_body_that_is_not_json_is_matched_as_text() -> None:
    assert not _passes("not json", OBJECT_CREATED)
    assert _passes("not json", {"body": [{"prefix": "not "}]})
    assert _passes("not json", {"body": {"Event": [{"exists": False}]}})


def test_no_filter_passes_everything() -> None:
    assert matches(sqs_record(_message("anything"), QUEUE_ARN), ())


def test_moto_still_cannot_match_inside_arrays_of_objects() -> None:
    """Why pipe.matches flattens first; if this starts failing, moto learned it."""
    from moto.events.models import EventPattern

    event = {"body": {"Records": [{"eventSource": "aws:s3"}]}}
    assert not EventPattern.load(
        json.dumps({"body": {"Records": {"eventSource": ["aws:s3"]}}})
    ).matches_event(event)  # type: ignore[arg-type]


def test_pipe_config_is_read_from_describe_pipe(aws: Any) -> None:
    aws.client("sqs").create_queue(QueueName="ingest")
    pipes = aws.client("pipes")
    pipes.create_pipe(
        Name="p",
        RoleArn="arn:aws:iam::123456789012:role/r",
        Source=QUEUE_ARN,
        Target="arn:aws:states:eu-west-1:123456789012:stateMachine:m",
        SourceParameters={
            "SqsQueueParameters": {"BatchSize": 1},
            "FilterCriteria": {"Filters": [{"Pattern": json.dumps(PIPE_FILTER_PATTERN)}]},
        },
    )
    description = pipes.describe_pipe(Name="p")
    config = PipeConfig.from_description(description)
    assert config == PipeConfig(
        name="p",
        arn=description["Arn"],
        role_arn="arn:aws:iam::123456789012:role/r",
        source_arn=QUEUE_ARN,
        target_arn="arn:aws:states:eu-west-1:123456789012:stateMachine:m",
        batch_size=1,
        filter_patterns=(json.dumps(PIPE_FILTER_PATTERN),),
    )


def test_the_interpreter_reaches_a_server_through_moto_port() -> None:
    """serve relies on it: moto's Step Functions calls http://localhost:$MOTO_PORT."""
    from moto.stepfunctions.parser.asl.utils import boto_client

    source = inspect.getsource(boto_client.boto_client_for)
    assert "moto_server_port()" in source


def test_definitions_are_changed_for_moto_only_where_it_needs() -> None:
    from imagepipe.local.moto_patches import moto_compatible

    plain = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})
    assert moto_compatible(plain) == (plain, [])
    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ToleratedFailurePercentage": 100,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                    "StartAt": "T",
                    "States": {
                        "T": {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::lambda:invoke",
                            "Retry": [{"ErrorEquals": ["States.ALL"], "BackoffRate": 2}],
                            "End": True,
                        }
                    },
                },
                "End": True,
            }
        },
    }
    text, changes = moto_compatible(json.dumps(definition))
    changed = json.loads(text)["States"]["M"]
    assert changed["ToleratedFailurePercentage"] == 100.0
    assert changed["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] == "STANDARD"
    assert changed["ItemProcessor"]["States"]["T"]["Retry"][0]["BackoffRate"] == 2  # as it was
    assert len(changes) == 2


def test_moto_still_needs_those_changes() -> None:
    """If this fails, moto's grammar caught up: moto_compatible can shrink."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import (
        AmazonStateLanguageParser,
        ASLParserException,
    )

    def definition(execution_type: str) -> str:
        return json.dumps(
            {
                "StartAt": "M",
                "States": {
                    "M": {
                        "Type": "Map",
                        "ItemProcessor": {
                            "ProcessorConfig": {
                                "Mode": "DISTRIBUTED",
                                "ExecutionType": execution_type,
                            },
                            "StartAt": "P",
                            "States": {"P": {"Type": "Pass", "End": True}},
                        },
                        "End": True,
                    }
                },
            }
        )

    AmazonStateLanguageParser.parse(definition("STANDARD"))
    with pytest.raises(ASLParserException):
        AmazonStateLanguageParser.parse(definition("EXPRESS"))
    tolerating = json.loads(definition("STANDARD"))
    tolerating["States"]["M"]["ToleratedFailurePercentage"] = 5.0
    AmazonStateLanguageParser.parse(json.dumps(tolerating))
    tolerating["States"]["M"]["ToleratedFailurePercentage"] = 5
    with pytest.raises(ASLParserException):
        AmazonStateLanguageParser.parse(json.dumps(tolerating))


def test_every_resource_type_the_program_registers_has_a_provider() -> None:
    """The program with its optional resources on, recorded without creating anything:
    each custom resource type it registers must be in the local providers' registry."""
    from imagepipe.local.program import run_program, stack_config
    from imagepipe.local.providers import REGISTRY
    from tests.infra.conftest import Recorder

    custom: set[str] = set()

    class CustomTypes(Recorder):
        def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
            if args.custom and not args.typ.startswith("pulumi:providers:"):
                custom.add(args.typ)
            return super().new_resource(args)

    optional = {"deleteDerivatives": True, "notificationEmail": "ops@example.com"}
    run_program(CustomTypes(), "dev", stack_config("dev", optional))
    assert "aws:sfn/stateMachine:StateMachine" in custom  # the program did run
    assert custom - set(REGISTRY) == set()


def test_an_unknown_resource_type_is_refused_by_name() -> None:
    import pulumi

    from imagepipe.local.clients import emulator
    from imagepipe.local.providers import MotoMocks, UnsupportedResourceError

    mocks = MotoMocks(emulator(REGION))
    args = pulumi.runtime.MockResourceArgs("aws:ec2/vpc:Vpc", "main", {}, custom=True)
    with pytest.raises(UnsupportedResourceError, match=r"aws:ec2/vpc:Vpc \(resource 'main'\)"):
        mocks.new_resource(args)


def test_invocation_types_answer_as_lambda_does(aws: Any) -> None:
    """Event: 202 at once, the handler runs in the background (its invocation is logged);
    DryRun: 204, nothing runs; RequestResponse: 200 and the handler's answer. Lambda's
    InvocationType, read from the request's X-Amz-Invocation-Type header."""
    import time

    _function(aws, "kinds", "hi")
    client, logs = aws.client("lambda"), aws.client("logs")

    def handled() -> int:
        """Invocations logged (pytest's capture takes the handler's own prints)."""
        try:
            found = logs.filter_log_events(logGroupName="/aws/lambda/kinds")["events"]
        except ClientError:  # no group yet: nothing ran
            return 0
        return sum(e["message"].startswith("END RequestId") for e in found)

    dry = client.invoke(FunctionName="kinds", InvocationType="DryRun", Payload=b'{"n": 1}')
    assert (dry["StatusCode"], dry["Payload"].read()) == (204, b"")
    event = client.invoke(FunctionName="kinds", InvocationType="Event", Payload=b'{"n": 2}')
    assert (event["StatusCode"], event["Payload"].read()) == (202, b"")
    deadline = time.monotonic() + 30
    while not handled() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert handled() == 1  # the Event's, not the DryRun's
    answer, response = _invoke(aws, "kinds", {"n": 3})
    assert (response["StatusCode"], answer["event"]) == (200, {"n": 3})


def test_function_code_is_extracted_in_a_folder_only_this_user_enters(aws: Any) -> None:
    """A folder name others can guess (and make first, in a shared /tmp) is not used: the
    code this process imports goes in fresh folders of mode 0700, gone after uninstall."""
    import os
    import stat
    import tempfile
    from pathlib import Path

    guessable = Path(tempfile.gettempdir()) / f"imagepipe-lambda-{os.getpid()}"
    guessable.mkdir(exist_ok=True)
    guessable.chmod(0o777)  # as another user of the machine could have left it
    try:
        _function(aws, "private", "hi")
        assert _invoke(aws, "private", {})[0]["greeting"] == "hi"
        (handler,) = lambda_runtime._handlers.values()
        code_dir = Path(handler.__globals__["__file__"]).parent
        assert guessable not in code_dir.parents
        temp = Path(tempfile.gettempdir())
        ours = [code_dir, *code_dir.parents[: code_dir.parents.index(temp)]]
        for folder in ours:  # each folder under the temp folder down to the code
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
        lambda_runtime.uninstall()
        assert not ours[-1].exists()
    finally:
        guessable.rmdir()
