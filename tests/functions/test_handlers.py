"""The inspect and resize handlers against moto's S3, with events shaped as AWS sends them."""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote

import pytest
from botocore.exceptions import ClientError
from PIL import Image

from imagefn import imaging
from imagefn.errors import ImageRejected

from . import images
from .conftest import Aws
from .events import (
    BACKUP_BUCKET,
    DESTINATION_BUCKET,
    RENDITIONS,
    SOURCE_BUCKET,
    FakeContext,
    inspect_event,
    s3_notification,
    sqs_record,
    upload_event,
)

AWKWARD_KEYS = [
    "uploads/cats/My Cat.JPG",
    "uploads/a+b=c & d/100% real (1).jpg",
    "uploads/ünïcödé/猫 の 写真.jpeg",
    "uploads/plus+only+.jpg",
    "uploads/%41%20literal-percents.jpg",
]


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logs(aws: Aws) -> Iterator[list[logging.LogRecord]]:
    """What the handlers log through Powertools (its loggers do not propagate)."""
    handler = Records()
    target = logging.getLogger(aws.inspect.logger.name)
    target.addHandler(handler)
    try:
        yield handler.records
    finally:
        target.removeHandler(handler)


def run_inspect(aws: Aws, event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = aws.inspect.handler(event, FakeContext())
    return result


def run_pipeline(aws: Aws, key: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Inspect, then one resize per planned rendition, as the state machine would."""
    planned = run_inspect(aws, upload_event(key))
    json.dumps(planned)  # all JSON, no bytes
    outputs = [
        aws.resize.handler({"source": planned["source"], "rendition": r}, FakeContext())
        for r in planned["renditions"]
    ]
    return planned, outputs


def rejection(aws: Aws, event: dict[str, Any]) -> ImageRejected:
    """The refusal of an upload, which Inspect returns as data (the workflow records and
    publishes it); an event with no upload to record (bad_event) and the other modes raise."""
    try:
        result = run_inspect(aws, event)
    except ImageRejected as exc:
        return exc
    assert result["renditions"] == []
    found = result["rejection"]
    reason, _, text = found["message"].partition(": ")
    assert reason == found["reason"]
    assert set(result["source"]) == {"bucket", "key", "size", "etag", "versionId", "sequencer"}
    return ImageRejected(found["reason"], text)


# --------------------------------------------------------------------------------------
# Keys and the happy path


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_awkward_keys_are_decoded_planned_copied_and_rendered(
    aws: Aws, jpeg_photo: bytes, key: str
) -> None:
    etag = aws.put(key, jpeg_photo)
    planned, outputs = run_pipeline(aws, key)

    source = planned["source"]
    assert source == {
        "bucket": SOURCE_BUCKET,
        "key": key,
        "copySource": quote(f"{SOURCE_BUCKET}/{key}", safe="/"),
        "size": len(jpeg_photo),
        "etag": etag,
        "versionId": "",
        "sequencer": source["sequencer"],
        "contentHash": hashlib.sha256(jpeg_photo).hexdigest(),
        "format": "JPEG",
        "width": 320,
        "height": 240,
        "mediaType": "image/jpeg",
    }
    assert len(source["sequencer"]) == 32
    assert planned["execution"] == upload_event(key)["execution"]

    stem = key.removeprefix("uploads/").rsplit(".", 1)[0]
    assert [r["key"] for r in planned["renditions"]] == [
        f"thumb/{stem}.webp",
        f"medium/{stem}.jpg",
        f"orig/{stem}.jpg",
    ]
    assert [r["contentType"] for r in planned["renditions"]] == [
        "image/webp",
        "image/jpeg",
        "image/jpeg",
    ]
    for r, spec in zip(planned["renditions"], RENDITIONS, strict=True):
        assert {k: r[k] for k in spec.to_dict()} == spec.to_dict()

    # The state machine's backup step passes copySource to CopyObject as the (URL-encoded)
    # x-amz-copy-source header. boto3 encodes a string CopySource itself, so hand it the
    # decoded form: S3 then sees exactly copySource and must find the object with it.
    assert unquote(source["copySource"]) == f"{SOURCE_BUCKET}/{key}"
    aws.s3.copy_object(
        Bucket=BACKUP_BUCKET, CopySource=unquote(source["copySource"]), Key=source["key"]
    )
    assert aws.get(key, BACKUP_BUCKET) == jpeg_photo

    assert [o["key"] for o in outputs] == [r["key"] for r in planned["renditions"]]
    for output in outputs:
        head = aws.s3.head_object(Bucket=DESTINATION_BUCKET, Key=output["key"])
        assert head["ContentType"] == output["contentType"]
        assert head["ContentLength"] == output["bytes"]
        im = Image.open(io.BytesIO(aws.get(output["key"])))
        assert im.format == output["format"]
        assert im.size == (output["width"], output["height"])


def test_resize_output_matches_the_core_and_the_spec(aws: Aws, jpeg_photo: bytes) -> None:
    aws.put("uploads/p.jpg", jpeg_photo)
    _, outputs = run_pipeline(aws, "uploads/p.jpg")
    thumb, medium, orig = outputs
    assert thumb == {
        "name": "thumb",
        "key": "thumb/p.webp",
        "url": "/thumb/p.webp",  # root-relative: no RENDITIONS_BASE_URL here
        "width": 64,
        "height": 64,
        "bytes": thumb["bytes"],
        "format": "WEBP",
        "contentType": "image/webp",
    }
    assert (medium["width"], medium["height"], medium["format"]) == (120, 90, "JPEG")
    assert (orig["width"], orig["height"], orig["format"]) == (100, 50, "JPEG")  # fill, padded
    # Byte for byte what the core (and so `imagepipe render`) makes.
    for spec, output in zip(RENDITIONS, outputs, strict=True):
        assert aws.get(output["key"]) == imaging.render(jpeg_photo, spec, max_pixels=10**8).data


def test_resize_sets_content_type_cache_control_and_source_etag(aws: Aws, png_photo: bytes) -> None:
    etag = aws.put("uploads/pic.png", png_photo, content_type="image/png")
    _, outputs = run_pipeline(aws, "uploads/pic.png")
    expected_types = {"thumb": "image/webp", "medium": "image/jpeg", "orig": "image/png"}
    for output in outputs:
        head = aws.s3.head_object(Bucket=DESTINATION_BUCKET, Key=output["key"])
        assert head["ContentType"] == expected_types[output["name"]]
        assert head["CacheControl"] == "public, max-age=86400"
        assert "immutable" not in head["CacheControl"]
        assert head["Metadata"] == {"source-etag": etag}


def test_duplicate_invocations_write_identical_bytes(aws: Aws, jpeg_photo: bytes) -> None:
    aws.put("uploads/dup.jpg", jpeg_photo)
    first_plan, first = run_pipeline(aws, "uploads/dup.jpg")
    first_bytes = [aws.get(o["key"]) for o in first]
    second_plan, second = run_pipeline(aws, "uploads/dup.jpg")
    assert second_plan == first_plan
    assert second == first
    assert [aws.get(o["key"]) for o in second] == first_bytes


def test_content_type_and_extension_are_not_trusted(aws: Aws, png_photo: bytes) -> None:
    aws.put("uploads/actually-a-png.jpg", png_photo, content_type="image/jpeg")
    planned, outputs = run_pipeline(aws, "uploads/actually-a-png.jpg")
    assert planned["source"]["format"] == "PNG"
    assert planned["source"]["mediaType"] == "image/png"
    assert outputs[2]["key"] == "orig/actually-a-png.png"  # "original" follows the bytes


# --------------------------------------------------------------------------------------
# Rejections through the handler


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"hello, this is text\n", "not_an_image"),
        (b"<html><body>hi</body></html>", "not_an_image"),
        (images.encode(images.photo((32, 32)), "ICO"), "unsupported_format"),
        (images.png_header(100_000, 100_000), "too_many_pixels"),
    ],
)
def test_inspect_rejects_bad_uploads(aws: Aws, data: bytes, reason: str) -> None:
    aws.put("uploads/bad.jpg", data)
    exc = rejection(aws, upload_event("uploads/bad.jpg"))
    assert exc.reason == reason
    # What Lambda reports and the state machine parses.
    assert type(exc).__name__ == "ImageRejected"
    assert str(exc).split(":", 1)[0] == reason


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_inspect_rejects_truncated_uploads_up_front(aws: Aws, fmt: str) -> None:
    data = images.encode(images.photo((300, 200)), fmt)
    aws.put("uploads/cut.img", data[: len(data) * 2 // 3])
    assert rejection(aws, upload_event("uploads/cut.img")).reason == "corrupt"


def test_inspect_rejects_bit_flipped_png_up_front(aws: Aws, png_photo: bytes) -> None:
    aws.put("uploads/flip.png", images.flip_bit_in_chunk(png_photo))
    assert rejection(aws, upload_event("uploads/flip.png")).reason == "corrupt"


def test_too_many_bytes_is_refused_without_downloading(
    aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, jpeg_photo: bytes
) -> None:
    monkeypatch.setenv("MAX_INPUT_BYTES", "1000")
    import boto3
    from moto import mock_aws

    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(
            Bucket=SOURCE_BUCKET,
            CreateBucketConfiguration={"LocationConstraint": aws_env["AWS_DEFAULT_REGION"]},
        )
        s3.put_object(Bucket=SOURCE_BUCKET, Key="uploads/big.jpg", Body=jpeg_photo)
        sys.modules.pop("imagefn.inspect_handler", None)
        inspect = importlib.import_module("imagefn.inspect_handler")
        try:
            calls: list[str] = []
            inspect.s3.meta.events.register(
                "before-call.s3.GetObject", lambda **_: calls.append("GetObject")
            )
            refused = inspect.handler(upload_event("uploads/big.jpg"), FakeContext())["rejection"]
            assert refused["reason"] == "too_many_bytes"
            assert f"{len(jpeg_photo):,}" in refused["message"] and "1,000" in refused["message"]
            assert calls == []
        finally:
            sys.modules.pop("imagefn.inspect_handler", None)


def test_non_image_is_refused_after_the_first_bytes(aws: Aws) -> None:
    big_text = b"not an image at all\n" * 100_000  # 2 MB
    aws.put("uploads/notes.jpg", big_text)
    reads: list[int] = []
    original = aws.inspect._read_up_to

    def spy(body: Any, limit: int) -> bytes:
        data: bytes = original(body, limit)
        reads.append(len(data))
        return data

    aws.inspect._read_up_to = spy
    try:
        assert rejection(aws, upload_event("uploads/notes.jpg")).reason == "not_an_image"
    finally:
        aws.inspect._read_up_to = original
    assert reads == [imaging.HEADER_BYTES]


def test_rejections_are_logged_as_warnings_with_the_reason(
    aws: Aws, logs: list[logging.LogRecord]
) -> None:
    aws.put("uploads/empty.jpg", b"")
    rejection(aws, upload_event("uploads/empty.jpg"))
    warnings = [r for r in logs if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    record = warnings[0]
    assert record.__dict__["reason"] == "empty"
    assert record.exc_info is None  # a warning, not a traceback
    assert not [r for r in logs if r.levelno >= logging.ERROR]


def test_s3_errors_propagate_for_retries(aws: Aws) -> None:
    with pytest.raises(ClientError):
        run_inspect(aws, upload_event("uploads/never-uploaded.jpg"))


# --------------------------------------------------------------------------------------
# Events that are not one S3 ObjectCreated record


def _bad_events() -> dict[str, Any]:
    one = s3_notification("uploads/a.jpg")
    two = s3_notification("uploads/a.jpg")
    two["Records"].append(s3_notification("uploads/b.jpg")["Records"][0])
    test_event = {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2026-01-01T00:00:00.000Z",
        "Bucket": SOURCE_BUCKET,
        "RequestId": "5582815E1AEA5ADF",
        "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
    }
    return {
        "not a mapping": ["records"],
        "no records key": {"execution": {}},
        "no records": inspect_event(),
        "two messages": inspect_event(sqs_record(one), sqs_record(one, "m-2")),
        "two S3 records in one message": inspect_event(sqs_record(two)),
        "object removed": inspect_event(
            sqs_record(s3_notification("uploads/a.jpg", event_name="ObjectRemoved:Delete"))
        ),
        "s3 test event": inspect_event(sqs_record(test_event)),
        "body not JSON": inspect_event(sqs_record("this is not json")),
        "body JSON but not S3": inspect_event(sqs_record({"hello": "world"})),
        "record without body": inspect_event({"messageId": "x"}),
        "S3 record without object": inspect_event(
            sqs_record(
                {
                    "Records": [
                        {
                            "eventSource": "aws:s3",
                            "eventName": "ObjectCreated:Put",
                            "s3": {"bucket": {"name": "b"}},
                        }
                    ]
                }
            )
        ),
    }


@pytest.mark.parametrize("name", list(_bad_events()))
def test_bad_events(aws: Aws, name: str) -> None:
    exc = rejection(aws, _bad_events()[name])
    assert exc.reason == "bad_event", (name, exc)


def test_moto_style_minimal_notifications_are_accepted(aws: Aws, jpeg_photo: bytes) -> None:
    # moto's (and the local stack's) notifications omit userIdentity, requestParameters,
    # responseElements and ownerIdentity: only what the handler needs is required.
    aws.put("uploads/min imal.jpg", jpeg_photo)
    notification = s3_notification("uploads/min imal.jpg")
    record = notification["Records"][0]
    for field in ("userIdentity", "requestParameters", "responseElements"):
        del record[field]
    del record["s3"]["bucket"]["ownerIdentity"]
    planned = run_inspect(aws, inspect_event(sqs_record(notification)))
    assert planned["source"]["key"] == "uploads/min imal.jpg"


def test_missing_configuration_fails_at_import(
    aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RENDITIONS")
    monkeypatch.delenv("DESTINATION_BUCKET")
    for name, variable in (("inspect_handler", "RENDITIONS"), ("resize_handler", "DESTINATION")):
        sys.modules.pop(f"imagefn.{name}", None)
        with pytest.raises(RuntimeError, match=variable):
            importlib.import_module(f"imagefn.{name}")
        sys.modules.pop(f"imagefn.{name}", None)


# --------------------------------------------------------------------------------------
# Resize failures


def test_resize_of_a_corrupt_source_is_a_rejection(aws: Aws) -> None:
    etag = aws.put("uploads/x.jpg", b"\xff\xd8\xff\xe0 definitely not a jpeg")
    source = {"bucket": SOURCE_BUCKET, "key": "uploads/x.jpg", "etag": etag, "format": "JPEG"}
    planned = imaging.plan_rendition(RENDITIONS[0], source_format="JPEG", stem="x")
    with pytest.raises(ImageRejected) as caught:
        aws.resize.handler({"source": source, "rendition": planned}, FakeContext())
    assert caught.value.reason == "corrupt"


def test_resize_is_pinned_to_the_inspected_version(aws: Aws, jpeg_photo: bytes) -> None:
    aws.put("uploads/v.jpg", jpeg_photo)
    planned = run_inspect(aws, upload_event("uploads/v.jpg"))
    aws.put("uploads/v.jpg", images.encode(images.photo((50, 50)), "PNG"))  # replaced since
    with pytest.raises(ClientError) as caught:
        aws.resize.handler(
            {"source": planned["source"], "rendition": planned["renditions"][0]}, FakeContext()
        )
    assert caught.value.response["Error"]["Code"] == "PreconditionFailed"


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"source": {}, "rendition": {}},
        {"source": {"bucket": "b", "key": "k", "etag": "e"}, "rendition": {"name": "x"}},
    ],
)
def test_malformed_resize_input_is_a_processing_error_not_a_rejection(
    aws: Aws, event: dict[str, Any]
) -> None:
    with pytest.raises(ValueError) as caught:
        aws.resize.handler(event, FakeContext())
    assert not isinstance(caught.value, ImageRejected)


def test_handlers_tolerate_a_missing_context(aws: Aws, jpeg_photo: bytes) -> None:
    aws.put("uploads/c.jpg", jpeg_photo)
    planned = aws.inspect.handler(upload_event("uploads/c.jpg"), None)
    output = aws.resize.handler(
        {"source": planned["source"], "rendition": planned["renditions"][0]}, None
    )
    assert output["key"] == "thumb/c.webp"
