"""The backfill's rules for one listed key (imagefn.plan): which keys it processes and which
renditions it makes. Inspect and `imagepipe backfill --dry-run` both call these."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagefn.plan import renditions_to_make, skip_reason, suffix_variants, unrecorded
from imagefn.renditions import Rendition

SUFFIXES = (".jpg", ".jpeg", ".png")
RENDITIONS = (
    Rendition("thumb", 200, 200, fit="cover", format="webp"),
    Rendition("medium", 800, 800, format="jpeg"),
    Rendition("orig", 1600, 1600, format="original"),
)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("uploads/a.jpg", None),
        ("uploads/deep/er/B.JPG", None),  # S3 filters on '.jpg' and '.JPG'
        ("uploads/c.JPEG", None),
        ("uploads/mixed.Jpg", "suffix"),  # neither spelling: no upload would start anything
        ("uploads/notes.txt", "suffix"),
        ("uploads/folder/", "suffix"),  # a console "folder" marker
        ("uploads/jpg", "suffix"),
        ("elsewhere/a.jpg", "prefix"),
        ("uploadsX/a.jpg", "prefix"),
        ("elsewhere/notes.txt", "prefix"),  # the prefix is checked first, as S3 does
    ],
)
def test_skip_reason_is_the_upload_notification_s_filter(key: str, expected: str | None) -> None:
    assert skip_reason(key, upload_prefix="uploads/", allowed_suffixes=SUFFIXES) == expected


def test_empty_filters_let_everything_through() -> None:
    assert skip_reason("any/thing.txt", upload_prefix="", allowed_suffixes=()) is None


def test_suffix_variants_are_the_lower_and_upper_spellings() -> None:
    assert suffix_variants([".jpg", ".PNG"]) == [".jpg", ".JPG", ".png", ".PNG"]
    assert suffix_variants([".123"]) == [".123"]  # no case: listed once


def test_every_rendition_without_made_from() -> None:
    planned = renditions_to_make(RENDITIONS, source_format="PNG", stem="a/b", etag="e1")
    assert [(p["name"], p["key"]) for p in planned] == [
        ("thumb", "thumb/a/b.webp"),
        ("medium", "medium/a/b.jpg"),
        ("orig", "orig/a/b.png"),
    ]
    orig = planned[2]
    assert "orig/a/b.jpg" in orig["staleKeys"] and "orig/a/b.png" not in orig["staleKeys"]
    assert planned[0]["staleKeys"] == [] and planned[0]["contentType"] == "image/webp"


def test_only_missing_keeps_what_is_absent_or_made_from_another_version() -> None:
    written = {
        "manifests/a/b.json": "e1",
        "thumb/a/b.webp": "e1",
        "medium/a/b.jpg": "e0",  # medium is from before
    }
    asked: list[str] = []

    def made_from(key: str) -> str | None:
        asked.append(key)
        return written.get(key)

    planned = renditions_to_make(
        RENDITIONS, source_format="PNG", stem="a/b", etag="e1", made_from=made_from
    )
    assert [p["name"] for p in planned] == ["medium", "orig"]
    assert asked == ["manifests/a/b.json", "thumb/a/b.webp", "medium/a/b.jpg", "orig/a/b.png"]


@pytest.mark.parametrize("manifest", [None, "e0"], ids=["no-manifest", "older-manifest"])
def test_only_missing_makes_everything_without_this_version_s_manifest(
    manifest: str | None,
) -> None:
    """The manifest is written from what the renditions' Resize returns: an image whose
    manifest is missing (or of another version) is not complete, whatever exists."""
    written = {"thumb/a/b.webp": "e1", "medium/a/b.jpg": "e1", "orig/a/b.png": "e1"}
    if manifest:
        written["manifests/a/b.json"] = manifest
    planned = renditions_to_make(
        RENDITIONS, source_format="PNG", stem="a/b", etag="e1", made_from=written.get
    )
    assert [p["name"] for p in planned] == ["thumb", "medium", "orig"]


def test_the_lambda_and_the_cli_call_these_rules_and_no_copy_of_them() -> None:
    """One rule, two callers: neither re-implements the suffix test or the ETag match."""
    import imagefn
    import imagepipe

    callers = (
        Path(imagefn.__file__).parent / "inspect_handler.py",  # not imported: reads its env
        Path(imagepipe.__file__).parent / "commands" / "backfill.py",
    )
    for path in callers:
        source = path.read_text()
        assert "skip_reason(" in source and "renditions_to_make(" in source, path.name
        assert ".endswith(" not in source, path.name
        assert "plan_rendition(" not in source, path.name


@pytest.mark.parametrize(
    ("status", "recorded_etag", "expected"),
    [
        (None, None, True),  # no record: older than the catalogue, or lost
        ("processing", "e1", True),  # an execution that never finished
        ("failed", '"e1"', True),  # quoted as S3 lists it: the same version
        ("deleted", "e1", False),  # the removal workflow's: the write is refused
        ("processed", "e1", False),  # recorded already
        ("rejected", "e1", False),  # skipped before it is read
        ("processed", "e0", False),  # another version's record: another upload's
        ("failed", "e0", False),
    ],
)
def test_what_a_backfill_records_with_nothing_to_make(
    status: str | None, recorded_etag: str | None, expected: bool
) -> None:
    assert unrecorded(status, recorded_etag, "e1") is expected
