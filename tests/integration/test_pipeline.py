"""End to end on the local stack: uploads in, renditions / notifications / DLQ out."""

from __future__ import annotations

import io
import json
import posixpath
import uuid
from typing import Any

import pytest
from PIL import Image

from imagepipe.catalogue import get_record
from imagepipe.local import samples
from imagepipe.local.stack import LocalStack
from infra.settings import Settings
from tests.integration.conftest import DEPLOY_POLLS, execution_for, fresh_key
from tests.support import drive, faults

pytestmark = pytest.mark.integration

EXTENSIONS = {"webp": "webp", "jpeg": "jpg", "png": "png", "avif": "avif"}
PILLOW_FORMATS = {"webp": "WEBP", "jpeg": "JPEG", "png": "PNG", "avif": "AVIF"}


def expected_size(source: tuple[int, int], width: int, height: int, fit: str) -> tuple[int, int]:
    """The rendition contract (imagefn.renditions.Rendition), computed independently."""
    if fit in ("cover", "fill"):
        return width, height
    w, h = source
    scale = min(width / w, height / h, 1.0)  # contain never upscales
    return max(1, min(width, round(w * scale))), max(1, min(height, round(h * scale)))


def stem(stack: LocalStack, key: str) -> str:
    return posixpath.splitext(key.removeprefix(stack.settings.upload_prefix))[0]


def renditions_of(stack: LocalStack, key: str) -> dict[str, bytes]:
    """Rendition name -> bytes of every rendition written for the upload at `key`."""
    found = {}
    for rendition in stack.settings.renditions:
        ext = EXTENSIONS[rendition.format]
        rkey = f"{rendition.name}/{stem(stack, key)}.{ext}"
        if rkey in drive.objects(stack, stack.destination_bucket, rkey):
            found[rendition.name] = drive.read(stack, stack.destination_bucket, rkey)
    return found


def notifications_for(stack: LocalStack, key: str) -> list[dict[str, Any]]:
    return [
        n.message
        for n in drive.notifications(stack)
        if isinstance(n.message, dict) and n.message["source"]["key"] == key
    ]


def dead_letters_for(stack: LocalStack, key: str) -> list[Any]:
    return [d for d in drive.dlq_messages(stack) if d.key == key]


def test_deploying_starts_nothing(stack: LocalStack) -> None:
    """S3's s3:TestEvent (sent when the notification is saved) is dropped by the filter."""
    first = DEPLOY_POLLS[__name__]
    assert first.filtered >= 1
    assert first.started == []
    assert stack.queue_depth(stack.ingest_queue_url) == 0


@pytest.mark.parametrize(
    ("name", "data", "size"),
    [
        ("photo.jpg", samples.jpeg(2400, 1600, seed=11), (2400, 1600)),
        ("alpha.png", samples.transparent_png(1000, 1200, seed=12), (1000, 1200)),
        ("wide.webp", samples.webp(2600, 1000, seed=13), (2600, 1000)),
        ("rotated.jpg", samples.rotated_jpeg(1800, 1200, seed=14), (1200, 1800)),
    ],
    ids=["jpeg", "png-alpha", "webp", "jpeg-exif-rotated"],
)
def test_an_image_gets_every_rendition_a_backup_and_one_notification(
    stack: LocalStack, name: str, data: bytes, size: tuple[int, int]
) -> None:
    key = drive.upload(stack, data, fresh_key(stack, name))
    drive.pump(stack)

    assert execution_for(stack, key).status == "SUCCEEDED"
    made = renditions_of(stack, key)
    assert sorted(made) == sorted(r.name for r in stack.settings.renditions)
    for rendition in stack.settings.renditions:
        with Image.open(io.BytesIO(made[rendition.name])) as image:
            assert image.format == PILLOW_FORMATS[rendition.format], rendition.name
            assert image.size == expected_size(
                size, rendition.width, rendition.height, rendition.fit
            ), rendition.name
            if rendition.format == "jpeg":
                assert image.mode in ("RGB", "L")  # alpha flattened, JPEG has none
    assert drive.read(stack, stack.backup_bucket, key) == data

    [message] = notifications_for(stack, key)
    listed = {r["name"]: r for r in message["renditions"]}
    assert sorted(listed) == sorted(made)
    for rendition_name, image_bytes in made.items():
        with Image.open(io.BytesIO(image_bytes)) as image:
            assert (listed[rendition_name]["width"], listed[rendition_name]["height"]) == image.size
        assert listed[rendition_name]["bytes"] == len(image_bytes)
    assert dead_letters_for(stack, key) == []


