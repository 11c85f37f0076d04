"""A backfill keeps the catalogue true, on the local stack: an original it processes gets a
`processed` record (where it had none, e.g. one older than the catalogue or whose record
was lost) with its renditions and manifest, a record of the same version is brought up to
date without losing anything, a record of another version is left alone, a failure is
recorded as the upload workflow would record it (and still dead-lettered) without
downgrading a processed record, and the writes need the backfill role's own statement."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest

from imagepipe.catalogue import CatalogueRecord
from imagepipe.local import samples
from imagepipe.local.stack import LocalStack
from tests.integration.conftest import fresh_key
from tests.integration.test_backfill_remembers import backfill, notified, record
from tests.integration.test_iam_enforced import without_statement
from tests.support import drive, faults

pytestmark = pytest.mark.integration

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "schemas" / "catalogue-record.json").read_text()
)
NO_EVENT = "0" * 32  # the sequencer of a record a backfill made: any upload's is newer


def uploaded(stack: LocalStack, name: str, data: bytes) -> tuple[str, str, str]:
    """An image run through the upload workflow: (key, its folder, its key stem)."""
    key = drive.upload(stack, data, fresh_key(stack, name))
    drive.pump(stack)
    stem = key.removeprefix(stack.settings.upload_prefix).rsplit(".", 1)[0]
    return key, key.rsplit("/", 1)[0] + "/", stem


def forget(stack: LocalStack, key: str) -> None:
    """As for an original older than the catalogue, or whose record was lost."""
    dynamodb = stack.clients.client("dynamodb")
    dynamodb.delete_item(TableName=stack.outputs["catalogueTable"], Key={"key": {"S": key}})
    assert record(stack, key) is None


def valid(found: CatalogueRecord | None) -> CatalogueRecord:
    assert found is not None
    jsonschema.Draft202012Validator(SCHEMA).validate(found.to_dict())
    return found


def letters_for(stack: LocalStack, folder: str) -> list[dict[str, Any]]:
    """Dead letters of the backfill of `folder`. On AWS a child's input is its listed
    object; moto runs the children inline, in the parent's execution and input."""
    return [
        d.body
        for d in drive.dlq_messages(stack)
        if isinstance(d.body, dict) and (d.body.get("input") or {}).get("prefix") == folder
    ]


def assert_renditions_of(stack: LocalStack, found: CatalogueRecord, stem: str) -> None:
    """Every configured rendition, with its URL, as written in the renditions bucket."""
    base = stack.outputs["renditionsBaseUrl"]
    names = sorted(r.name for r in stack.settings.renditions)
    assert sorted(r["name"] for r in found.renditions) == names
    written = set(drive.objects(stack, stack.destination_bucket))
    for rendition in found.renditions:
        assert rendition["key"] in written and f"/{stem}." in rendition["key"]
        assert rendition["url"] == f"{base}/{quote(rendition['key'], safe='/')}"
        assert rendition["bytes"] > 0 and rendition["contentType"].startswith("image/")
    assert found.manifest_url == f"{base}/manifests/{quote(stem, safe='/')}.json"


@pytest.mark.parametrize("only_missing", [True, False], ids=["only-missing", "everything"])
def test_an_original_without_a_record_is_recorded_as_processed(
    stack: LocalStack, only_missing: bool
) -> None:
    data = samples.jpeg(640, 400, seed=71)
    key, folder, stem = uploaded(stack, "older than the catalogue.jpg", data)
    forget(stack, key)
    if only_missing:  # and than its renditions (the next test keeps them)
        s3 = stack.clients.client("s3")
        for made in drive.objects(stack, stack.destination_bucket):
            if f"/{stem}." in made:
                s3.delete_object(Bucket=stack.destination_bucket, Key=made)
    letters = len(drive.dlq_messages(stack))
    etag = stack.clients.client("s3").head_object(Bucket=stack.source_bucket, Key=key)["ETag"]

    assert backfill(stack, folder, only_missing=only_missing) == "SUCCEEDED"

    found = valid(record(stack, key))
    assert (found.status, found.reason, found.message) == ("processed", None, None)
    assert (found.etag, found.version_id, found.sequencer) == (etag.strip('"'), "", NO_EVENT)
    assert (found.format, found.width, found.height, found.bytes) == ("JPEG", 640, 400, len(data))
    assert found.content_hash == hashlib.sha256(data).hexdigest()
    assert found.duplicate_of is None
    assert found.execution_arn is not None and "backfill" in found.execution_arn
    assert found.received_at is not None and found.updated_at is not None
    assert_renditions_of(stack, found, stem)
    assert len(drive.dlq_messages(stack)) == letters
    assert notified(stack, key) == ["image.processed"]  # the upload's: a backfill notifies none


