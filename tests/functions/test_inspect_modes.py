"""Inspect's backfill (listed object, onlyMissing) and removal (deleteDerivatives) inputs."""

from __future__ import annotations

from typing import Any

import pytest

from imagefn.errors import ImageRejected
from imagefn.plan import derivative_keys

from .conftest import Aws
from .events import (
    DESTINATION_BUCKET,
    RENDITIONS,
    SOURCE_BUCKET,
    FakeContext,
    inspect_event,
    s3_notification,
    sqs_record,
)

KEY = "uploads/old photos/Tante Ünï+1.jpg"


def backfill_event(key: str, only_missing: bool) -> dict[str, Any]:
    return {
        "object": {"bucket": SOURCE_BUCKET, "key": key},
        "onlyMissing": only_missing,
        "execution": {"id": "arn:x", "startedAt": "2026-01-01T00:00:00Z"},
    }


def plan(aws: Aws, event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = aws.inspect.handler(event, FakeContext())
    return result


def make(aws: Aws, planned: dict[str, Any]) -> None:
    for rendition in planned["renditions"]:
        aws.resize.handler({"source": planned["source"], "rendition": rendition}, FakeContext())


def test_a_listed_object_is_planned_like_an_upload(aws: Aws, jpeg_photo: bytes) -> None:
    etag = aws.put(KEY, jpeg_photo)
    planned = plan(aws, backfill_event(KEY, only_missing=False))
    assert planned["source"]["key"] == KEY  # listed keys are not URL-encoded
    assert planned["source"]["etag"] == etag
    assert [r["name"] for r in planned["renditions"]] == [r.name for r in RENDITIONS]
    # What the backfill records (Remember renditions): an upload's source, minus the
    # event's sequencer, with the version HEAD saw ("" in this unversioned bucket).
    assert planned["source"]["versionId"] == ""
    assert {"contentHash", "format", "width", "height", "size"} <= set(planned["source"])
    assert "sequencer" not in planned["source"] and "headVersionId" not in planned["source"]


def test_only_missing_skips_renditions_made_from_this_version(aws: Aws, jpeg_photo: bytes) -> None:
    etag = aws.put(KEY, jpeg_photo)
    first = plan(aws, backfill_event(KEY, only_missing=True))
    assert len(first["renditions"]) == len(RENDITIONS)
    make(aws, {**first, "renditions": first["renditions"][:1]})
    # Without the manifest of this version (the manifest function's), nothing is complete.
    assert len(plan(aws, backfill_event(KEY, only_missing=True))["renditions"]) == len(RENDITIONS)
    aws.s3.put_object(
        Bucket=DESTINATION_BUCKET,
        Key="manifests/old photos/Tante Ünï+1.json",
        Body=b"{}",
        Metadata={"source-etag": etag},
    )

    second = plan(aws, backfill_event(KEY, only_missing=True))
    assert [r["name"] for r in second["renditions"]] == [r.name for r in RENDITIONS[1:]]
    make(aws, second)
    complete = plan(aws, backfill_event(KEY, only_missing=True))
    assert complete["renditions"] == []
    # Nothing to make, but no record of it: the backfill is to record it anyway.
    assert complete["unrecorded"] is True
    for status in ("processed", "rejected", "deleted"):  # recorded, or not the backfill's
        found = plan(aws, backfill_event(KEY, True) | {"recorded": recorded(status, etag)})
        assert found["renditions"] == [] and "unrecorded" not in found
    for status in ("processing", "failed"):
        found = plan(aws, backfill_event(KEY, True) | {"recorded": recorded(status, etag)})
        assert found["unrecorded"] is True, status
    elsewhere = backfill_event(KEY, True) | {"recorded": recorded("processing", "0" * 32)}
    assert "unrecorded" not in plan(aws, elsewhere)

    # A new version of the original makes every rendition stale again.
    aws.put(KEY, jpeg_photo + b"\0")  # same pixels, different bytes, new ETag
    assert len(plan(aws, backfill_event(KEY, only_missing=True))["renditions"]) == len(RENDITIONS)
    # Without onlyMissing everything is planned.
    assert len(plan(aws, backfill_event(KEY, only_missing=False))["renditions"]) == len(RENDITIONS)


def test_a_listed_object_still_gets_rejected_with_a_reason(aws: Aws) -> None:
    """As data, as for an upload: the backfill records it, it dead-letters nothing."""
    etag = aws.put("uploads/notes.jpg", b"just text, not a picture\n")
    refused = plan(aws, backfill_event("uploads/notes.jpg", only_missing=False))
    assert refused["rejection"]["reason"] == "not_an_image"
    assert refused["rejection"]["message"].startswith("not_an_image: ")
    assert refused["renditions"] == []
    assert refused["source"] == {
        "bucket": SOURCE_BUCKET, "key": "uploads/notes.jpg", "size": 25, "etag": etag
    }  # fmt: skip


def recorded(status: str, etag: str, reason: str = "not_an_image") -> dict[str, Any]:
    """A catalogue GetItem result as the backfill passes it on."""
    item = {"status": {"S": status}, "etag": {"S": etag}, "reason": {"S": reason}}
    return {"Item": item, "SdkHttpMetadata": {"HttpStatusCode": 200}}


def test_a_version_recorded_as_rejected_is_skipped_unread(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    etag = aws.put("uploads/notes.jpg", b"just text, not a picture\n")
    event = backfill_event("uploads/notes.jpg", only_missing=False)
    with monkeypatch.context() as patched:

        def unread(**_: Any) -> None:
            raise AssertionError("a recorded rejection is HEADed, not read")

        patched.setattr(aws.inspect.s3, "get_object", unread)
        skipped = plan(aws, event | {"recorded": recorded("rejected", etag)})
    assert skipped["skipped"] == "rejected" and skipped["reason"] == "not_an_image"
    assert skipped["renditions"] == [] and "rejection" not in skipped

    # Another version, or a record of anything but a rejection, is read and decided again.
    for other in (recorded("rejected", "0" * 32), recorded("failed", etag), {}):
        assert "skipped" not in plan(aws, event | {"recorded": other})


@pytest.mark.parametrize("target", [None, {"bucket": SOURCE_BUCKET}, {"key": "k"}, "k"])
def test_a_malformed_listed_object_is_a_bad_event(aws: Aws, target: Any) -> None:
    with pytest.raises(ImageRejected) as caught:
        plan(aws, {"object": target, "onlyMissing": False})
    assert caught.value.reason == "bad_event"


def test_removal_lists_every_possible_derivative_without_reading_s3(aws: Aws) -> None:
    event = inspect_event(sqs_record(s3_notification(KEY, event_name="ObjectRemoved:Delete")))
    planned = plan(aws, {**event, "removed": True})  # nothing is in S3: no HEAD, no GET
    source = planned["source"]
    assert {k: source[k] for k in ("bucket", "key")} == {"bucket": SOURCE_BUCKET, "key": KEY}
    # The removal event's sequencer, padded as an upload's, orders it in the catalogue.
    assert len(source["sequencer"]) == 32 and source["sequencer"].lstrip("0")
    keys = [d["Key"] for d in planned["derivatives"]]
    stem = "old photos/Tante Ünï+1"
    # Every rendition it may have, and its manifest.
    assert keys == [*derivative_keys(RENDITIONS, stem), f"manifests/{stem}.json"]
    assert f"thumb/{stem}.webp" in keys and f"medium/{stem}.jpg" in keys
    # "original" may have been any browser format: every candidate is listed, once.
    assert {k for k in keys if k.startswith("orig/")} == {
        f"orig/{stem}.{ext}" for ext in ("jpg", "png", "webp", "avif", "gif")
    }
    assert len(keys) == len(set(keys))


def test_removal_without_a_cdn_asks_for_no_invalidation(aws: Aws, jpeg_photo: bytes) -> None:
    aws.s3.put_object(Bucket=DESTINATION_BUCKET, Key="thumb/gone.webp", Body=jpeg_photo)
    event = inspect_event(
        sqs_record(s3_notification("uploads/gone.jpg", event_name="ObjectRemoved:Delete"))
    )
    assert plan(aws, {**event, "removed": True})["delivery"] == {"invalidation": None}


def test_removal_with_a_cdn_names_the_served_paths(
    aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, jpeg_photo: bytes
) -> None:
    """With a CDN, exactly the derivatives that exist (HEADed) are to be invalidated,
    percent-encoded; none existing: nothing to invalidate."""
    monkeypatch.setenv("INVALIDATE", "true")
    import boto3
    from moto import mock_aws

    from .conftest import _fresh_handlers

    stem = "old photos/Tante Ünï+1"
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(
            Bucket=DESTINATION_BUCKET,
            CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
        )
        inspect, _ = _fresh_handlers()
        removed = {
            **inspect_event(sqs_record(s3_notification(KEY, event_name="ObjectRemoved:Delete"))),
            "removed": True,
        }
        assert inspect.handler(removed, FakeContext())["delivery"] == {"invalidation": None}
        for key in (f"thumb/{stem}.webp", f"orig/{stem}.png", f"manifests/{stem}.json"):
            s3.put_object(Bucket=DESTINATION_BUCKET, Key=key, Body=jpeg_photo)
        s3.put_object(Bucket=DESTINATION_BUCKET, Key="thumb/someone else.webp", Body=b"x")
        planned = inspect.handler(removed, FakeContext())
    encoded = "old%20photos/Tante%20%C3%9Cn%C3%AF%2B1"
    assert planned["delivery"]["invalidation"] == {
        "paths": [
            f"/manifests/{encoded}.json",
            f"/orig/{encoded}.png",
            f"/thumb/{encoded}.webp",
        ],
        "quantity": 3,
    }
    # Every candidate is still deleted: what exists is only what the CDN may serve.
    assert len(planned["derivatives"]) > 3


def test_removal_refuses_a_created_event(aws: Aws) -> None:
    event = inspect_event(sqs_record(s3_notification(KEY)))
    with pytest.raises(ImageRejected) as caught:
        plan(aws, {**event, "removed": True})
    assert caught.value.reason == "bad_event"
    assert "ObjectRemoved" in caught.value.message


def test_derivative_keys_are_stable_across_processes() -> None:
    import subprocess
    import sys

    code = (
        "from imagefn.plan import derivative_keys;from imagefn.renditions import Rendition;"
        "print(derivative_keys([Rendition('o',1,1,format='original')], 's'))"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True,
            env={"PYTHONHASHSEED": str(seed), "PYTHONPATH": "functions"},
        ).stdout
        for seed in (1, 2, 3)
    }  # fmt: skip
    assert len(runs) == 1


def test_an_original_format_rendition_lists_its_other_keys_as_stale(
    aws: Aws, jpeg_photo: bytes, png_photo: bytes
) -> None:
    """JPEG bytes, then PNG bytes at the same key: the old orig/...jpg goes."""
    key = "uploads/shifty.jpg"
    aws.put(key, jpeg_photo)
    first = plan(aws, backfill_event(key, only_missing=False))
    make(aws, first)
    orig = next(r for r in first["renditions"] if r["name"] == "orig")
    assert orig["key"] == "orig/shifty.jpg"
    assert "orig/shifty.jpg" not in orig["staleKeys"] and "orig/shifty.png" in orig["staleKeys"]
    # Fixed-format renditions have nothing stale.
    assert all(r["staleKeys"] == [] for r in first["renditions"] if r["name"] != "orig")

    aws.put(key, png_photo)
    make(aws, plan(aws, backfill_event(key, only_missing=False)))
    listed = aws.s3.list_objects_v2(Bucket=DESTINATION_BUCKET, Prefix="orig/")
    assert [o["Key"] for o in listed["Contents"]] == ["orig/shifty.png"]


def test_a_backfill_skips_keys_an_upload_would_not_have_processed(
    aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, jpeg_photo: bytes
) -> None:
    monkeypatch.setenv("ALLOWED_SUFFIXES", ".jpg,.png")
    import boto3
    from moto import mock_aws

    from .conftest import _fresh_handlers

    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(
            Bucket=SOURCE_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        s3.put_object(Bucket=SOURCE_BUCKET, Key="uploads/readme.txt", Body=b"hello")
        s3.put_object(Bucket=SOURCE_BUCKET, Key="uploads/UPPER.JPG", Body=jpeg_photo)
        inspect, _ = _fresh_handlers()
        skipped = inspect.handler(backfill_event("uploads/readme.txt", False), FakeContext())
        assert skipped["renditions"] == [] and skipped["skipped"] == "suffix"
        kept = inspect.handler(backfill_event("uploads/UPPER.JPG", False), FakeContext())
        assert len(kept["renditions"]) == len(RENDITIONS)  # suffixes match in any case


def test_a_backfill_skips_what_no_upload_notification_would_let_through(
    aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, jpeg_photo: bytes
) -> None:
    """S3 matches the lower- and upper-case suffix only, and the upload prefix: so does a
    backfill (a listing started without the prefix, a '.Jpg'), without reading the object."""
    monkeypatch.setenv("ALLOWED_SUFFIXES", ".jpg,.png")
    import boto3
    from moto import mock_aws

    from .conftest import _fresh_handlers

    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(
            Bucket=SOURCE_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        inspect, _ = _fresh_handlers()
        # Not in the bucket: a skip must not HEAD or GET it.
        for key, reason in [("uploads/Mixed.Jpg", "suffix"), ("elsewhere/a.jpg", "prefix")]:
            skipped = inspect.handler(backfill_event(key, True), FakeContext())
            assert (skipped["renditions"], skipped["skipped"]) == ([], reason)
            assert skipped["source"] == {"bucket": SOURCE_BUCKET, "key": key}
