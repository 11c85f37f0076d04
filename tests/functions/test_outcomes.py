"""What Inspect hands the workflow for the catalogue: the event's padded sequencer, the
version, the content hash, and a refusal as data (recorded and published as
image.rejected), including a suffix that is not allowed."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from PIL import Image

from . import images
from .conftest import Aws
from .events import FakeContext, s3_notification, sqs_record


def event_for(key: str, *, sequencer: str | None, version_id: str | None = None) -> dict[str, Any]:
    notification = s3_notification(key)
    described = notification["Records"][0]["s3"]["object"]
    if sequencer is None:
        del described["sequencer"]
    else:
        described["sequencer"] = sequencer
    if version_id is not None:
        described["versionId"] = version_id
    return {"records": [sqs_record(notification)], "execution": {"id": "x", "startedAt": "t"}}


def inspect(aws: Aws, event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = aws.inspect.handler(event, FakeContext())
    json.dumps(result)
    return result


def jpeg() -> bytes:
    return images.encode(Image.new("RGB", (40, 30), "red"), "JPEG")


def test_sequencers_are_padded_so_they_compare_as_strings(aws: Aws) -> None:
    aws.put("uploads/a.jpg", jpeg())
    short = inspect(aws, event_for("uploads/a.jpg", sequencer="FF"))["source"]["sequencer"]
    long = inspect(aws, event_for("uploads/a.jpg", sequencer="0100"))["source"]["sequencer"]
    assert len(short) == len(long) == aws.inspect.SEQUENCER_WIDTH
    assert short < long  # 0xFF < 0x100, which "FF" < "0100" as raw strings is not
    missing = inspect(aws, event_for("uploads/a.jpg", sequencer=None))["source"]["sequencer"]
    assert missing == "0" * aws.inspect.SEQUENCER_WIDTH


def test_the_source_carries_version_and_content_hash(aws: Aws) -> None:
    data = jpeg()
    aws.put("uploads/a.jpg", data)
    source = inspect(aws, event_for("uploads/a.jpg", sequencer="1", version_id="v1"))["source"]
    assert source["contentHash"] == hashlib.sha256(data).hexdigest()
    assert source["versionId"] == "v1"  # the event's, where the bucket is unversioned
    plain = inspect(aws, event_for("uploads/a.jpg", sequencer="1", version_id="null"))
    assert plain["source"]["versionId"] == ""


@pytest.mark.parametrize(
    ("key", "data", "reason"),
    [
        ("uploads/notes.txt", b"hello, this is text\n", "not_an_image"),
        ("uploads/photo.JPG.txt", None, "unsupported_suffix"),
        ("uploads/scan.tif", None, "unsupported_format"),
    ],
)
def test_a_suffix_is_decided_after_the_bytes(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, key: str, data: bytes | None, reason: str
) -> None:
    monkeypatch.setattr(aws.inspect, "ALLOWED_SUFFIXES", (".jpg", ".png"))
    if data is None:
        data = (
            jpeg()
            if reason == "unsupported_suffix"
            else images.encode(Image.new("RGB", (8, 8)), "TIFF")
        )
    aws.put(key, data)
    result = inspect(aws, event_for(key, sequencer="2A"))
    assert result["rejection"]["reason"] == reason
    assert result["rejection"]["message"].startswith(f"{reason}: ")
    assert result["renditions"] == []
    assert result["source"]["key"] == key
    assert result["source"]["sequencer"].endswith("2A")