def test_a_complete_original_without_a_record_is_recorded_without_rendering(
    stack: LocalStack,
) -> None:
    """onlyMissing with nothing missing: the image is recorded from its manifest, and not
    one rendition is made again (each is marked here, and stays marked)."""
    key, folder, stem = uploaded(stack, "complete.jpg", samples.jpeg(480, 320, seed=77))
    before = valid(record(stack, key))
    forget(stack, key)
    s3 = stack.clients.client("s3")
    for rendition in before.renditions:
        s3.copy_object(
            Bucket=stack.destination_bucket,
            Key=rendition["key"],
            CopySource={"Bucket": stack.destination_bucket, "Key": rendition["key"]},
            Metadata={"source-etag": before.etag, "marked": "yes"},
            MetadataDirective="REPLACE",
            ContentType=rendition["contentType"],
        )

    assert backfill(stack, folder, only_missing=True) == "SUCCEEDED"

    found = valid(record(stack, key))
    assert (found.status, found.etag, found.content_hash) == (
        "processed", before.etag, before.content_hash
    )  # fmt: skip
    assert found.renditions == before.renditions  # as the manifest names them
    assert_renditions_of(stack, found, stem)
    for rendition in before.renditions:
        head = s3.head_object(Bucket=stack.destination_bucket, Key=rendition["key"])
        assert head["Metadata"].get("marked") == "yes", rendition["key"]  # not remade

    # Recorded now: the next such backfill has nothing to do.
    assert backfill(stack, folder, only_missing=True) == "SUCCEEDED"
    assert record(stack, key) == found


@pytest.mark.parametrize("only_missing", [True, False], ids=["only-missing", "everything"])
def test_a_record_of_the_same_version_keeps_its_fields_and_gets_the_renditions(
    stack: LocalStack, only_missing: bool
) -> None:
    """As for a record written before manifests (no renditions, no manifest URL), whose
    image lost a rendition since: the backfill remakes it, and the record names every
    rendition again (with onlyMissing too, which remade only one) and the manifest."""
    key, folder, stem = uploaded(stack, "recorded.jpg", samples.jpeg(500, 500, seed=72))
    before = valid(record(stack, key))
    assert before.status == "processed"
    dynamodb = stack.clients.client("dynamodb")
    dynamodb.update_item(
        TableName=stack.outputs["catalogueTable"],
        Key={"key": {"S": key}},
        UpdateExpression="SET #renditions = :none REMOVE #manifestUrl",
        ExpressionAttributeNames={"#renditions": "renditions", "#manifestUrl": "manifestUrl"},
        ExpressionAttributeValues={":none": {"S": "[]"}},
    )
    [lost] = [r["key"] for r in before.renditions if r["name"] == "thumb"]
    stack.clients.client("s3").delete_object(Bucket=stack.destination_bucket, Key=lost)

    assert backfill(stack, folder, only_missing=only_missing) == "SUCCEEDED"

    after = valid(record(stack, key))
    assert lost in drive.objects(stack, stack.destination_bucket, "thumb/")
    assert_renditions_of(stack, after, stem)
    assert after.manifest_url == before.manifest_url
    kept = ("status", "etag", "version_id", "sequencer", "bytes", "format", "width", "height",
            "content_hash", "duplicate_of", "received_at", "reason", "message")  # fmt: skip
    assert {f: getattr(after, f) for f in kept} == {f: getattr(before, f) for f in kept}
    assert after.execution_arn != before.execution_arn and "backfill" in str(after.execution_arn)
    assert str(after.updated_at) > str(before.updated_at)
    if only_missing:  # the others were not remade: the record lists them as they are
        untouched = [r for r in before.renditions if r["key"] != lost]
        assert all(r in after.renditions for r in untouched)


