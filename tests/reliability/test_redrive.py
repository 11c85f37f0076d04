"""`imagepipe redrive`: fix the cause, redrive, and the images come out (recorded
`processed` in the catalogue: `Record upload` lets the same event through again when its
record is `failed`); nothing is deleted from the dead-letter queue unless its restart was
accepted. Rejections no longer reach the queue: only a message an older deployment left
there is `kind: rejected`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from imagepipe.catalogue import CatalogueRecord, get_record
from imagepipe.cli import main
from imagepipe.local import samples
from imagepipe.local.stack import LocalStack
from imagepipe.messages import DeadLetter, parse_json, pipe_input, sqs_record
from imagepipe.redrive import Report, plan, redrive, state_machine_of
from tests.reliability.stack_runs import backup_bucket_missing, observe
from tests.support import drive, faults

REGION_ARN = "arn:aws:states:eu-west-1:123456789012"
UPLOAD_MACHINE = f"{REGION_ARN}:stateMachine:imagepipe-dev-abc1234"
QUEUE_ARN = "arn:aws:sqs:eu-west-1:123456789012:imagepipe-dev-dlq"


def s3_event(key: str, event: str = "ObjectCreated:Put") -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": event,
                "s3": {"bucket": {"name": "src"}, "object": {"key": key, "eTag": "e"}},
            }
        ]
    }


def received(body: Any, message_id: str = "m-1") -> dict[str, Any]:
    text = body if isinstance(body, str) else json.dumps(body)
    return {"MessageId": message_id, "ReceiptHandle": "r-1", "Body": text, "MD5OfBody": "x"}


def plan_of(body: Any, include_rejected: bool = False) -> Any:
    message = received(body)
    return plan(
        DeadLetter(parse_json(message["Body"])),
        message,
        upload_state_machine_arn=UPLOAD_MACHINE,
        source_queue_arn=QUEUE_ARN,
        include_rejected=include_rejected,
    )


# -- what each kind of message becomes (no stack) --------------------------------------


def test_a_failed_message_restarts_its_own_state_machine_with_its_input() -> None:
    records = [{"body": json.dumps(s3_event("uploads/a.jpg"))}]
    body = {
        "kind": "failed",
        "reason": "processing_error",
        "executionArn": f"{REGION_ARN}:execution:imagepipe-dev-removal-1234567:e-1",
        "input": records,
    }
    step = plan_of(body)
    assert step.skip is None
    assert step.state_machine_arn == f"{REGION_ARN}:stateMachine:imagepipe-dev-removal-1234567"
    assert json.loads(step.input) == records


def test_a_rejected_message_is_skipped_unless_asked() -> None:
    body: dict[str, Any] = {
        "kind": "rejected",
        "reason": "corrupt",
        "executionArn": None,
        "input": [],
    }
    assert "rejected (corrupt)" in str(plan_of(body).skip)
    forced = plan_of(body, include_rejected=True)
    assert forced.skip is None and forced.state_machine_arn == UPLOAD_MACHINE


def test_a_raw_s3_event_is_wrapped_as_the_pipe_wraps_it() -> None:
    event = s3_event("uploads/b c.jpg")
    step = plan_of(event)
    assert step.state_machine_arn == UPLOAD_MACHINE
    expected = pipe_input([sqs_record(received(event), QUEUE_ARN)])
    assert step.input == expected
    [record] = json.loads(step.input)
    assert json.loads(record["body"]) == event


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"Service": "Amazon S3", "Event": "s3:TestEvent"}, "not an S3 event"),
        ("not json at all", "not an S3 event"),
        (s3_event("uploads/x.jpg", "ObjectRemoved:Delete"), "only uploads"),
        ({"kind": "failed", "reason": "processing_error"}, "without the execution's input"),
        (
            {
                "kind": "failed",
                "executionArn": f"{REGION_ARN}:execution:imagepipe-dev-backfill/run-1:child",
                "input": {"object": {}},
            },
            "backfill",
        ),
    ],
)
def test_what_cannot_be_restarted_is_skipped_with_a_reason(body: Any, why: str) -> None:
    assert why in str(plan_of(body).skip)


@pytest.mark.parametrize(
    "body",
    [
        {"Records": [{"eventSource": "aws:s3", "s3": "not an object"}]},
        {"Records": [{"eventSource": "aws:s3", "s3": {"object": ["a", "list"]}}]},
        {"kind": "failed", "input": [{"body": '{"Records": [{"s3": 7}]}'}]},
    ],
)
def test_a_malformed_s3_record_has_no_key_and_raises_nothing(body: Any) -> None:
    """A dead letter is whatever reached the queue: its key is None, not an AttributeError
    that ended `redrive` as an unexpected error."""
    assert DeadLetter(body).key is None


def test_an_upload_event_without_a_key_is_not_restarted() -> None:
    body = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": "?"}]}
    assert "without an object key" in str(plan_of(body).skip)


def test_state_machine_of_an_execution() -> None:
    assert state_machine_of(f"{REGION_ARN}:execution:m:n") == (f"{REGION_ARN}:stateMachine:m", None)
    assert state_machine_of("nonsense")[0] is None


# -- on the local stack ----------------------------------------------------------------


@pytest.fixture(autouse=True)
def _empty_dlq(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each stack test starts from an empty dead-letter queue (and a backup bucket)."""
    if "stack" in request.fixturenames:
        stack: LocalStack = request.getfixturevalue("stack")
        drive.wait(stack)
        drive.dlq_messages(stack)
    yield


