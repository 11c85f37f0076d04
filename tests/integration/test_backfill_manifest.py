"""A backfilled image has its manifest, as an uploaded one does, on the local stack:
written next to its renditions with every configured rendition in it (also when
onlyMissing remade only some), valid against docs/schemas/manifest.json, and served."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from imagepipe.local import samples
from imagepipe.local.stack import LocalStack
from tests.integration.conftest import fresh_key
from tests.integration.test_backfill_remembers import backfill
from tests.integration.test_delivery import fetch
from tests.support import drive

pytestmark = pytest.mark.integration

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "schemas" / "manifest.json").read_text()
)


def uploaded(stack: LocalStack, name: str, seed: int) -> tuple[str, str, str]:
    """An image run through the upload workflow: (key, its folder, its key stem)."""
    key = drive.upload(stack, samples.jpeg(640, 400, seed=seed), fresh_key(stack, name))
    drive.pump(stack)
    folder = key.rsplit("/", 1)[0] + "/"
    stem = key.removeprefix(stack.settings.upload_prefix).rsplit(".", 1)[0]
    return key, folder, stem


def rendition_keys(stack: LocalStack, stem: str) -> list[str]:
    return sorted(k for k in drive.objects(stack, stack.destination_bucket) if k.startswith(tuple(
        f"{r.name}/{stem}." for r in stack.settings.renditions
    )))  # fmt: skip


def manifest(stack: LocalStack, stem: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        drive.read(stack, stack.destination_bucket, f"manifests/{stem}.json")
    )
    jsonschema.Draft202012Validator(SCHEMA).validate(document)
    return document


def delete(stack: LocalStack, *keys: str) -> None:
    s3 = stack.clients.client("s3")
    for key in keys:
        s3.delete_object(Bucket=stack.destination_bucket, Key=key)


@pytest.mark.parametrize("only_missing", [True, False], ids=["only-missing", "everything"])
def test_a_backfilled_image_gets_its_manifest(stack: LocalStack, only_missing: bool) -> None:
    """As for an original older than the pipeline: no renditions, no manifest."""
    key, folder, stem = uploaded(stack, "older than the pipeline.jpg", seed=51)
    made = rendition_keys(stack, stem)
    delete(stack, *made, f"manifests/{stem}.json")

    assert backfill(stack, folder, only_missing=only_missing) == "SUCCEEDED"

    assert rendition_keys(stack, stem) == made
    document = manifest(stack, stem)
    assert document["source"]["key"] == key
    assert sorted(r["key"] for r in document["renditions"]) == made
    assert (
        document["url"]
        == f"{stack.outputs['renditionsBaseUrl']}/manifests/"
        + (document["url"].rsplit("/manifests/", 1)[1])
    )
    for url in [document["url"], *(r["url"] for r in document["renditions"])]:
        assert fetch(url)[0] == 200, url
    assert drive.dlq_messages(stack) == [] or all(
        d.body.get("input", {}) != {"prefix": folder} for d in drive.dlq_messages(stack)
    )


def test_only_missing_keeps_the_manifest_whole(stack: LocalStack) -> None:
    """A rendition is missing (a new one in the config, or one deleted): only it is made,
    and the manifest still names every rendition of this version."""
    _, folder, stem = uploaded(stack, "one missing.jpg", seed=52)
    made = rendition_keys(stack, stem)
    before = {r["name"]: r for r in manifest(stack, stem)["renditions"]}
    missing = next(k for k in made if k.startswith("thumb/"))
    delete(stack, missing)
    s3 = stack.clients.client("s3")
    for key in set(made) - {missing}:  # marked: a rendition written again loses the mark
        head = s3.head_object(Bucket=stack.destination_bucket, Key=key)
        s3.copy_object(
            Bucket=stack.destination_bucket,
            Key=key,
            CopySource={"Bucket": stack.destination_bucket, "Key": key},
            MetadataDirective="REPLACE",
            Metadata={**head["Metadata"], "kept": "yes"},
            ContentType=head["ContentType"],
            CacheControl=head["CacheControl"],
        )

    assert backfill(stack, folder, only_missing=True) == "SUCCEEDED"

    after = {r["name"]: r for r in manifest(stack, stem)["renditions"]}
    assert set(after) == set(before) == {r.name for r in stack.settings.renditions}
    assert after == before  # the same renditions, URLs and sizes
    remade = [
        k
        for k in made
        if "kept" not in s3.head_object(Bucket=stack.destination_bucket, Key=k)["Metadata"]
    ]
    assert remade == [missing]  # only the missing one was made again


def test_only_missing_makes_a_manifest_where_there_was_none(stack: LocalStack) -> None:
    """Renditions from before manifests existed: the image is not complete without its
    manifest, so onlyMissing makes them again with it."""
    key, folder, stem = uploaded(stack, "no manifest yet.jpg", seed=53)
    made = rendition_keys(stack, stem)
    delete(stack, f"manifests/{stem}.json")

    assert backfill(stack, folder, only_missing=True) == "SUCCEEDED"

    document = manifest(stack, stem)
    assert sorted(r["key"] for r in document["renditions"]) == made
    assert document["source"]["key"] == key
