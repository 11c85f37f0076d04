"""The upload API's function: the pure rules (imagefn.upload) and the handler's
presigned POST (signed locally by botocore; moto's S3 holds the bucket)."""

from __future__ import annotations

import base64
import importlib
import json
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from imagefn.upload import (
    CONTENT_TYPES,
    Limits,
    UploadRefusedError,
    choose_type,
    http_response,
    plan_upload,
    request_body,
    subject_segment,
)

from .conftest import Aws
from .events import REGION, SOURCE_BUCKET, FakeContext

SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".avif", ".heic", ".heif", ".svg")
LIMITS = Limits("uploads/", SUFFIXES, 5 * 1024 * 1024, 300)


def api_event(body: Any = None, *, sub: str | None = "alice", b64: bool = False) -> dict[str, Any]:
    """An HTTP API payload 2.0 event as API Gateway sends it after its JWT authorizer."""
    text = body if isinstance(body, str) or body is None else json.dumps(body)
    if b64 and text is not None:
        text = base64.b64encode(text.encode()).decode()
    claims = {"iss": "https://issuer.example", "aud": "app"} | ({"sub": sub} if sub else {})
    return {
        "version": "2.0",
        "routeKey": "POST /uploads",
        "rawPath": "/uploads",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": "POST", "path": "/uploads"},
            "authorizer": {"jwt": {"claims": claims, "scopes": None}},
        },
        "body": text,
        "isBase64Encoded": b64,
    }


def refusal(event: dict[str, Any], limits: Limits = LIMITS) -> UploadRefusedError:
    with pytest.raises(UploadRefusedError) as caught:
        plan_upload(event, limits)
    return caught.value


# -- the pure rules --------------------------------------------------------------------


def test_a_request_gets_a_key_under_the_prefix_and_its_subject() -> None:
    plan = plan_upload(api_event({"filename": "Cat.JPG"}), LIMITS, new_id=lambda: "abc123")
    assert plan.key == "uploads/alice/abc123.jpg"
    assert plan.content_type == "image/jpeg"
    assert plan.fields() == {"Content-Type": "image/jpeg"}
    assert plan.conditions() == [
        {"Content-Type": "image/jpeg"},
        ["content-length-range", 1, 5 * 1024 * 1024],
    ]


def test_each_request_gets_a_new_key() -> None:
    event = api_event({"contentType": "image/png"})
    keys = {plan_upload(event, LIMITS).key for _ in range(20)}
    assert len(keys) == 20
    assert all(k.startswith("uploads/alice/") and k.endswith(".png") for k in keys)


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        ({"contentType": "image/jpeg"}, (".jpg", "image/jpeg")),
        ({"contentType": "IMAGE/WEBP; charset=binary"}, (".webp", "image/webp")),
        ({"filename": "scan.heic", "contentType": "image/heic"}, (".heic", "image/heic")),
        ({"filename": "dir\\drawing.svg"}, (".svg", "image/svg+xml")),
        ({"filename": "photo.final.jpeg"}, (".jpeg", "image/jpeg")),
        # A name without a suffix (a camera's IMG_0001) leaves the type to contentType.
        ({"filename": "IMG_0001", "contentType": "image/png"}, (".png", "image/png")),
    ],
)
def test_the_suffix_and_type_follow_the_request(
    request_: dict[str, str], expected: tuple[str, str]
) -> None:
    assert choose_type(request_, SUFFIXES) == expected


def test_only_the_stacks_allowed_suffixes_are_offered() -> None:
    assert choose_type({"contentType": "image/jpeg"}, (".jpeg",)) == (".jpeg", "image/jpeg")
    with pytest.raises(UploadRefusedError) as caught:
        choose_type({"contentType": "image/gif"}, (".jpg", ".png"))
    assert caught.value.reason == "unsupported_type"
    assert "image/jpeg, image/png" in caught.value.message


def test_every_offered_type_is_an_image() -> None:
    assert all(t.startswith("image/") for t in CONTENT_TYPES.values())