def peek(stack: LocalStack) -> list[DeadLetter]:
    """The messages in the dead-letter queue, left there."""
    messages = (
        stack.clients.client("sqs")
        .receive_message(
            QueueUrl=stack.dead_letter_queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
        )
        .get("Messages", [])
    )
    assert len(messages) < 10, "peek sees at most 9 messages reliably"
    return [DeadLetter(parse_json(m["Body"])) for m in messages]


def record(stack: LocalStack, key: str) -> CatalogueRecord | None:
    return get_record(stack.clients.client("dynamodb"), stack.outputs["catalogueTable"], key)


def legacy_rejection(stack: LocalStack, key: str) -> None:
    """The dead letter an older deployment sent for a rejected upload of `key` (the upload
    workflow now records and announces rejections instead): its execution's input."""
    [execution] = [e for e in drive.executions(stack) if e.key == key]
    outcome = record(stack, key)
    assert outcome is not None and outcome.status == "rejected"
    body = {
        "kind": "rejected",
        "reason": outcome.reason,
        "message": outcome.message,
        "error": "ImageRejected",
        "executionArn": execution.arn,
        "input": execution.input,
    }
    stack.clients.client("sqs").send_message(
        QueueUrl=stack.dead_letter_queue_url, MessageBody=json.dumps(body)
    )


def run(stack: LocalStack, **options: Any) -> Report:
    report = redrive(
        stack.clients,
        dead_letter_queue_url=stack.dead_letter_queue_url,
        state_machine_arn=stack.state_machine_arn,
        **options,
    )
    drive.wait(stack)
    return report


@pytest.mark.integration
def test_missing_backup_bucket_then_fixed_then_redriven(stack: LocalStack) -> None:
    keys = [stack.upload_key(f"redrive-backup/{n}.jpg") for n in ("one", "two")]
    with backup_bucket_missing(stack):  # created again on the way out: the fix
        for n, key in enumerate(keys):
            drive.upload(stack, samples.jpeg(400, 300, seed=n), key)
        drive.pump(stack)
        letters = peek(stack)
        assert sorted((d.key, d.kind, d.reason) for d in letters) == sorted(
            (k, "failed", "processing_error") for k in keys
        )
    failed = {key: record(stack, key) for key in keys}
    assert {k: r.status if r else None for k, r in failed.items()} == dict.fromkeys(keys, "failed")

    report = run(stack)

    assert [r.action for r in report.results] == ["restarted", "restarted"]
    assert all(r.deleted and r.execution_arn for r in report.results)
    assert peek(stack) == []
    seen = observe(stack, keys)
    for key in keys:
        statuses = [e.status for e in seen[key].executions]
        assert statuses == ["FAILED", "SUCCEEDED"], key
        assert len(seen[key].renditions) == len(stack.settings.renditions)
        assert seen[key].notifications == 1
        assert drive.objects(stack, stack.backup_bucket, key)  # backed up this time
    restarted = {r.execution_arn for r in report.results}
    assert {e.arn for k in keys for e in seen[k].executions if e.status == "SUCCEEDED"} == restarted


@pytest.mark.integration
def test_a_redriven_failure_is_reprocessed_and_recorded_processed(stack: LocalStack) -> None:
    """The same event again (same sequencer): `Record upload` lets it through because the
    record is `failed`, and the restart records `processed`, renditions and all."""
    key = stack.upload_key("redrive-recorded/photo.jpg")
    with backup_bucket_missing(stack):
        drive.upload(stack, samples.jpeg(360, 240, seed=21), key)
        drive.pump(stack)
    before = record(stack, key)
    assert before is not None
    assert (before.status, before.reason) == ("failed", "processing_error")

    [result] = run(stack).results
    assert result.action == "restarted"

    after = record(stack, key)
    assert after is not None
    assert after.status == "processed"
    assert after.sequencer == before.sequencer  # the same event, not a new upload
    assert after.execution_arn == result.execution_arn
    assert after.reason is None and after.message is None
    assert {r["name"] for r in after.renditions} == {r.name for r in stack.settings.renditions}
    seen = observe(stack, [key])[key]
    assert [e.status for e in seen.executions] == ["FAILED", "SUCCEEDED"]
    assert seen.events == ["image.processed"]  # notified once, by the restart
    assert peek(stack) == []

    # The same event once more (a second redrive, a stray retry): now a duplicate.
    sfn = stack.clients.client("stepfunctions")
    again = sfn.start_execution(
        stateMachineArn=stack.state_machine_arn,
        name=f"again-{seen.executions[0].name}"[:80],
        input=json.dumps(seen.executions[0].input),
    )["executionArn"]
    drive.wait(stack)
    assert sfn.describe_execution(executionArn=again)["status"] == "SUCCEEDED"
    assert record(stack, key) == after
    assert observe(stack, [key])[key].events == ["image.processed"]


