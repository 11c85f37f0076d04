"""Every upload has an outcome an app can read and an operator can act on, on the local
stack: a catalogue record per upload, image.processed / image.rejected events that
validate against docs/schemas, rejections that neither fail the execution nor reach the
dead-letter queue, duplicated events that end as such, duplicate content named, and the
workflow role's DynamoDB statements each needed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from imagepipe.catalogue import CatalogueRecord, get_record
from imagepipe.local import samples
from imagepipe.local.stack import LocalStack
from tests.integration.conftest import execution_for, fresh_key
from tests.integration.test_iam_enforced import without_statement
from tests.support import drive

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def schema(event: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / f"{event}.json").read_text())
    return loaded


def record(stack: LocalStack, key: str) -> CatalogueRecord:
    found = get_record(stack.clients.client("dynamodb"), stack.outputs["catalogueTable"], key)
    assert found is not None, f"no catalogue record for {key}"
    return found


def events_for(stack: LocalStack, key: str) -> list[tuple[dict[str, str], dict[str, Any]]]:
    return [
        (n.attributes, n.message)
        for n in drive.notifications(stack)
        if isinstance(n.message, dict) and n.message.get("source", {}).get("key") == key
    ]


def last_state(stack: LocalStack, arn: str) -> str:
    """The name of the last state the execution entered (its end, for a finished one)."""
    events = stack.clients.client("stepfunctions").get_execution_history(executionArn=arn)
    entered = [e for e in events["events"] if "stateEnteredEventDetails" in e]
    return str(max(entered, key=lambda e: e["id"])["stateEnteredEventDetails"]["name"])


def test_a_processed_upload_is_recorded_and_announced_with_everything(stack: LocalStack) -> None:
    data = samples.jpeg(1200, 800, seed=101)
    key = drive.upload(stack, data, fresh_key(stack, "photo.jpg"))
    drive.pump(stack)

    execution = execution_for(stack, key)
    assert execution.status == "SUCCEEDED"
    [(attributes, message)] = events_for(stack, key)
    assert attributes["event"] == "image.processed"
    jsonschema.validate(message, schema("image.processed"))
    assert message["renditionsBucket"] == stack.destination_bucket
    assert message["duplicateOf"] is None
    assert message["executionArn"] == execution.arn
    assert {r["name"] for r in message["renditions"]} == {r.name for r in stack.settings.renditions}

    stem = key.removeprefix(stack.settings.upload_prefix).removesuffix(".jpg")
    assert message["manifestUrl"] == f"{stack.outputs['renditionsBaseUrl']}/manifests/{stem}.json"

    entry = record(stack, key)
    jsonschema.validate(entry.to_dict(), schema("catalogue-record"))
    assert entry.manifest_url == message["manifestUrl"]
    assert (entry.status, entry.reason, entry.execution_arn) == ("processed", None, execution.arn)
    assert (entry.width, entry.height, entry.format) == (1200, 800, "JPEG")
    assert entry.etag == message["source"]["etag"]
    assert [r["key"] for r in entry.renditions] == [r["key"] for r in message["renditions"]]


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("text.jpg", b"just some text, honest\n" * 10, "not_an_image"),
        ("empty.png", b"", "empty"),
        ("notes.txt", b"a text file under the prefix\n", "not_an_image"),
        ("photo.JPG.txt", samples.jpeg(300, 200, seed=102), "unsupported_suffix"),
    ],
)
def test_a_rejected_upload_is_recorded_and_announced_not_paged(
    stack: LocalStack, name: str, data: bytes, reason: str
) -> None:
    dead_before = len(drive.dlq_messages(stack))
    key = drive.upload(stack, data, fresh_key(stack, name))
    drive.pump(stack)

    execution = execution_for(stack, key)
    assert execution.status == "SUCCEEDED"  # it handled the upload: nothing to page about
    assert last_state(stack, execution.arn) == "Rejected"
    [(attributes, message)] = events_for(stack, key)
    assert (attributes["event"], attributes["reason"]) == ("image.rejected", reason)
    jsonschema.validate(message, schema("image.rejected"))
    assert message["reason"] == reason and message["message"].startswith(f"{reason}: ")
    entry = record(stack, key)
    jsonschema.validate(entry.to_dict(), schema("catalogue-record"))
    assert (entry.status, entry.reason, entry.manifest_url) == ("rejected", reason, None)
    assert len(drive.dlq_messages(stack)) == dead_before


def test_a_repeated_event_ends_as_a_duplicate_without_a_second_notification(
    stack: LocalStack,
) -> None:
    key = drive.upload(stack, samples.jpeg(800, 600, seed=103), fresh_key(stack, "twice.jpg"))
    drive.pump(stack)
    first = execution_for(stack, key)
    body = first.input[0]["body"]
    stack.clients.client("sqs").send_message(QueueUrl=stack.ingest_queue_url, MessageBody=body)
    drive.pump(stack)

    runs = [e for e in drive.executions(stack) if e.key == key]
    assert [e.status for e in runs] == ["SUCCEEDED", "SUCCEEDED"]
    second = next(e for e in runs if e.arn != first.arn)
    assert last_state(stack, second.arn) == "Duplicate event"
    assert len(events_for(stack, key)) == 1
    assert record(stack, key).execution_arn == first.arn


def test_a_newer_upload_of_the_key_is_processed_again(stack: LocalStack) -> None:
    key = fresh_key(stack, "again.jpg")
    drive.upload(stack, samples.jpeg(800, 600, seed=104), key)
    drive.pump(stack)
    drive.upload(stack, samples.jpeg(640, 480, seed=105), key)
    drive.pump(stack)
    assert [m["source"]["width"] for _, m in events_for(stack, key)] == [800, 640]
    assert record(stack, key).width == 640


def test_identical_bytes_under_another_key_name_the_earlier_original(stack: LocalStack) -> None:
    data = samples.jpeg(700, 500, seed=106)
    first = drive.upload(stack, data, fresh_key(stack, "original.jpg"))
    drive.pump(stack)
    copy = drive.upload(stack, data, fresh_key(stack, "copy.jpg"))
    drive.pump(stack)
    [(_, message)] = events_for(stack, copy)
    jsonschema.validate(message, schema("image.processed"))
    assert message["duplicateOf"] == first
    assert record(stack, copy).duplicate_of == first
    assert record(stack, first).duplicate_of is None


def test_recording_an_upload_needs_the_workflow_s_catalogue_writes(stack: LocalStack) -> None:
    with without_statement(stack, "-workflow-role", "RecordUploads"):
        key = drive.upload(stack, samples.jpeg(400, 300, seed=107), fresh_key(stack, "denied.jpg"))
        drive.pump(stack)
    execution = execution_for(stack, key)
    assert execution.status == "FAILED"
    assert execution.error == "DynamoDB.AccessDeniedException"
    # A catalogue write that fails is a processing failure: dead-lettered, never lost.
    assert [d.kind for d in drive.dlq_messages(stack) if d.execution_arn == execution.arn] == [
        "failed"
    ]
    assert events_for(stack, key) == []


def test_finding_same_bytes_needs_query_on_the_index(stack: LocalStack) -> None:
    with without_statement(stack, "-workflow-role", "FindSameBytes"):
        key = drive.upload(stack, samples.jpeg(400, 300, seed=108), fresh_key(stack, "noquery.jpg"))
        drive.pump(stack)
    execution = execution_for(stack, key)
    assert execution.status == "FAILED"
    entry = record(stack, key)
    assert (entry.status, entry.reason) == ("failed", "processing_error")
    assert [d.kind for d in drive.dlq_messages(stack) if d.execution_arn == execution.arn] == [
        "failed"
    ]


def test_many_originals_with_the_same_bytes_pass_on_only_the_earliest(stack: LocalStack) -> None:
    """Thousands of catalogue records share the bytes (one image uploaded under many
    names): `Find same bytes` reads only what it needs, so its result stays far below
    Step Functions' 256 KiB payload limit, and the earliest original is the one named."""
    import hashlib

    data = samples.jpeg(360, 240, seed=109)
    digest = hashlib.sha256(data).hexdigest()
    dynamodb, table = stack.clients.client("dynamodb"), stack.outputs["catalogueTable"]
    many = 3000  # ~100 B each in the index's projection: ~300 KB if all were returned

    def put(key: str, received: str, status: str = "processed") -> None:
        dynamodb.put_item(
            TableName=table,
            Item={
                "key": {"S": key},
                "status": {"S": status},
                "contentHash": {"S": digest},
                "sequencer": {"S": "0" * 32},
                "receivedAt": {"S": received},
                "renditions": {"S": "[]"},
            },
        )

    prefix = fresh_key(stack, "")
    for n in range(many):
        put(f"{prefix}later-{n:05d}.jpg", f"2026-02-01T00:00:{n % 60:02d}.{n:03d}Z")
    # Written last, received first: the index's order, not the table's, must decide.
    earliest = f"{prefix}earliest.jpg"
    put(earliest, "2026-01-01T00:00:00.000Z")

    key = drive.upload(stack, data, fresh_key(stack, "one more copy.jpg"))
    drive.pump(stack)
    execution = execution_for(stack, key)
    assert execution.status == "SUCCEEDED", execution.cause
    [(_, message)] = events_for(stack, key)
    assert message["duplicateOf"] == earliest
    assert record(stack, key).duplicate_of == earliest

    events = drive.history(stack, execution.arn)
    [query] = [
        e["taskSucceededEventDetails"]["output"]
        for e in events
        if e["type"] == "TaskSucceeded" and e["taskSucceededEventDetails"]["resource"] == "query"
    ]
    assert len(query) < 1024, f"the query returned {len(query)} bytes"
    found = json.loads(query)["Items"]
    assert found == [{"key": {"S": earliest}}]  # the key only: all the workflow uses
    assert len(json.dumps(execution.output)) < 16 * 1024
