"""The per-image manifest: its shape (docs/schemas/manifest.json), URLs for awkward keys,
srcsets, the placeholder, and which paths an overwrite leaves stale in the CDN."""

from __future__ import annotations

import importlib
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import blurhash
import jsonschema
import pytest
from PIL import Image

from imagefn import manifest

from . import images
from .conftest import Aws
from .events import DESTINATION_BUCKET
from .test_handlers import run_pipeline

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "schemas" / "manifest.json").read_text()
)
BASE = "https://d111111abcdef8.cloudfront.net"


def validate(document: Any) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(document)


def test_urls_percent_encode_the_key_and_paths_start_with_a_slash() -> None:
    key = "thumb/cats/My Cat+1 100% é.webp"
    assert manifest.url_for(BASE, key) == (f"{BASE}/thumb/cats/My%20Cat%2B1%20100%25%20%C3%A9.webp")
    assert manifest.url_for(BASE + "/", "a b.png") == f"{BASE}/a%20b.png"
    assert manifest.url_for("", "a b.png") == "/a%20b.png"  # root-relative without a CDN
    assert manifest.cdn_path(key) == "/thumb/cats/My%20Cat%2B1%20100%25%20%C3%A9.webp"


def test_srcset_per_media_type_narrowest_first() -> None:
    rows = [
        {"contentType": "image/webp", "width": 1600, "url": "https://x/l.webp"},
        {"contentType": "image/jpeg", "width": 800, "url": "https://x/m.jpg"},
        {"contentType": "image/webp", "width": 200, "url": "https://x/t.webp"},
    ]
    assert manifest.srcsets(rows) == {
        "image/jpeg": "https://x/m.jpg 800w",
        "image/webp": "https://x/t.webp 200w, https://x/l.webp 1600w",
    }


def test_placeholder_is_a_decodable_blurhash_with_the_dominant_colour() -> None:
    im = Image.new("RGB", (200, 100), (20, 120, 220))
    im.paste((250, 250, 250), (0, 0, 40, 100))  # a fifth white, four fifths blue
    data = io.BytesIO()
    im.save(data, "WEBP", quality=90)
    found = manifest.placeholder(data.getvalue())
    assert (found["width"], found["height"]) == (32, 16)
    assert len(blurhash.decode(found["blurhash"], 8, 4)) == 4
    r, _g, b = (int(found["dominantColor"][i : i + 2], 16) for i in (1, 3, 5))
    assert b > 180 and r < 60, found


def test_transparent_pixels_count_as_white() -> None:
    data = io.BytesIO()
    Image.new("RGBA", (40, 40), (0, 0, 0, 0)).save(data, "PNG")
    assert manifest.placeholder(data.getvalue())["dominantColor"] == "#ffffff"


def _doc(etag: str, keys: list[str]) -> dict[str, Any]:
    return {
        "key": "manifests/cat.json",
        "source": {"etag": etag},
        "renditions": [{"key": k} for k in keys],
    }


def test_invalidation_only_when_an_earlier_version_was_served() -> None:
    current = _doc("new", ["thumb/cat.webp", "orig/cat.png"])
    assert manifest.invalidation_paths(None, current) == []  # first upload: nothing cached
    assert manifest.invalidation_paths(_doc("new", ["x"]), current) == []  # same version
    # An overwrite in another format: the old key and the new one, and the manifest.
    previous = _doc("old", ["thumb/cat.webp", "orig/cat.jpg"])
    assert manifest.invalidation_paths(previous, current) == [
        "/manifests/cat.json",
        "/orig/cat.jpg",
        "/orig/cat.png",
        "/thumb/cat.webp",
    ]


# -- the handler, on moto ------------------------------------------------------------