@pytest.mark.integration
def test_a_refused_restart_leaves_the_message_in_the_queue(stack: LocalStack) -> None:
    key = stack.upload_key("redrive-refused/photo.jpg")
    with faults.s3_error("get_object", "AccessDenied", times=None, bucket=stack.source_bucket):
        drive.upload(stack, samples.jpeg(300, 200, seed=3), key)
        drive.pump(stack)
    assert [d.key for d in peek(stack)] == [key]

    with faults.stepfunctions_error("start_execution", "ExecutionLimitExceeded", times=None):
        refused = run(stack)
    assert [r.action for r in refused.results] == ["failed"]
    assert "ExecutionLimitExceeded" in refused.results[0].note
    assert not refused.results[0].deleted
    assert refused.exit_code == 1
    assert [d.key for d in peek(stack)] == [key]  # still there, visible again

    again = run(stack)
    assert [r.action for r in again.results] == ["restarted"]
    assert peek(stack) == []
    assert observe(stack, [key])[key].status == "SUCCEEDED"


@pytest.mark.integration
def test_a_rejection_leaves_nothing_to_redrive(stack: LocalStack) -> None:
    key = drive.upload(stack, b"just words\n", stack.upload_key("redrive-rejected/notes.jpg"))
    drive.pump(stack)
    rejected = record(stack, key)
    assert rejected is not None and rejected.status == "rejected"
    assert peek(stack) == []
    assert run(stack).results == []


@pytest.mark.integration
def test_an_old_rejection_is_skipped_and_kept_unless_included(stack: LocalStack) -> None:
    """A `kind: rejected` message an older deployment left: skipped with its reason; with
    --include-rejected restarted, and the restart ends as a duplicate of the recorded
    event (the same file would be rejected again), writing and sending nothing."""
    key = drive.upload(stack, b"just words\n", stack.upload_key("redrive-old-rejection/notes.jpg"))
    drive.pump(stack)
    legacy_rejection(stack, key)
    rejected = record(stack, key)

    skipped = run(stack)
    assert [(r.action, r.kind, r.reason) for r in skipped.results] == [
        ("skipped", "rejected", "not_an_image")
    ]
    assert [d.key for d in peek(stack)] == [key]

    forced = run(stack, include_rejected=True)
    assert [r.action for r in forced.results] == ["restarted"]
    assert peek(stack) == []  # the old message gone, no new one
    execution = observe(stack, [key])[key].executions[-1]
    assert (execution.arn, execution.status) == (forced.results[0].execution_arn, "SUCCEEDED")
    assert record(stack, key) == rejected  # the record stays the first execution's


@pytest.mark.integration
def test_dry_run_and_max_change_nothing_they_should_not(stack: LocalStack) -> None:
    keys = [stack.upload_key(f"redrive-dry/{n}.jpg") for n in range(3)]
    with faults.s3_error("get_object", "AccessDenied", times=None, bucket=stack.source_bucket):
        for n, key in enumerate(keys):
            drive.upload(stack, samples.jpeg(200, 150, seed=n), key)
        drive.pump(stack)
    executions = len(drive.executions(stack))

    dry = run(stack, dry_run=True)
    assert [r.action for r in dry.results] == ["would restart"] * 3
    assert len(drive.executions(stack)) == executions
    assert sorted(str(d.key) for d in peek(stack)) == sorted(keys)

    one = run(stack, max_messages=1)
    assert [r.action for r in one.results] == ["restarted"]
    assert len(peek(stack)) == 2
    rest = run(stack)
    assert [r.action for r in rest.results] == ["restarted"] * 2
    assert peek(stack) == []
    assert {k: o.status for k, o in observe(stack, keys).items()} == dict.fromkeys(
        keys, "SUCCEEDED"
    )


