"""Delivery on the local stack: the program's CloudFront distribution and origin access
control are created in moto, and every URL a notification carries opens over HTTP (the
local stand-in for the distribution, imagepipe/local/delivery.py), with the renditions'
Content-Type and Cache-Control; the bucket policy decides what it may read."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest

from imagepipe.local import samples
from imagepipe.local.delivery import DeliveryServer
from imagepipe.local.stack import LocalStack
from imagepipe.local.upload_api import LocalUploadApi
from infra.environment import MANIFEST_CACHE_CONTROL, RENDITION_CACHE_CONTROL
from tests.integration.conftest import fresh_key
from tests.support import drive

pytestmark = pytest.mark.integration

MANIFEST_SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "schemas" / "manifest.json").read_text()
)


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def processed(stack: LocalStack, key: str) -> dict[str, Any]:
    """The image.processed notification of `key`."""
    drive.pump(stack)
    [message] = [
        n.message
        for n in drive.notifications(stack)
        if isinstance(n.message, dict) and (n.message.get("source") or {}).get("key") == key
    ]
    return message  # type: ignore[no-any-return]


def test_the_stand_ins_close_alike() -> None:
    """The CDN's and the upload API's stand-ins stop serving by one name, close() (what
    the local stack's teardown calls on each, the upload API's twice when the program
    deployed none), and a second close does nothing."""
    delivery, api = DeliveryServer(), LocalUploadApi()
    for close, url in ((delivery.close, delivery.base_url), (api.close, api.url)):
        assert fetch(f"{url}/x")[0] == 503  # nothing deployed behind it
        close()
        with pytest.raises(urllib.error.URLError) as refused:  # not an answer (HTTPError)
            urllib.request.urlopen(f"{url}/x", timeout=10)
        assert isinstance(refused.value.reason, ConnectionRefusedError)
        close()


def test_the_distribution_and_its_access_control_exist_in_moto(stack: LocalStack) -> None:
    types = {r.typ for r in stack.resources}
    assert "aws:cloudfront/distribution:Distribution" in types
    assert "aws:cloudfront/originAccessControl:OriginAccessControl" in types
    [item] = stack.clients.client("cloudfront").list_distributions()["DistributionList"]["Items"]
    assert item["DomainName"] == stack.outputs["cdnDomain"]
    assert item["HttpVersion"] == "http2and3"
    behavior = item["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert stack.outputs["renditionsBaseUrl"] == stack.delivery.base_url  # type: ignore[union-attr]


def test_every_url_of_a_processed_upload_opens(stack: LocalStack) -> None:
    """Every URL the image.processed notification carries (each rendition's and the
    manifest's) and every URL the manifest names opens, with its Content-Type and
    Cache-Control; the manifest is what docs/schemas/manifest.json says."""
    key = fresh_key(stack, "my photo+1 100% é.jpg")
    drive.upload(stack, samples.jpeg(900, 600), key)
    message = processed(stack, key)
    base = stack.outputs["renditionsBaseUrl"]
    assert message["renditions"]
    for rendition in message["renditions"]:
        assert rendition["url"].startswith(base + "/")
        status, headers, body = fetch(rendition["url"])
        assert status == 200, rendition
        assert headers["Content-Type"] == rendition["contentType"]
        assert headers["Cache-Control"] == RENDITION_CACHE_CONTROL
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert len(body) == rendition["bytes"]

    stem = key.removeprefix(stack.settings.upload_prefix).removesuffix(".jpg")
    assert message["manifestUrl"] == f"{base}/manifests/{quote(stem)}.json"
    status, headers, body = fetch(message["manifestUrl"])
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == MANIFEST_CACHE_CONTROL
    assert headers["X-Content-Type-Options"] == "nosniff"
    manifest = json.loads(body)
    jsonschema.Draft202012Validator(MANIFEST_SCHEMA).validate(manifest)
    assert manifest["url"] == message["manifestUrl"]
    assert manifest["source"]["key"] == key
    # The manifest names the same renditions at the same URLs, and its srcsets open too.
    assert {r["url"] for r in manifest["renditions"]} == {r["url"] for r in message["renditions"]}
    for srcset in manifest["srcset"].values():
        for url in (part.rsplit(" ", 1)[0] for part in srcset.split(", ")):
            assert fetch(url)[0] == 200, url


def test_a_missing_key_is_403_as_through_an_origin_access_control(stack: LocalStack) -> None:
    status, _, _ = fetch(stack.outputs["renditionsBaseUrl"] + "/thumb/nothing-here.webp")
    assert status == 403


def test_without_the_distributions_read_in_the_bucket_policy_nothing_opens(
    stack: LocalStack,
) -> None:
    key = fresh_key(stack, "locked.jpg")
    drive.upload(stack, samples.jpeg(300, 200), key)
    url = processed(stack, key)["renditions"][0]["url"]
    s3 = stack.clients.client("s3")
    policy = s3.get_bucket_policy(Bucket=stack.destination_bucket)["Policy"]
    document = json.loads(policy)
    document["Statement"] = [s for s in document["Statement"] if s["Effect"] == "Deny"]
    s3.put_bucket_policy(Bucket=stack.destination_bucket, Policy=json.dumps(document))
    try:
        assert fetch(url)[0] == 403
    finally:
        s3.put_bucket_policy(Bucket=stack.destination_bucket, Policy=policy)
    assert fetch(url)[0] == 200