def test_keys_with_spaces_plus_percent_and_unicode(stack: LocalStack) -> None:
    names = [
        "with space.jpg",
        "plus+sign.jpg",
        "100% sure.jpg",
        "literal %20 and %2B.jpg",
        "été 東京 🌅/Ünïcödé.jpg",
    ]
    data = samples.jpeg(640, 480, seed=21)
    keys = [drive.upload(stack, data, fresh_key(stack, n)) for n in names]
    drive.pump(stack)

    for key in keys:
        assert execution_for(stack, key).status == "SUCCEEDED", key
        assert sorted(renditions_of(stack, key)) == sorted(
            r.name for r in stack.settings.renditions
        ), key
        assert drive.read(stack, stack.backup_bucket, key) == data, key
        assert len(notifications_for(stack, key)) == 1, key


def _bmp() -> bytes:
    return samples.encode(samples.photo(64, 64), "BMP")


def test_every_bad_input_is_rejected_with_its_reason_and_not_dead_lettered(
    stack: LocalStack,
) -> None:
    big = b"\xff\xd8\xff\xe0" + bytes(Settings().max_input_bytes)  # one past the limit
    bad = {
        "truncated.jpg": (samples.truncated(samples.jpeg(1200, 800, seed=31)), "corrupt"),
        "text.jpg": (b"just some text, honest\n" * 10, "not_an_image"),
        "empty.png": (b"", "empty"),
        "bomb.png": (samples.png_bomb(), "too_many_pixels"),
        "bitmap.png": (_bmp(), "unsupported_format"),
        "huge.jpg": (big, "too_many_bytes"),
    }
    before = len(drive.dlq_messages(stack))
    keys = {
        drive.upload(stack, data, fresh_key(stack, name)): reason
        for name, (data, reason) in bad.items()
    }
    drive.pump(stack)

    assert drive.dlq_messages(stack)[before:] == []  # rejections page nobody
    for key, reason in keys.items():
        execution = execution_for(stack, key)
        assert execution.status == "SUCCEEDED"  # it handled the upload
        [message] = notifications_for(stack, key)
        assert (message["event"], message["reason"]) == ("image.rejected", reason)
        assert message["message"].startswith(f"{reason}: ")
        assert message["executionArn"] == execution.arn
        assert renditions_of(stack, key) == {}


def test_the_same_event_twice_changes_nothing(stack: LocalStack) -> None:
    key = drive.upload(stack, samples.jpeg(1500, 1000, seed=41), fresh_key(stack, "twice.jpg"))
    drive.pump(stack)
    first = execution_for(stack, key)
    outputs_before = renditions_of(stack, key)
    dead_before = len(drive.dlq_messages(stack))

    # Redeliver exactly the S3 event the pipe got (S3 delivers at least once).
    body = first.input[0]["body"]
    stack.clients.client("sqs").send_message(QueueUrl=stack.ingest_queue_url, MessageBody=body)
    drive.pump(stack)

    runs = [e for e in drive.executions(stack) if e.key == key]
    assert [e.status for e in runs] == ["SUCCEEDED", "SUCCEEDED"]
    assert renditions_of(stack, key) == outputs_before
    assert len(drive.dlq_messages(stack)) == dead_before


def test_an_s3_test_event_starts_no_execution(stack: LocalStack) -> None:
    before = len(drive.executions(stack))
    test_event = {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2024-01-01T00:00:00.000Z",
        "Bucket": stack.source_bucket,
        "RequestId": "TEST",
        "HostId": "TEST",
    }
    stack.clients.client("sqs").send_message(
        QueueUrl=stack.ingest_queue_url, MessageBody=json.dumps(test_event)
    )
    result = drive.poll(stack)
    assert (result.started, result.filtered) == ([], 1)
    assert len(drive.executions(stack)) == before
    assert stack.queue_depth(stack.ingest_queue_url) == 0


@pytest.mark.parametrize(
    ("function", "error"),
    [("resize", "Lambda.ServiceException"), ("inspect", "Lambda.TooManyRequestsException")],
)
def test_a_transient_lambda_fault_is_retried(stack: LocalStack, function: str, error: str) -> None:
    faults.inject_lambda_fault(drive.function_name(stack, function), error, times=1)
    key = drive.upload(stack, samples.jpeg(800, 600, seed=51), fresh_key(stack, "flaky.jpg"))
    drive.pump(stack)

    execution = execution_for(stack, key)
    assert execution.status == "SUCCEEDED"
    failures = [
        e["taskFailedEventDetails"]["error"]
        for e in drive.history(stack, execution.arn)
        if e["type"] == "TaskFailed"
    ]
    assert failures == [error]
    assert len(renditions_of(stack, key)) == len(stack.settings.renditions)
    assert dead_letters_for(stack, key) == []