@pytest.mark.integration
def test_a_raw_event_from_the_ingest_queue_is_restarted_as_the_pipe_would(
    stack: LocalStack,
) -> None:
    """The pipe failed to start an execution ingestMaxReceiveCount times: SQS moved the raw
    S3 event to the dead-letter queue. Redrive gives it to the state machine as the pipe
    does, and the image comes out."""
    key = drive.upload(stack, samples.jpeg(320, 240, seed=9), stack.upload_key("redrive-raw/a.jpg"))
    sqs = stack.clients.client("sqs")
    for _ in range(stack.settings.ingest_max_receive_count):  # five failed pipe polls
        got = sqs.receive_message(
            QueueUrl=stack.ingest_queue_url, VisibilityTimeout=0, WaitTimeSeconds=0
        )
        assert len(got.get("Messages", [])) == 1
    # The next receive moves it (the queue's maxReceiveCount is reached).
    moved = sqs.receive_message(QueueUrl=stack.ingest_queue_url, WaitTimeSeconds=0)
    assert moved.get("Messages", []) == []
    [letter] = peek(stack)
    assert (letter.kind, letter.reason, letter.key) == ("redriven", "ingest_redrive", key)

    report = run(stack)

    assert [(r.action, r.kind) for r in report.results] == [("restarted", "redriven")]
    execution = observe(stack, [key])[key].executions[-1]
    assert execution.arn == report.results[0].execution_arn
    assert execution.status == "SUCCEEDED"
    [record] = execution.input
    assert record["eventSource"] == "aws:sqs" and json.loads(record["body"])["Records"]
    assert peek(stack) == []


@pytest.mark.integration
def test_a_restart_already_made_is_not_made_twice(stack: LocalStack) -> None:
    """A run cut short after StartExecution: the next run finds the execution name taken."""
    key = stack.upload_key("redrive-twice/photo.jpg")
    with faults.s3_error("get_object", "AccessDenied", times=None, bucket=stack.source_bucket):
        drive.upload(stack, samples.jpeg(200, 150, seed=4), key)
        drive.pump(stack)
    sqs = stack.clients.client("sqs")
    [message] = sqs.receive_message(QueueUrl=stack.dead_letter_queue_url, VisibilityTimeout=0)[
        "Messages"
    ]
    body = json.loads(message["Body"])
    stack.clients.client("stepfunctions").start_execution(
        stateMachineArn=stack.state_machine_arn,
        name=f"redrive-{message['MessageId']}",
        input=json.dumps(body["input"]),
    )
    drive.wait(stack)

    report = run(stack)

    [result] = report.results
    assert (result.action, result.deleted) == ("restarted", True)
    assert "earlier run" in result.note
    assert [e.status for e in observe(stack, [key])[key].executions] == ["FAILED", "SUCCEEDED"]


# -- the command line ------------------------------------------------------------------


@pytest.mark.integration
def test_the_command_prints_json_and_a_table(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    key = drive.upload(stack, b"", stack.upload_key("redrive-cli/empty.jpg"))
    with faults.s3_error("get_object", "AccessDenied", times=None, bucket=stack.source_bucket):
        failed = drive.upload(
            stack, samples.jpeg(200, 150, seed=5), stack.upload_key("redrive-cli/a.jpg")
        )
        drive.pump(stack)
    legacy_rejection(stack, key)  # recorded, not dead-lettered: as an older stack left it
    where = [
        "--dlq-url",
        stack.dead_letter_queue_url,
        "--state-machine-arn",
        stack.state_machine_arn,
    ]

    capsys.readouterr()
    assert main(["redrive", *where, "--dry-run", "--json"]) == 0
    doc = json.loads(_cli_lines(capsys.readouterr().out))
    assert doc["dryRun"] is True
    assert doc["summary"] == {"restarted": 0, "wouldRestart": 1, "skipped": 1, "failed": 0}
    by_key = {m["key"]: m for m in doc["messages"]}
    assert by_key[failed]["action"] == "would restart"
    assert by_key[failed]["method"] == "StartExecution"
    assert by_key[key]["action"] == "skipped" and by_key[key]["reason"] == "empty"

    assert main(["redrive", *where]) == 0
    drive.wait(stack)
    out = capsys.readouterr().out
    assert "1 restarted, 1 skipped, 0 refused" in out
    assert "redrive-" in out  # the new execution's name
    assert observe(stack, [failed])[failed].status == "SUCCEEDED"


def test_no_local_stack_is_one_line_and_exit_3(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IMAGEPIPE_STATE_DIR", str(tmp_path))
    assert main(["redrive", "--local"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("imagepipe redrive: no local stack") and err.count("\n") == 1


def _cli_lines(out: str) -> str:
    """stdout without the in-process Lambda handlers' log lines (JSON objects per line)."""
    return "".join(
        line
        for line in out.splitlines(keepends=True)
        if not line.startswith(('{"level":', '{"_aws":'))
    )
