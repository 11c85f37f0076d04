"""Derivatives follow their original when it is overwritten (same key, new content).

An overwrite is an ObjectCreated event like any upload: the new execution writes every
rendition again at the same keys, with the new version's ETag as `source-etag`. That
holds as long as a rendition's key does not depend on the content. It does for format
"original" (the extension follows the source's real format): there Inspect lists the
rendition's other possible keys and Resize deletes them after writing the new one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from imagefn.imaging import EXTENSIONS, output_format
from imagepipe.local import samples
from imagepipe.local.stack import LocalStack, deploy_local
from tests.integration.conftest import fresh_key
from tests.support import drive

pytestmark = pytest.mark.integration

# The dev stack's renditions plus one in the source's own format.
ORIGINAL = {"name": "orig", "width": 400, "height": 400, "fit": "contain", "format": "original"}


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    from infra.settings import load_stack_settings

    renditions = [r.to_dict() for r in load_stack_settings("dev").renditions] + [ORIGINAL]
    with deploy_local("dev", config={"renditions": renditions}) as deployed:
        drive.pump(deployed)
        yield deployed


def stem(stack: LocalStack, key: str) -> str:
    return key.removeprefix(stack.settings.upload_prefix).rsplit(".", 1)[0]


def derivatives(stack: LocalStack, key: str) -> dict[str, dict[str, Any]]:
    """Every object in the renditions bucket made from `key` (any rendition, any ext)."""
    s = stem(stack, key)
    s3 = stack.clients.client("s3")
    found = {}
    for rendition in stack.settings.renditions:
        for rkey in drive.objects(stack, stack.destination_bucket, f"{rendition.name}/{s}."):
            head = s3.head_object(Bucket=stack.destination_bucket, Key=rkey)
            found[rkey] = {
                "sha": hashlib.sha256(
                    drive.read(stack, stack.destination_bucket, rkey)
                ).hexdigest(),
                "source-etag": head["Metadata"].get("source-etag"),
            }
    return found


def etag(stack: LocalStack, key: str) -> str:
    head = stack.clients.client("s3").head_object(Bucket=stack.source_bucket, Key=key)
    return str(head["ETag"]).strip('"')


def expected_keys(stack: LocalStack, key: str, source_format: str) -> set[str]:
    return {
        f"{r.name}/{stem(stack, key)}.{EXTENSIONS[output_format(r.format, source_format)]}"
        for r in stack.settings.renditions
    }


def test_an_overwrite_replaces_every_rendition(stack: LocalStack) -> None:
    key = drive.upload(stack, samples.jpeg(1600, 900, seed=201), fresh_key(stack, "again.jpg"))
    drive.pump(stack)
    before = derivatives(stack, key)
    first_etag = etag(stack, key)
    assert set(before) == expected_keys(stack, key, "JPEG")
    assert {d["source-etag"] for d in before.values()} == {first_etag}

    drive.upload(stack, samples.jpeg(900, 1600, seed=202), key)  # same key, new content
    drive.pump(stack)

    runs = [e for e in drive.executions(stack) if e.key == key]
    assert [e.status for e in runs] == ["SUCCEEDED", "SUCCEEDED"]
    after = derivatives(stack, key)
    second_etag = etag(stack, key)
    assert second_etag != first_etag
    assert set(after) == set(before)  # the same keys: nothing stale, nothing missing
    assert {d["source-etag"] for d in after.values()} == {second_etag}
    assert all(after[k]["sha"] != before[k]["sha"] for k in after)  # new bytes everywhere
    # The backup follows too: it is the new version.
    backup = drive.read(stack, stack.backup_bucket, key)
    assert backup == drive.read(stack, stack.source_bucket, key)
    assert [d for d in drive.dlq_messages(stack) if d.key == key] == []


def test_an_overwrite_that_keeps_the_format_keeps_the_original_format_rendition(
    stack: LocalStack,
) -> None:
    key = drive.upload(
        stack, samples.transparent_png(700, 500, seed=203), fresh_key(stack, "p.png")
    )
    drive.pump(stack)
    drive.upload(stack, samples.transparent_png(500, 700, seed=204), key)
    drive.pump(stack)
    made = derivatives(stack, key)
    assert set(made) == expected_keys(stack, key, "PNG")
    assert f"orig/{stem(stack, key)}.png" in made


def test_an_overwrite_that_changes_the_format_leaves_no_stale_rendition(
    stack: LocalStack,
) -> None:
    key = drive.upload(stack, samples.jpeg(800, 600, seed=205), fresh_key(stack, "shifty.jpg"))
    drive.pump(stack)
    assert f"orig/{stem(stack, key)}.jpg" in derivatives(stack, key)

    drive.upload(stack, samples.transparent_png(800, 600, seed=206), key)  # PNG bytes, .jpg name
    drive.pump(stack)
    assert latest_execution(stack, key).status == "SUCCEEDED"

    made = derivatives(stack, key)
    assert f"orig/{stem(stack, key)}.png" in made  # the new one is made...
    assert set(made) == expected_keys(stack, key, "PNG")  # ...and the .jpg one is gone


def latest_execution(stack: LocalStack, key: str) -> Any:
    runs = [e for e in drive.executions(stack) if e.key == key]
    assert runs, f"no execution for {key}"
    return runs[-1]
