"""With deleteDerivatives, deleting an original removes its renditions and its backup."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote

import pytest

from imagepipe.catalogue import get_record
from imagepipe.local import samples
from imagepipe.local.stack import LocalStack, deploy_local
from tests.integration.conftest import fresh_key
from tests.integration.test_iam_enforced import dead_letter_for, without_statement
from tests.integration.test_invalidation import invalidations
from tests.support import drive

pytestmark = pytest.mark.integration


def removal_of(stack: LocalStack, key: str) -> dict[str, Any]:
    """The one removal execution started for `key`."""
    sfn = stack.clients.client("stepfunctions")
    runs = sfn.list_executions(stateMachineArn=drive.state_machine_arn_of(stack, "removal"))
    [found] = [e for e in runs["executions"] if drive.describe(stack, e["executionArn"]).key == key]
    return found  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def removal_stack() -> Iterator[LocalStack]:
    with deploy_local("dev", config={"deleteDerivatives": True}) as deployed:
        drive.pump(deployed)
        yield deployed


def test_deleting_an_original_deletes_what_was_made_from_it(removal_stack: LocalStack) -> None:
    stack = removal_stack
    key = drive.upload(stack, samples.jpeg(900, 600, seed=101), fresh_key(stack, "gone soon.jpg"))
    kept = drive.upload(stack, samples.jpeg(600, 900, seed=102), fresh_key(stack, "stays.jpg"))
    drive.pump(stack)
    stem = key.removeprefix(stack.settings.upload_prefix).removesuffix(".jpg")
    made = [k for k in drive.objects(stack, stack.destination_bucket) if stem in k]
    assert len(made) == len(stack.settings.renditions) + 1  # and its manifest
    assert key in drive.objects(stack, stack.backup_bucket)

    stack.clients.client("s3").delete_object(Bucket=stack.source_bucket, Key=key)
    drive.pump(stack)

    sfn = stack.clients.client("stepfunctions")
    runs = sfn.list_executions(stateMachineArn=drive.state_machine_arn_of(stack, "removal"))
    assert [e["status"] for e in runs["executions"]] == ["SUCCEEDED"]
    assert not [k for k in drive.objects(stack, stack.destination_bucket) if stem in k]
    assert key not in drive.objects(stack, stack.backup_bucket)
    assert kept in drive.objects(stack, stack.backup_bucket)  # only what came from the deleted key
    assert drive.dlq_messages(stack) == []


def test_a_removal_is_notified_with_what_was_deleted(removal_stack: LocalStack) -> None:
    stack = removal_stack
    key = drive.upload(stack, samples.jpeg(500, 400, seed=103), fresh_key(stack, "told.jpg"))
    drive.pump(stack)
    stem = key.removeprefix(stack.settings.upload_prefix).removesuffix(".jpg")
    made = {k for k in drive.objects(stack, stack.destination_bucket) if f"/{stem}." in k}
    assert len(made) == len(stack.settings.renditions) + 1  # and its manifest

    stack.clients.client("s3").delete_object(Bucket=stack.source_bucket, Key=key)
    drive.pump(stack)

    removed = [
        n
        for n in drive.notifications(stack)
        if n.attributes.get("event") == "image.removed"
        and isinstance(n.message, dict)
        and n.message["source"]["key"] == key
    ]
    assert len(removed) == 1
    [notice] = removed
    assert notice.subject == "Image removed"
    listed = {d["Key"] for d in notice.message["derivatives"]}
    assert made <= listed  # every rendition that existed is named in the message
    assert not made & set(drive.objects(stack, stack.destination_bucket))


def test_a_removal_records_the_original_as_deleted(removal_stack: LocalStack) -> None:
    """The catalogue record says deleted (renditions gone), under the removal's newer
    sequencer; an upload of the same key afterwards is a new record, processed again."""
    stack = removal_stack
    dynamodb, table = stack.clients.client("dynamodb"), stack.outputs["catalogueTable"]
    key = drive.upload(stack, samples.jpeg(400, 300, seed=104), fresh_key(stack, "recorded.jpg"))
    drive.pump(stack)
    before = get_record(dynamodb, table, key)
    assert before is not None and before.status == "processed" and before.renditions

    stack.clients.client("s3").delete_object(Bucket=stack.source_bucket, Key=key)
    drive.pump(stack)

    after = get_record(dynamodb, table, key)
    assert after is not None
    assert after.status == "deleted"
    assert after.renditions == []
    assert after.sequencer > before.sequencer
    assert after.etag == before.etag  # the version that was deleted
    assert before.content_hash and after.content_hash is None  # out of the same-bytes index
    assert before.manifest_url and after.manifest_url is None  # the manifest went too
    sfn = stack.clients.client("stepfunctions")
    runs = sfn.list_executions(stateMachineArn=drive.state_machine_arn_of(stack, "removal"))
    assert after.execution_arn in {e["executionArn"] for e in runs["executions"]}
    assert drive.dlq_messages(stack) == []

    drive.upload(stack, samples.jpeg(300, 400, seed=105), key)
    drive.pump(stack)
    again = get_record(dynamodb, table, key)
    assert again is not None and again.status == "processed"
    assert again.sequencer > after.sequencer


def test_removing_an_original_the_catalogue_never_saw_records_nothing(
    removal_stack: LocalStack,
) -> None:
    stack = removal_stack
    dynamodb, table = stack.clients.client("dynamodb"), stack.outputs["catalogueTable"]
    key = drive.upload(stack, samples.jpeg(200, 200, seed=106), fresh_key(stack, "unrecorded.jpg"))
    drive.pump(stack)
    # As for an original that predates the catalogue: no record of it.
    dynamodb.delete_item(TableName=table, Key={"key": {"S": key}})
    stack.clients.client("s3").delete_object(Bucket=stack.source_bucket, Key=key)
    drive.pump(stack)

    assert get_record(dynamodb, table, key) is None
    sfn = stack.clients.client("stepfunctions")
    runs = sfn.list_executions(stateMachineArn=drive.state_machine_arn_of(stack, "removal"))
    assert {e["status"] for e in runs["executions"]} == {"SUCCEEDED"}
    assert drive.dlq_messages(stack) == []


def test_the_same_bytes_after_their_original_was_deleted_are_new_content(
    removal_stack: LocalStack,
) -> None:
    stack = removal_stack
    data = samples.jpeg(420, 280, seed=107)
    gone = drive.upload(stack, data, fresh_key(stack, "deleted original.jpg"))
    drive.pump(stack)
    stack.clients.client("s3").delete_object(Bucket=stack.source_bucket, Key=gone)
    drive.pump(stack)
    again = drive.upload(stack, data, fresh_key(stack, "same bytes later.jpg"))
    drive.pump(stack)
    record = get_record(stack.clients.client("dynamodb"), stack.outputs["catalogueTable"], again)
    assert record is not None and record.status == "processed"
    assert record.duplicate_of is None  # not a copy of an original that no longer exists


def test_a_removal_invalidates_exactly_what_was_served(removal_stack: LocalStack) -> None:
    """The deleted original's renditions and manifest were served by the CDN: exactly
    those paths are invalidated, once, through CloudFront's SDK integration, with the
    removal execution's name as CallerReference."""
    stack = removal_stack
    key = drive.upload(stack, samples.jpeg(640, 480, seed=108), fresh_key(stack, "served é+1.jpg"))
    drive.pump(stack)
    stem = key.removeprefix(stack.settings.upload_prefix).removesuffix(".jpg")
    served = {k for k in drive.objects(stack, stack.destination_bucket) if f"/{stem}." in k}
    assert len(served) == len(stack.settings.renditions) + 1  # and its manifest
    before = len(invalidations(stack))

    stack.clients.client("s3").delete_object(Bucket=stack.source_bucket, Key=key)
    drive.pump(stack)

    [batch] = invalidations(stack)[before:]
    assert {unquote(p) for p in batch["Paths"]["Items"]} == {f"/{k}" for k in served}
    assert batch["Paths"]["Quantity"] == len(served)
    assert all(p == "/" + quote(unquote(p).lstrip("/")) for p in batch["Paths"]["Items"])
    assert batch["CallerReference"] == removal_of(stack, key)["name"]


