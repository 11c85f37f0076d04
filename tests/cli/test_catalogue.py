"""`imagepipe catalogue` and the catalogue part of `show KEY`, against a served local
stack: every upload's record, as a table and as JSON, filtered by status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from imagepipe.local import samples
from tests.cli.conftest import fresh_prefix, run, write

pytestmark = pytest.mark.integration

RECORD_FIELDS = {
    "key", "status", "etag", "versionId", "sequencer", "bytes", "format", "width", "height",
    "contentHash", "reason", "message", "duplicateOf", "renditions", "manifestUrl",
    "executionArn", "receivedAt", "updatedAt",
}  # fmt: skip
SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "schemas" / "catalogue-record.json").read_text()
)


def local(*argv: str) -> tuple[str, ...]:
    return (*argv, "--local")


@pytest.fixture
def uploaded(served: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> dict[str, str]:
    """A processed and a rejected upload under a fresh prefix: name -> key."""
    sub = fresh_prefix()
    write(tmp_path / "cat" / "good.jpg", samples.jpeg(320, 240, seed=41))
    write(tmp_path / "cat" / "bad.jpg", b"this is not a picture\n")
    run(capsys, *local("upload", str(tmp_path / "cat"), "--prefix", sub, "--wait"))
    base = served.stack.settings.upload_prefix + sub
    return {"good": base + "good.jpg", "bad": base + "bad.jpg"}


def test_catalogue_json_lists_every_upload_s_record(
    served: Any, capsys: pytest.CaptureFixture[str], uploaded: dict[str, str]
) -> None:
    result = run(capsys, *local("catalogue", "--limit", "1000", "--json"))
    assert result.code == 0, result.err
    doc = result.json()
    assert set(doc) == {"table", "status", "counts", "records"}
    assert (doc["table"], doc["status"]) == (served.stack.outputs["catalogueTable"], None)
    records = {r["key"]: r for r in doc["records"]}
    good, bad = records[uploaded["good"]], records[uploaded["bad"]]
    assert set(good) == RECORD_FIELDS
    for record in (good, bad):  # the shape docs/schemas/catalogue-record.json documents
        jsonschema.Draft202012Validator(SCHEMA).validate(record)
    base = served.stack.outputs["renditionsBaseUrl"]
    stem = uploaded["good"].removeprefix(served.stack.settings.upload_prefix).removesuffix(".jpg")
    assert good["manifestUrl"] == f"{base}/manifests/{stem}.json"
    assert bad["manifestUrl"] is None
    assert (good["status"], good["format"], good["width"], good["height"]) == (
        "processed", "JPEG", 320, 240
    )  # fmt: skip
    assert len(good["renditions"]) == len(served.stack.settings.renditions)
    assert (bad["status"], bad["reason"]) == ("rejected", "not_an_image")
    assert bad["renditions"] == []
    assert doc["counts"]["processed"] >= 1 and doc["counts"]["rejected"] >= 1


def test_catalogue_status_filter(
    served: Any, capsys: pytest.CaptureFixture[str], uploaded: dict[str, str]
) -> None:
    result = run(capsys, *local("catalogue", "--status", "rejected", "--limit", "1000", "--json"))
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["status"] == "rejected"
    assert {r["status"] for r in doc["records"]} == {"rejected"}
    keys = {r["key"] for r in doc["records"]}
    assert uploaded["bad"] in keys and uploaded["good"] not in keys
    assert set(doc["counts"]) == {"rejected"}

    refused = run(capsys, *local("catalogue", "--status", "lost"))
    assert refused.code == 2


def test_catalogue_table(
    served: Any, capsys: pytest.CaptureFixture[str], uploaded: dict[str, str]
) -> None:
    result = run(capsys, *local("catalogue", "--status", "rejected", "--limit", "1000"))
    assert result.code == 0, result.err
    out = result.out
    assert f"Catalogue {served.stack.outputs['catalogueTable']}" in out
    assert "rejected" in out and "not_an_image" in out
    # The key is folded, not cut, in a narrow table: its last part is there.
    assert "bad.jpg" in out and "good.jpg" not in out


def test_show_key_adds_the_upload_s_record(
    served: Any, capsys: pytest.CaptureFixture[str], uploaded: dict[str, str]
) -> None:
    result = run(capsys, *local("show", uploaded["bad"], "--json"))
    record = result.json()["catalogue"]
    assert record is not None and set(record) == RECORD_FIELDS
    assert (record["key"], record["status"], record["reason"]) == (
        uploaded["bad"], "rejected", "not_an_image"
    )  # fmt: skip
    assert record["executionArn"] == result.json()["execution"]["arn"]
