"""The local stack enforces IAM: every principal's calls are checked, and each role fails
the way AWS would when one statement the pipeline needs is taken away.

Each test removes one statement (by Sid) from a role's inline policy through IAM, as an
operator would, runs the pipeline, and puts the statement back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from imagepipe.local import access, samples
from imagepipe.local.clients import signed_as
from imagepipe.local.iam import Decision, Request, evaluate
from imagepipe.local.stack import LocalStack, deploy_local
from tests.integration.conftest import execution_for, fresh_key
from tests.support import drive

pytestmark = pytest.mark.integration


def role_named(stack: LocalStack, part: str) -> str:
    """The one role whose name contains `part` (e.g. "-inspect-role")."""
    iam = stack.clients.client("iam")
    names = [r["RoleName"] for r in iam.list_roles()["Roles"] if part in r["RoleName"]]
    assert len(names) == 1, (part, names)
    return names[0]


@contextmanager
def without_statement(stack: LocalStack, role_part: str, sid: str) -> Iterator[None]:
    """The role's inline policy holding statement `sid`, minus it, for the duration."""
    iam = stack.clients.client("iam")
    role = role_named(stack, role_part)
    # A pipe's role has two: its queue statements, its StartExecution (infra/workflow.py).
    documents = {
        name: iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
    }
    texts = {n: d if isinstance(d, str) else json.dumps(d) for n, d in documents.items()}
    [policy_name] = [
        n for n, t in texts.items() if any(s.get("Sid") == sid for s in json.loads(t)["Statement"])
    ]
    original = texts[policy_name]
    parsed = json.loads(original)
    kept = [s for s in parsed["Statement"] if s.get("Sid") != sid]
    assert len(kept) == len(parsed["Statement"]) - 1, f"{role} has no statement {sid}"
    if kept:
        iam.put_role_policy(
            RoleName=role,
            PolicyName=policy_name,
            PolicyDocument=json.dumps({**parsed, "Statement": kept}),
        )
    else:  # IAM takes no empty policy: the statement was the policy
        iam.delete_role_policy(RoleName=role, PolicyName=policy_name)
    try:
        yield
    finally:
        iam.put_role_policy(RoleName=role, PolicyName=policy_name, PolicyDocument=original)


def run_upload(stack: LocalStack, name: str = "photo.jpg") -> tuple[str, Any]:
    key = fresh_key(stack, name)
    drive.upload(stack, samples.jpeg(640, 480), key)
    drive.pump(stack)
    return key, execution_for(stack, key)


def dead_letter_for(stack: LocalStack, arn: str) -> dict[str, Any]:
    [letter] = [d for d in drive.dlq_messages(stack) if d.execution_arn == arn]
    body: dict[str, Any] = letter.body
    return body


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with deploy_local("dev", config={"deleteDerivatives": True}) as deployed:
        drive.pump(deployed)
        yield deployed


def test_every_principal_of_an_upload_is_checked_and_allowed(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch, denials: Callable[[], list[str]]
) -> None:
    """Enforcement that never ran would pass everything: show each role's calls decided."""
    decided: set[tuple[str, str]] = set()

    def recorded(request: Request, *args: Any, **kwargs: Any) -> Decision:
        decision = evaluate(request, *args, **kwargs)
        if decision.allowed:
            decided.add((request.principal.split("/")[-1], request.action))
        return decision

    monkeypatch.setattr(access, "evaluate", recorded)  # what access.authorize decides with
    _, execution = run_upload(stack)
    assert execution.status == "SUCCEEDED"

    def role_did(part: str, action: str) -> bool:
        return any(part in role and a == action for role, a in decided)

    assert role_did("-inspect-role", "s3:GetObject")
    assert role_did("-resize-role", "s3:GetObject")
    assert role_did("-resize-role", "s3:PutObject")
    assert role_did("-workflow-role", "lambda:InvokeFunction")
    assert role_did("-workflow-role", "s3:PutObject")  # the backup copy...
    assert role_did("-workflow-role", "s3:GetObject")  # ...reads the upload
    assert role_did("-workflow-role", "sns:Publish")
    assert role_did("-workflow-role", "kms:GenerateDataKey")  # the topic's key
    assert role_did("-pipe-role", "sqs:ReceiveMessage")
    assert role_did("-pipe-role", "states:StartExecution")
    assert not [d for d in denials() if "-pipe-role" in d or "-resize-role" in d]


