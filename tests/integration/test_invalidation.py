"""Stale renditions: an overwrite of an original that was served before invalidates
exactly what either version wrote (and its manifest) through CloudFront's SDK
integration, as the workflow's role, which may do so only on its own distribution;
a first upload invalidates nothing. The manifest of each upload opens and is valid."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jsonschema
import pytest

from imagepipe.local import samples
from imagepipe.local.stack import LocalStack, deploy_local
from tests.integration.conftest import fresh_key
from tests.integration.test_delivery import fetch
from tests.integration.test_iam_enforced import dead_letter_for, without_statement
from tests.support import drive

pytestmark = pytest.mark.integration

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "schemas" / "manifest.json").read_text()
)


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with deploy_local("dev") as deployed:
        drive.pump(deployed)
        yield deployed


def invalidations(stack: LocalStack) -> list[dict[str, Any]]:
    """Every invalidation of the stack's distribution, with its paths."""
    cloudfront = stack.clients.client("cloudfront")
    [distribution] = cloudfront.list_distributions()["DistributionList"]["Items"]
    listed = cloudfront.list_invalidations(DistributionId=distribution["Id"])
    found = []
    for item in listed["InvalidationList"].get("Items", []):
        got = cloudfront.get_invalidation(DistributionId=distribution["Id"], Id=item["Id"])
        found.append(got["Invalidation"]["InvalidationBatch"])
    return found


def upload(stack: LocalStack, key: str, data: bytes) -> Any:
    drive.upload(stack, data, key)
    drive.pump(stack)
    return [e for e in drive.executions(stack) if e.key == key][-1]


def test_a_first_upload_invalidates_nothing_and_its_manifest_opens(stack: LocalStack) -> None:
    before = len(invalidations(stack))
    key = fresh_key(stack, "first é+1.jpg")
    assert upload(stack, key, samples.jpeg(800, 600)).status == "SUCCEEDED"
    assert len(invalidations(stack)) == before
    stem = key.removeprefix(stack.settings.upload_prefix).rsplit(".", 1)[0]
    manifest_key = f"manifests/{stem}.json"
    document = json.loads(drive.read(stack, stack.destination_bucket, manifest_key))
    jsonschema.Draft202012Validator(SCHEMA).validate(document)
    status, headers, body = fetch(document["url"])
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == document
    for rendition in document["renditions"]:
        status, headers, _ = fetch(rendition["url"])
        assert (status, headers["Content-Type"]) == (200, rendition["mediaType"])
    for srcset in document["srcset"].values():
        for url in (part.split(" ")[0] for part in srcset.split(", ")):
            assert fetch(url)[0] == 200


def test_an_overwrite_invalidates_exactly_the_stale_paths(stack: LocalStack) -> None:
    key = fresh_key(stack, "over written.jpg")
    upload(stack, key, samples.jpeg(800, 600))
    before = len(invalidations(stack))
    execution = upload(stack, key, samples.jpeg(640, 640, seed=3))
    assert execution.status == "SUCCEEDED"
    [batch] = invalidations(stack)[before:]
    stem = key.removeprefix(stack.settings.upload_prefix).rsplit(".", 1)[0]
    expected = {f"/manifests/{stem}.json"} | {
        f"/{r.name}/{stem}.{'jpg' if r.format == 'jpeg' else r.format}"
        for r in stack.settings.renditions
    }
    assert {unquote(p) for p in batch["Paths"]["Items"]} == expected
    assert batch["Paths"]["Quantity"] == len(expected)
    assert batch["CallerReference"] == execution.arn.rsplit(":", 1)[1]


def test_without_its_statement_the_invalidation_fails_the_execution(stack: LocalStack) -> None:
    key = fresh_key(stack, "refused.jpg")
    upload(stack, key, samples.jpeg(800, 600))
    with without_statement(stack, "-workflow-role", "InvalidateStaleRenditions"):
        execution = upload(stack, key, samples.jpeg(640, 640, seed=5))
    assert execution.status == "FAILED"
    letter = dead_letter_for(stack, execution.arn)
    assert letter["kind"] == "failed"
    assert "cloudfront:CreateInvalidation" in json.dumps(letter), letter
