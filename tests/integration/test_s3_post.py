"""S3's checks of a browser-based upload (imagepipe.local.s3_post.check_post), on forms
signed here the way botocore's generate_presigned_post signs them."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import pytest
from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]

from imagepipe.local import s3_post
from imagepipe.local.s3_post import PostRefusal, post_signature

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SECRET = "s3cr3t"
KEYS = {"AKIDEXAMPLE": SECRET}


def grant() -> dict[str, str]:
    """A presigned POST's form, signed with AKIDEXAMPLE (lowercase field names)."""
    s3 = boto3.client(
        "s3",
        region_name="eu-west-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key=SECRET,
        config=Config(signature_version="s3v4"),  # as the upload function signs
    )
    post = s3.generate_presigned_post(
        "bucket",
        "uploads/alice/1.jpg",
        Fields={"Content-Type": "image/jpeg"},
        Conditions=[{"Content-Type": "image/jpeg"}, ["content-length-range", 1, 100]],
        ExpiresIn=300,
    )
    return {k.lower(): v for k, v in post["fields"].items()}


def check_post(form: dict[str, str], *args: Any) -> PostRefusal | None:
    """What s3_post.check_post refuses the form with, None if it accepts it."""
    try:
        s3_post.check_post(form, *args)
    except PostRefusal as refusal:
        return refusal
    return None


def check(form: dict[str, str], size: int = 10, now: datetime | None = None) -> Any:
    moment = now or datetime.now(UTC)
    return check_post(form, size, "bucket", moment, KEYS.get)


def test_a_form_as_signed_is_accepted() -> None:
    assert check(grant()) is None


def test_the_signature_is_sigv4_over_the_policy() -> None:
    form = grant()
    assert (
        post_signature(SECRET, form["x-amz-credential"], form["policy"]) == form["x-amz-signature"]
    )


@pytest.mark.parametrize(
    ("change", "status", "code", "words"),
    [
        ({"key": "uploads/bob/1.jpg"}, 403, "AccessDenied", "Policy Condition failed"),
        ({"content-type": "text/html"}, 403, "AccessDenied", "Policy Condition failed"),
        ({"x-amz-meta-a": "1"}, 403, "AccessDenied", "Extra input fields: x-amz-meta-a"),
        ({"x-amz-signature": "0" * 64}, 403, "SignatureDoesNotMatch", "signature"),
        ({"x-amz-algorithm": "AWS4-HMAC-SHA1"}, 400, "InvalidArgument", "AWS4-HMAC-SHA256"),
    ],
)
def test_a_changed_form_is_refused(
    change: dict[str, str], status: int, code: str, words: str
) -> None:
    refusal = check({**grant(), **change})
    assert refusal is not None
    assert (refusal.status, refusal.code) == (status, code)
    assert words in refusal.message


def test_size_outside_the_range_is_refused() -> None:
    too_big = check(grant(), size=101)
    assert too_big is not None and (too_big.status, too_big.code) == (400, "EntityTooLarge")
    assert too_big.extra == {"ProposedSize": "101", "MaxSizeAllowed": "100"}
    too_small = check(grant(), size=0)
    assert too_small is not None and too_small.code == "EntityTooSmall"
    assert check(grant(), size=100) is None


def test_an_expired_policy_is_refused() -> None:
    form = grant()
    expiration = json.loads(base64.b64decode(form["policy"]))["expiration"]
    after = datetime.strptime(expiration, "%Y-%m-%dT%H:%M:%S%z") + timedelta(seconds=1)
    refusal = check(form, now=after)
    assert refusal is not None and "Policy expired" in refusal.message


def test_another_bucket_fails_the_bucket_condition() -> None:
    refusal = check_post(grant(), 10, "other-bucket", datetime.now(UTC), KEYS.get)
    assert refusal is not None and "Policy Condition failed" in refusal.message


def test_fields_named_x_ignore_need_no_condition_and_anonymous_posts_are_refused() -> None:
    assert check({**grant(), "x-ignore-note": "hi"}) is None
    refusal = check({"key": "uploads/x.jpg"})
    assert refusal is not None and refusal.code == "AccessDenied"


def test_credentials_without_a_known_secret_are_checked_for_the_policy_only() -> None:
    form = {**grant(), "x-amz-signature": "0" * 64}
    assert check_post(form, 10, "bucket", datetime.now(UTC), lambda _key: None) is None
    refusal = check_post({**form, "key": "x"}, 10, "bucket", datetime.now(UTC), lambda _k: None)
    assert refusal is not None and refusal.code == "AccessDenied"


def test_the_error_is_s3s_xml() -> None:
    refusal = check(grant(), size=101)
    assert refusal is not None
    status, headers, body = refusal.response()
    assert status == 400 and headers["Content-Type"] == "application/xml"
    assert "<Code>EntityTooLarge</Code>" in body and "<MaxSizeAllowed>100</MaxSizeAllowed>" in body