@pytest.mark.parametrize(
    ("role", "sid", "expected_error"),
    [
        ("-inspect-role", "ReadUploads", "AccessDenied"),
        ("-resize-role", "WriteRenditions", "AccessDenied"),
        ("-workflow-role", "InvokeOwnFunctions", "AccessDeniedException"),
        ("-workflow-role", "PublishNotifications", "AuthorizationError"),
        ("-workflow-role", "EncryptNotifications", "KMSAccessDenied"),
    ],
)
def test_a_missing_statement_fails_the_execution_into_the_dead_letter_queue(
    stack: LocalStack, role: str, sid: str, expected_error: str
) -> None:
    with without_statement(stack, role, sid):
        _, execution = run_upload(stack)
    assert execution.status == "FAILED"
    letter = dead_letter_for(stack, execution.arn)
    assert letter["kind"] == "failed"
    assert expected_error in json.dumps(letter), letter


def test_a_workflow_that_cannot_dead_letter_fails_without_a_message(
    stack: LocalStack, denials: Callable[[], list[str]]
) -> None:
    """Without sqs:SendMessage the failure path itself is refused: the execution fails
    and the dead-letter queue gets nothing, which is why the alarm on failed executions
    exists beside the one on the queue's depth."""
    with (
        without_statement(stack, "-inspect-role", "ReadUploads"),
        without_statement(stack, "-workflow-role", "DeadLetter"),
    ):
        _, execution = run_upload(stack)
    assert execution.status == "FAILED"
    assert not [d for d in drive.dlq_messages(stack) if d.execution_arn == execution.arn]
    assert any("sqs:SendMessage" in d for d in denials())


def test_the_pipe_cannot_start_executions_without_its_statement(
    stack: LocalStack, denials: Callable[[], list[str]]
) -> None:
    with without_statement(stack, "-dev-pipe-role", "StartExecutions"):
        key = fresh_key(stack, "stuck.jpg")
        drive.upload(stack, samples.jpeg(64, 64), key)
        ingest = [p for p in stack.pollers if p.config.target_arn == stack.state_machine_arn]
        result = ingest[0].poll_once()
    assert result.failed == 1 and not result.started
    assert any("states:StartExecution" in d and "-dev-pipe-role" in d for d in denials())
    # The message stays in the queue (retried after its visibility timeout, then
    # dead-lettered by the queue's redrive policy), exactly as Pipes leaves it.
    assert not [e for e in drive.executions(stack) if e.key == key]


def test_the_removal_workflow_needs_its_delete_statement(stack: LocalStack) -> None:
    key, execution = run_upload(stack, "gone.jpg")
    assert execution.status == "SUCCEEDED"
    with without_statement(stack, "-removal-role", "DeleteDerivatives"):
        stack.clients.client("s3").delete_object(Bucket=stack.source_bucket, Key=key)
        started = drive.pump(stack)
    removal = [drive.describe(stack, arn) for arn in started]
    assert removal and all(e.status == "FAILED" for e in removal)
    assert any("AccessDenied" in json.dumps(dead_letter_for(stack, e.arn)) for e in removal)


def test_a_missing_key_is_403_for_a_role_that_cannot_list_the_bucket(stack: LocalStack) -> None:
    """S3 hides whether a key exists from callers without s3:ListBucket."""
    from botocore.exceptions import ClientError

    iam = stack.clients.client("iam")
    role_arn = iam.get_role(RoleName=role_named(stack, "-resize-role"))["Role"]["Arn"]
    session = access.session_for(
        role_arn,
        service="lambda.amazonaws.com",
        source_arn=stack.clients.client("lambda").get_function(
            FunctionName=drive.function_name(stack, "resize")
        )["Configuration"]["FunctionArn"],
        region=stack.clients.region,
    )
    s3 = signed_as(stack.clients, session).client("s3")
    with pytest.raises(ClientError) as missing:
        s3.head_object(Bucket=stack.source_bucket, Key=fresh_key(stack, "never.jpg"))
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as outside:
        s3.get_object(Bucket=stack.source_bucket, Key="elsewhere/x.jpg")
    assert outside.value.response["Error"]["Code"] == "AccessDenied"


def test_backfill_runs_with_its_role_and_fails_without_child_execution_rights(
    stack: LocalStack,
) -> None:
    """The Distributed Map's children are checked in the ARN form AWS gives them."""
    key = fresh_key(stack, "old.jpg")
    drive.upload(stack, samples.jpeg(320, 240), key)
    drive.pump(stack)
    sfn = stack.clients.client("stepfunctions")
    request = json.dumps({"prefix": key.rsplit("/", 1)[0] + "/", "onlyMissing": True})

    def backfill() -> Any:
        arn = sfn.start_execution(
            stateMachineArn=stack.outputs["backfillStateMachineArn"],
            name=uuid.uuid4().hex,
            input=request,
        )["executionArn"]
        drive.wait(stack)
        return drive.describe(stack, arn)

    with without_statement(stack, "-backfill-role", "ManageChildExecutions"):
        denied = backfill()
    assert denied.status == "FAILED"
    history = sfn.get_execution_history(executionArn=denied.arn)["events"]
    assert "states:DescribeExecution" in json.dumps(history, default=str)
    assert backfill().status == "SUCCEEDED"