@pytest.mark.parametrize(
    ("update", "values"),
    [
        (
            "SET #etag = :etag, #seq = :seq, #status = :status",
            {
                ":etag": "0123456789abcdef0123456789abcdef",
                ":seq": "f" * 32,
                ":status": "processing",
            },
        ),
        ("SET #seq = :seq, #status = :status", {":seq": "f" * 32, ":status": "deleted"}),
    ],
    ids=["newer-upload", "deleted-since"],
)
def test_a_record_that_is_not_the_backfill_s_is_left_alone(
    stack: LocalStack, update: str, values: dict[str, str]
) -> None:
    """A newer upload of the key took the record over (its own event, its own outcome),
    or the original's deletion was recorded after the backfill read it: the backfill makes
    the renditions of what it read but does not write over either."""
    key, folder, _ = uploaded(stack, "overtaken.jpg", samples.jpeg(300, 300, seed=73))
    names = {"#etag": "etag", "#seq": "sequencer", "#status": "status"}
    stack.clients.client("dynamodb").update_item(
        TableName=stack.outputs["catalogueTable"],
        Key={"key": {"S": key}},
        UpdateExpression=update,
        ExpressionAttributeNames={k: v for k, v in names.items() if k in update},
        ExpressionAttributeValues={k: {"S": v} for k, v in values.items()},
    )
    theirs = record(stack, key)
    letters = len(drive.dlq_messages(stack))

    for only_missing in (False, True):  # the complete image is no exception
        assert backfill(stack, folder, only_missing=only_missing) == "SUCCEEDED"
        assert record(stack, key) == theirs
    assert len(drive.dlq_messages(stack)) == letters  # not a failure: the record is not ours


@pytest.mark.parametrize("recorded", [False, True], ids=["no-record", "processed-record"])
def test_a_failure_is_recorded_as_an_upload_s_would_be_and_dead_lettered(
    stack: LocalStack, recorded: bool
) -> None:
    """Where the key has no record, the failure is recorded (failed, processing_error);
    an upload's processed record of the same version is not downgraded. Dead-lettered
    either way: a failure pages."""
    data = samples.jpeg(400, 300, seed=74 + int(recorded))
    key, folder, stem = uploaded(stack, "fails.jpg", data)
    before = record(stack, key)
    if not recorded:
        forget(stack, key)
    # Resize may not write this image's renditions: not transient, so not retried.
    with faults.s3_error("put_object", "AccessDenied", times=None, key_contains=f"/{stem}."):
        assert backfill(stack, folder, only_missing=False) == "SUCCEEDED"  # the parent

    [letter] = letters_for(stack, folder)
    assert letter["kind"] == "failed" and "backfill" in letter["executionArn"]
    found = valid(record(stack, key))
    if recorded:
        assert found == before
        return
    etag = stack.clients.client("s3").head_object(Bucket=stack.source_bucket, Key=key)["ETag"]
    assert (found.status, found.reason) == ("failed", "processing_error")
    assert found.message == letter["error"]
    assert (found.etag, found.bytes, found.sequencer) == (etag.strip('"'), len(data), NO_EVENT)
    assert found.execution_arn == letter["executionArn"]
    assert found.renditions == [] and found.manifest_url is None

    # A later backfill that succeeds makes the failed record processed.
    assert backfill(stack, folder, only_missing=False) == "SUCCEEDED"
    again = valid(record(stack, key))
    assert (again.status, again.reason, again.message) == ("processed", None, None)
    assert again.received_at == found.received_at
    assert_renditions_of(stack, again, stem)


def test_recording_a_backfill_needs_the_backfill_role_s_statement(stack: LocalStack) -> None:
    """The local stack enforces IAM: without UpdateItem on the table the record cannot be
    written, and the child fails (dead-lettered) rather than end as if recorded."""
    key, folder, _ = uploaded(stack, "denied.jpg", samples.jpeg(320, 200, seed=76))
    forget(stack, key)
    with without_statement(stack, "-backfill-role", "RecordBackfills"):
        assert backfill(stack, folder, only_missing=False) == "SUCCEEDED"  # the parent
    assert record(stack, key) is None
    [letter] = letters_for(stack, folder)
    assert (letter["kind"], letter["error"]) == ("failed", "DynamoDB.AccessDeniedException")

    # With the statement back, the same backfill records it.
    assert backfill(stack, folder, only_missing=False) == "SUCCEEDED"
    assert valid(record(stack, key)).status == "processed"