def test_a_removal_with_nothing_served_invalidates_nothing(removal_stack: LocalStack) -> None:
    stack = removal_stack
    key = drive.upload(stack, b"not an image at all\n", fresh_key(stack, "never served.jpg"))
    drive.pump(stack)
    before = len(invalidations(stack))
    stack.clients.client("s3").delete_object(Bucket=stack.source_bucket, Key=key)
    drive.pump(stack)
    assert len(invalidations(stack)) == before
    assert removal_of(stack, key)["status"] == "SUCCEEDED"


def test_without_its_statement_the_removal_s_invalidation_fails_it(
    removal_stack: LocalStack,
) -> None:
    """The removal role may invalidate its own distribution (InvalidateStaleRenditions):
    without that statement CloudFront refuses, and the removal is dead-lettered."""
    stack = removal_stack
    key = drive.upload(stack, samples.jpeg(300, 300, seed=109), fresh_key(stack, "refused.jpg"))
    drive.pump(stack)
    with without_statement(stack, "-removal-role", "InvalidateStaleRenditions"):
        stack.clients.client("s3").delete_object(Bucket=stack.source_bucket, Key=key)
        drive.pump(stack)
    failed = removal_of(stack, key)
    assert failed["status"] == "FAILED"
    letter = dead_letter_for(stack, failed["executionArn"])
    assert letter["kind"] == "failed"
    assert "cloudfront:CreateInvalidation" in json.dumps(letter), letter