@pytest.mark.parametrize(
    ("event", "status", "reason"),
    [
        (api_event("{not json"), 400, "bad_json"),
        (api_event("%%%", b64=True), 400, "bad_json"),
        (api_event([1, 2]), 400, "bad_request"),
        (api_event({}), 400, "missing_type"),
        (api_event(None), 400, "missing_type"),
        (api_event({"filename": 7}), 400, "bad_request"),
        (api_event({"filename": "  "}), 400, "bad_request"),
        (api_event({"filename": "notes.txt"}), 400, "unsupported_type"),
        (api_event({"filename": "README"}), 400, "unsupported_type"),
        (api_event({"contentType": "text/html"}), 400, "unsupported_type"),
        (api_event({"contentType": "application/pdf"}), 400, "unsupported_type"),
        (api_event({"filename": "a.png", "contentType": "image/jpeg"}), 400, "type_mismatch"),
        (api_event({"filename": "a" * 5000 + ".jpg"}), 413, "request_too_large"),
        (api_event({"filename": "a.jpg"}, sub=None), 403, "missing_subject"),
        (api_event({"filename": "a.jpg"}, sub="   "), 403, "missing_subject"),
        (api_event({"filename": "a.jpg"}, sub="é" * 200), 403, "bad_subject"),
    ],
)
def test_bad_requests_are_refused_with_a_reason(
    event: dict[str, Any], status: int, reason: str
) -> None:
    refused = refusal(event)
    assert (refused.status, refused.reason) == (status, reason)
    assert refused.body() == {"error": reason, "message": refused.message}
    assert refused.message and "Traceback" not in refused.message


def test_a_base64_body_is_read_as_api_gateway_encodes_it() -> None:
    plan = plan_upload(api_event({"filename": "a.gif"}, b64=True), LIMITS)
    assert plan.key.endswith(".gif")
    assert request_body({"body": "", "isBase64Encoded": True}) == {}


@pytest.mark.parametrize(
    ("subject", "segment"),
    [
        ("alice", "alice"),
        ("1b3e6f1c-0a7d-4c1e-9a5b-2f8e9d0c7b6a", "1b3e6f1c-0a7d-4c1e-9a5b-2f8e9d0c7b6a"),
        ("auth0|42", "auth0_7C42"),
        ("a_b", "a_5Fb"),
        ("../../etc", "_2E_2E_2F_2E_2E_2Fetc"),
        ("..", "_2E_2E"),
        ("é", "_C3_A9"),
        ("x/y", "x_2Fy"),
    ],
)
def test_the_subject_becomes_one_safe_key_segment(subject: str, segment: str) -> None:
    assert subject_segment(subject) == segment


def test_distinct_subjects_never_share_a_segment() -> None:
    subjects = ["a_b", "a|b", "a_7Cb", "a-b", "a.b", "a_2Eb", "A_B"]
    assert len({subject_segment(s) for s in subjects}) == len(subjects)


def test_responses_are_json_that_no_cache_keeps() -> None:
    response = http_response(400, {"error": "bad_json", "message": "no"})
    assert response["statusCode"] == 400
    assert response["headers"]["Cache-Control"] == "no-store"
    assert json.loads(response["body"]) == {"error": "bad_json", "message": "no"}


# -- the handler -----------------------------------------------------------------------


@pytest.fixture
def upload_handler(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.setenv("SOURCE_BUCKET", SOURCE_BUCKET)
    monkeypatch.setenv("ALLOWED_SUFFIXES", ",".join(SUFFIXES))
    monkeypatch.setenv("UPLOAD_URL_EXPIRY_SECONDS", "120")
    monkeypatch.setenv("AWS_REGION", REGION)
    sys.modules.pop("imagefn.upload_handler", None)
    module = importlib.import_module("imagefn.upload_handler")
    yield module
    sys.modules.pop("imagefn.upload_handler", None)


def test_the_handler_returns_a_presigned_post_pinning_key_type_and_size(
    upload_handler: ModuleType,
) -> None:
    response = upload_handler.handler(api_event({"filename": "cat.jpg"}), FakeContext())
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert set(body) == {"url", "fields", "key", "contentType", "maxBytes", "expiresIn"}
    assert body["key"].startswith("uploads/alice/") and body["key"].endswith(".jpg")
    assert body["url"] == f"https://{SOURCE_BUCKET}.s3.{REGION}.amazonaws.com/"  # regional
    assert body["expiresIn"] == 120 and body["maxBytes"] == 5 * 1024 * 1024
    fields = body["fields"]
    assert fields["key"] == body["key"] and fields["Content-Type"] == "image/jpeg"
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    policy = json.loads(base64.b64decode(fields["policy"]))
    conditions = policy["conditions"]
    assert {"bucket": SOURCE_BUCKET} in conditions
    assert {"key": body["key"]} in conditions
    assert {"Content-Type": "image/jpeg"} in conditions
    assert ["content-length-range", 1, 5 * 1024 * 1024] in conditions


def test_the_handler_answers_bad_requests_with_4xx_json(upload_handler: ModuleType) -> None:
    for event, status, reason in [
        (api_event("nope"), 400, "bad_json"),
        (api_event({"filename": "x.exe"}), 400, "unsupported_type"),
        (api_event({"filename": "x.jpg"}, sub=None), 403, "missing_subject"),
    ]:
        response = upload_handler.handler(event, FakeContext())
        assert response["statusCode"] == status
        assert json.loads(response["body"])["error"] == reason
    assert upload_handler.handler("not an event", FakeContext())["statusCode"] == 400
