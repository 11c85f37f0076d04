"""Fixtures for the imaging core and the Lambda handlers.

Handlers read their environment and create their boto3 client at import, so the `aws`
fixture sets the environment, starts moto, and only then imports fresh copies of them.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from . import images
from .events import BACKUP_BUCKET, DESTINATION_BUCKET, REGION, RENDITIONS, SOURCE_BUCKET

HANDLER_MODULES = ("imagefn.inspect_handler", "imagefn.resize_handler")


@pytest.fixture(scope="session")
def jpeg_photo() -> bytes:
    return images.encode(images.photo((320, 240)), "JPEG", quality=90)


@pytest.fixture(scope="session")
def png_photo() -> bytes:
    return images.encode(images.photo((320, 240)), "PNG")


@pytest.fixture(scope="session")
def big_jpeg() -> bytes:
    return images.encode(images.photo((4000, 3000)), "JPEG", quality=80)


@dataclass
class Aws:
    """moto's S3 with the pipeline's buckets, and the handler modules imported inside it."""

    s3: Any
    inspect: ModuleType
    resize: ModuleType

    def put(self, key: str, data: bytes, content_type: str = "image/jpeg") -> str:
        """Upload to the source bucket; returns the ETag without quotes."""
        response = self.s3.put_object(
            Bucket=SOURCE_BUCKET, Key=key, Body=data, ContentType=content_type
        )
        return str(response["ETag"]).strip('"')

    def get(self, key: str, bucket: str = DESTINATION_BUCKET) -> bytes:
        data: bytes = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return data


def _fresh_handlers() -> tuple[ModuleType, ModuleType]:
    for name in HANDLER_MODULES:
        sys.modules.pop(name, None)
    inspect = importlib.import_module("imagefn.inspect_handler")
    resize = importlib.import_module("imagefn.resize_handler")
    return inspect, resize


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The handlers' environment, as the Pulumi program sets it (tests may change it
    before requesting `aws`)."""
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_SERVICE_NAME": "imagepipe-test",
        "POWERTOOLS_METRICS_NAMESPACE": "ImagePipelineTest",
        "POWERTOOLS_DEV": "false",
        "RENDITIONS": json.dumps([r.to_dict() for r in RENDITIONS]),
        "MAX_INPUT_BYTES": str(5 * 1024 * 1024),
        "MAX_INPUT_PIXELS": str(20_000_000),
        "UPLOAD_PREFIX": "uploads/",
        "DESTINATION_BUCKET": DESTINATION_BUCKET,
    }
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def aws(aws_env: dict[str, str]) -> Iterator[Aws]:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (SOURCE_BUCKET, DESTINATION_BUCKET, BACKUP_BUCKET):
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
            )
        inspect, resize = _fresh_handlers()
        try:
            yield Aws(s3=s3, inspect=inspect, resize=resize)
        finally:
            for name in HANDLER_MODULES:
                sys.modules.pop(name, None)