@pytest.fixture
def manifest_handler(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("RENDITIONS_BASE_URL", BASE)
    monkeypatch.setenv("INVALIDATE", "true")
    sys.modules.pop("imagefn.manifest_handler", None)
    yield importlib.import_module("imagefn.manifest_handler")
    sys.modules.pop("imagefn.manifest_handler", None)


def test_a_partial_run_keeps_the_rest_of_the_same_version() -> None:
    """A backfill with onlyMissing made only `thumb`: the manifest of the same version
    lends the others (if still configured); another version's lends nothing."""
    made = [{"name": "thumb", "key": "thumb/a.webp", "width": 200, "height": 100,
             "bytes": 9, "format": "WEBP", "contentType": "image/webp"}]  # fmt: skip
    previous = {
        "source": {"etag": "e1"},
        "renditions": [
            {
                "name": n,
                "key": f"{n}/a.jpg",
                "url": f"https://cdn/{n}/a.jpg",
                "width": w,
                "height": w // 2,
                "bytes": w,
                "mediaType": "image/jpeg",
            }
            for n, w in (("thumb", 100), ("medium", 800), ("gone", 50))
        ],
    }
    merged = manifest.with_unchanged(made, previous, "e1", ["thumb", "medium"])
    assert [(r["name"], r["key"], r.get("contentType"), r.get("format")) for r in merged] == [
        ("thumb", "thumb/a.webp", "image/webp", "WEBP"),  # made now, not the old entry
        ("medium", "medium/a.jpg", "image/jpeg", "JPEG"),  # Resize's format, from the type
    ]
    # Every one in Resize's shape, in the configured order: what the record lists.
    assert (
        manifest.listed_renditions(merged, "https://cdn", ["medium", "thumb"])[0]["name"]
        == "medium"
    )
    assert manifest.listed_renditions(merged, "https://cdn") == [
        {"name": "thumb", "key": "thumb/a.webp", "url": "https://cdn/thumb/a.webp",
         "width": 200, "height": 100, "bytes": 9, "format": "WEBP",
         "contentType": "image/webp"},
        {"name": "medium", "key": "medium/a.jpg", "url": "https://cdn/medium/a.jpg",
         "width": 800, "height": 400, "bytes": 800, "format": "JPEG",
         "contentType": "image/jpeg"},
    ]  # fmt: skip
    assert manifest.with_unchanged(made, previous, "e2", ["thumb", "medium"]) == made
    assert manifest.with_unchanged(made, None, "e1") == made
    assert [r["name"] for r in manifest.with_unchanged(made, previous, "e1")] == [
        "thumb", "medium", "gone",
    ]  # fmt: skip


def test_the_handler_writes_a_manifest_the_schema_accepts(
    aws: Aws, manifest_handler: Any, jpeg_photo: bytes
) -> None:
    key = "uploads/cats/My Cat+1 é.jpg"
    aws.put(key, jpeg_photo)
    planned, outputs = run_pipeline(aws, key)
    result = manifest_handler.handler({"source": planned["source"], "renditions": outputs}, None)
    assert result["key"] == "manifests/cats/My Cat+1 é.json"
    assert result["url"] == f"{BASE}/manifests/cats/My%20Cat%2B1%20%C3%A9.json"
    assert result["invalidation"] is None  # the first version: nothing to invalidate
    head = aws.s3.head_object(Bucket=DESTINATION_BUCKET, Key=result["key"])
    assert head["ContentType"] == "application/json"
    assert head["CacheControl"].startswith("public, max-age=60")
    document = json.loads(aws.get(result["key"]))
    validate(document)
    assert [r["key"] for r in document["renditions"]] == sorted(
        (o["key"] for o in outputs), key=lambda k: [o["width"] for o in outputs if o["key"] == k]
    )
    assert document["source"]["bytes"] == len(jpeg_photo)
    smallest = min(outputs, key=lambda o: o["width"] * o["height"])
    assert document["placeholder"] == manifest.placeholder(aws.get(smallest["key"]))
    for rendition in document["renditions"]:
        assert rendition["url"] == manifest.url_for(BASE, rendition["key"])
    # It lists what it names in Resize's own shape (the backfill's record takes them),
    # with the manifest's URLs.
    listed = {r["key"]: r for r in result["renditions"]}
    assert {k: {**r, "url": None} for k, r in listed.items()} == {
        o["key"]: {**o, "url": None} for o in outputs
    }
    assert all(r["url"] == manifest.url_for(BASE, k) for k, r in listed.items())


def test_nothing_made_lists_the_manifest_of_the_same_version(
    aws: Aws, manifest_handler: Any, jpeg_photo: bytes
) -> None:
    """A backfill recording a complete image makes nothing: the manifest of its version
    names its renditions; without one there is nothing to list, and it says so."""
    aws.put("uploads/whole.jpg", jpeg_photo)
    planned, outputs = run_pipeline(aws, "uploads/whole.jpg")
    first = manifest_handler.handler({"source": planned["source"], "renditions": outputs}, None)
    again = manifest_handler.handler({"source": planned["source"], "renditions": []}, None)
    # (In the order RENDITION_NAMES gives, which this test's environment does not set.)
    assert sorted(again["renditions"], key=str) == sorted(first["renditions"], key=str)
    assert again["invalidation"] is None and again["url"] == first["url"]
    other = {**planned["source"], "etag": "0" * 32}
    with pytest.raises(ValueError, match=r"nothing to list for uploads/whole\.jpg"):
        manifest_handler.handler({"source": other, "renditions": []}, None)


def test_an_overwrite_invalidates_what_either_version_wrote(
    aws: Aws, manifest_handler: Any, jpeg_photo: bytes
) -> None:
    aws.put("uploads/p.jpg", jpeg_photo)
    planned, outputs = run_pipeline(aws, "uploads/p.jpg")
    event = {"source": planned["source"], "renditions": outputs}
    manifest_handler.handler(event, None)
    # The same event again (a duplicate): same version, nothing to invalidate.
    assert manifest_handler.handler(event, None)["invalidation"] is None
    aws.put("uploads/p.jpg", images.encode(images.photo((300, 300)), "PNG"))
    planned, outputs = run_pipeline(aws, "uploads/p.jpg")
    result = manifest_handler.handler({"source": planned["source"], "renditions": outputs}, None)
    paths = result["invalidation"]["paths"]
    assert result["invalidation"]["quantity"] == len(paths)
    assert "/manifests/p.json" in paths
    assert {"/" + o["key"] for o in outputs} <= set(paths)


def test_without_a_cdn_nothing_is_invalidated(
    aws: Aws, manifest_handler: Any, jpeg_photo: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INVALIDATE", "false")
    sys.modules.pop("imagefn.manifest_handler", None)
    handler = importlib.import_module("imagefn.manifest_handler")
    for data in (jpeg_photo, images.encode(images.photo((300, 300)), "PNG")):
        aws.put("uploads/p.jpg", data)
        planned, outputs = run_pipeline(aws, "uploads/p.jpg")
        result = handler.handler({"source": planned["source"], "renditions": outputs}, None)
        assert result["invalidation"] is None