def test_a_permanent_fault_is_dead_lettered(stack: LocalStack) -> None:
    # An error type no Retry covers, on every attempt: the Map fails, Catch dead-letters it.
    faults.inject_lambda_fault(drive.function_name(stack, "resize"), "RuntimeError", times=100)
    key = drive.upload(stack, samples.jpeg(800, 600, seed=61), fresh_key(stack, "doomed.jpg"))
    drive.pump(stack)

    execution = execution_for(stack, key)
    assert execution.status == "FAILED"
    [message] = dead_letters_for(stack, key)
    assert (message.kind, message.reason) == ("failed", "processing_error")
    assert message.body["error"] == "RuntimeError"
    assert message.execution_arn == execution.arn
    assert notifications_for(stack, key) == []


def test_every_upload_is_accounted_for(stack: LocalStack) -> None:
    uploads = [
        ("a.jpg", samples.jpeg(900, 700, seed=71), True),
        ("b.png", samples.transparent_png(300, 300, seed=72), True),
        ("c.webp", samples.webp(700, 900, seed=73), True),
        ("d.jpg", b"not an image", False),
        ("e.png", b"", False),
        ("f.jpg", samples.truncated(samples.jpeg(900, 700, seed=74)), False),
        ("g.jpg", samples.jpeg(400, 300, seed=75), True),
    ]
    keys = {drive.upload(stack, data, fresh_key(stack, name)): good for name, data, good in uploads}
    drive.pump(stack)

    # Through the catalogue: processed + rejected + failed == uploads.
    table, dynamodb = stack.outputs["catalogueTable"], stack.clients.client("dynamodb")
    statuses = {k: getattr(get_record(dynamodb, table, k), "status", None) for k in keys}
    assert {k for k, s in statuses.items() if s == "processed"} == {k for k, g in keys.items() if g}
    assert {k for k, s in statuses.items() if s == "rejected"} == {
        k for k, g in keys.items() if not g
    }
    assert not {d.key for d in drive.dlq_messages(stack)} & set(keys)
    assert stack.queue_depth(stack.ingest_queue_url) == 0


def test_writes_elsewhere_start_nothing(stack: LocalStack) -> None:
    before = len(drive.executions(stack))
    data = samples.jpeg(300, 200, seed=81)
    drive.upload(
        stack, data, fresh_key(stack, "in-renditions.jpg"), bucket=stack.destination_bucket
    )
    drive.upload(stack, data, fresh_key(stack, "in-backups.jpg"), bucket=stack.backup_bucket)
    drive.upload(stack, data, "elsewhere/outside-the-prefix.jpg")

    assert stack.queue_depth(stack.ingest_queue_url) == 0
    result = drive.poll(stack)
    assert (result.started, result.filtered) == ([], 0)
    assert len(drive.executions(stack)) == before


def test_a_backfill_remakes_missing_renditions(stack: LocalStack) -> None:
    """The backfill state machine (a Distributed Map over the bucket listing) runs locally."""
    key = drive.upload(stack, samples.jpeg(1000, 750, seed=91), fresh_key(stack, "old.jpg"))
    drive.pump(stack)
    made = renditions_of(stack, key)
    s3 = stack.clients.client("s3")
    for name in made:
        ext = EXTENSIONS[next(r.format for r in stack.settings.renditions if r.name == name)]
        s3.delete_object(Bucket=stack.destination_bucket, Key=f"{name}/{stem(stack, key)}.{ext}")
    assert renditions_of(stack, key) == {}

    sfn = stack.clients.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=drive.state_machine_arn_of(stack, "backfill"),
        name=f"backfill-{uuid.uuid4().hex[:8]}",
        input=json.dumps({"prefix": posixpath.dirname(key) + "/", "onlyMissing": True}),
    )["executionArn"]
    drive.wait(stack)

    assert sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"
    assert renditions_of(stack, key) == made


def test_a_multipart_upload_starts_one_execution(stack: LocalStack) -> None:
    """S3 sends one ObjectCreated:CompleteMultipartUpload for it; moto used to send a Put
    as well, so every upload over the SDKs' 8 MB multipart threshold ran twice."""
    s3 = stack.clients.client("s3")
    key = fresh_key(stack, "big.jpg")
    upload = s3.create_multipart_upload(Bucket=stack.source_bucket, Key=key)["UploadId"]
    part = bytes(5 * 1024 * 1024)  # S3's smallest part but the last
    etags = [
        s3.upload_part(
            Bucket=stack.source_bucket, Key=key, UploadId=upload, PartNumber=n, Body=part
        )["ETag"]
        for n in (1, 2)
    ]
    s3.complete_multipart_upload(
        Bucket=stack.source_bucket,
        Key=key,
        UploadId=upload,
        MultipartUpload={"Parts": [{"ETag": e, "PartNumber": n} for n, e in enumerate(etags, 1)]},
    )
    drive.pump(stack)
    execution = execution_for(stack, key)  # exactly one
    [record] = json.loads(execution.input[0]["body"])["Records"]
    assert record["eventName"] == "ObjectCreated:CompleteMultipartUpload"
