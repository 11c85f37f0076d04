"""A backfill remembers rejections, on the local stack: a version the catalogue records as
rejected is skipped without being read, what the backfill itself refuses is recorded (so
the next run skips it too), and nothing is dead-lettered or notified for either, with or
without onlyMissing."""

from __future__ import annotations

import json
import posixpath
import uuid

import pytest

from imagepipe.catalogue import CatalogueRecord, get_record
from imagepipe.local import samples
from imagepipe.local.stack import LocalStack
from tests.integration.conftest import fresh_key
from tests.support import drive, faults

pytestmark = pytest.mark.integration

NOT_AN_IMAGE = b"this is not a picture\n"


def record(stack: LocalStack, key: str) -> CatalogueRecord | None:
    return get_record(stack.clients.client("dynamodb"), stack.outputs["catalogueTable"], key)


def backfill(stack: LocalStack, prefix: str, *, only_missing: bool) -> str:
    """Run the backfill state machine over `prefix` to its end; its status."""
    sfn = stack.clients.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=drive.state_machine_arn_of(stack, "backfill"),
        name=f"backfill-{uuid.uuid4().hex[:8]}",
        input=json.dumps({"prefix": prefix, "onlyMissing": only_missing}),
    )["executionArn"]
    drive.wait(stack)
    return str(sfn.describe_execution(executionArn=arn)["status"])


def notified(stack: LocalStack, key: str) -> list[str]:
    return [
        n.attributes.get("event", "")
        for n in drive.notifications(stack)
        if isinstance(n.message, dict) and n.message.get("source", {}).get("key") == key
    ]


@pytest.mark.parametrize("only_missing", [True, False], ids=["only-missing", "everything"])
def test_a_version_recorded_as_rejected_is_skipped(stack: LocalStack, only_missing: bool) -> None:
    bad = drive.upload(stack, NOT_AN_IMAGE, fresh_key(stack, "notes.jpg"))
    good = drive.upload(
        stack, samples.jpeg(300, 200, seed=31), posixpath.dirname(bad) + "/fine.jpg"
    )
    drive.pump(stack)
    rejected = record(stack, bad)
    assert rejected is not None and rejected.status == "rejected"
    letters = len(drive.dlq_messages(stack))
    assert notified(stack, bad) == ["image.rejected"]  # the upload's
    assert notified(stack, good) == ["image.processed"]

    # Any read of it would fail (and dead-letter it): a skipped version is only HEADed.
    with faults.s3_error("get_object", "AccessDenied", times=None, key=bad) as unread:
        prefix = posixpath.dirname(bad) + "/"
        assert backfill(stack, prefix, only_missing=only_missing) == "SUCCEEDED"
    assert unread.raised == 0

    assert record(stack, bad) == rejected  # untouched: the upload's record and execution
    assert record(stack, good) is not None
    assert len(drive.dlq_messages(stack)) == letters
    # A backfill notifies nothing.
    assert notified(stack, bad) == ["image.rejected"]
    assert notified(stack, good) == ["image.processed"]


def test_a_rejection_the_backfill_finds_is_recorded_and_skipped_next_time(
    stack: LocalStack,
) -> None:
    bad = drive.upload(stack, NOT_AN_IMAGE, fresh_key(stack, "older.jpg"))
    drive.pump(stack)
    # As for an original older than the catalogue: no record of it.
    dynamodb, table = stack.clients.client("dynamodb"), stack.outputs["catalogueTable"]
    dynamodb.delete_item(TableName=table, Key={"key": {"S": bad}})
    etag = stack.clients.client("s3").head_object(Bucket=stack.source_bucket, Key=bad)["ETag"]
    letters = len(drive.dlq_messages(stack))
    assert notified(stack, bad) == ["image.rejected"]  # the upload's

    prefix = posixpath.dirname(bad) + "/"
    assert backfill(stack, prefix, only_missing=False) == "SUCCEEDED"
    first = record(stack, bad)
    assert first is not None
    assert (first.status, first.reason, first.etag) == ("rejected", "not_an_image", etag.strip('"'))
    assert first.message is not None and first.message.startswith("not_an_image: ")
    assert first.execution_arn is not None and "backfill" in first.execution_arn
    assert len(drive.dlq_messages(stack)) == letters
    assert notified(stack, bad) == ["image.rejected"]  # nothing new

    # The next backfill skips it, unread: the record stays the first backfill's.
    with faults.s3_error("get_object", "AccessDenied", times=None, key=bad) as unread:
        assert backfill(stack, prefix, only_missing=True) == "SUCCEEDED"
    assert unread.raised == 0
    assert record(stack, bad) == first
    assert len(drive.dlq_messages(stack)) == letters

    # A new upload of the key is processed as usual over the backfill's record.
    drive.upload(stack, samples.jpeg(200, 200, seed=32), bad)
    drive.pump(stack)
    again = record(stack, bad)
    assert again is not None and again.status == "processed"
