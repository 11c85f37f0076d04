"""The per-image manifest: everything a web page needs to draw a responsive `<picture>`
with a placeholder, from one JSON document served next to the renditions.

Pure: no AWS calls. Its shape is docs/schemas/manifest.json (a test validates real
manifests against it). The placeholder is a BlurHash (https://blurha.sh, encoded by the
pure-Python `blurhash` package) of the smallest rendition, and the dominant colour is
the most common colour of that rendition reduced to a small palette.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote

from PIL import Image

from .imaging import MEDIA_TYPES

MANIFEST_PREFIX: Final = "manifests/"
SCHEMA_VERSION: Final = 1
# The placeholder is computed from at most this many pixels on the longer side: BlurHash
# keeps only a few cosine components, so more pixels change nothing but the time.
PLACEHOLDER_SIDE: Final = 32
# A manifest names a rendition's media type; Resize (and the catalogue) its Pillow format.
FORMAT_OF_MEDIA_TYPE: Final = {media_type: name for name, media_type in MEDIA_TYPES.items()}


def manifest_key(stem: str) -> str:
    """`manifests/<key stem>.json`: one manifest per original, whatever its renditions."""
    return f"{MANIFEST_PREFIX}{stem}.json"


def url_for(base_url: str, key: str) -> str:
    """The public URL of `key`: its path percent-encoded (spaces, '+', '%', unicode)."""
    return f"{base_url.rstrip('/')}/{quote(key, safe='/')}"


def cdn_path(key: str) -> str:
    """`key` as a CloudFront invalidation path: '/' and the percent-encoded key."""
    return "/" + quote(key, safe="/")


def _rgb(data: bytes) -> Image.Image:
    """The first frame, on white where transparent, at most PLACEHOLDER_SIDE px."""
    with Image.open(io.BytesIO(data)) as opened:
        opened.seek(0)
        im = opened.convert("RGBA")
    im.thumbnail((PLACEHOLDER_SIDE, PLACEHOLDER_SIDE), Image.Resampling.BOX)
    flat = Image.new("RGB", im.size, (255, 255, 255))
    flat.paste(im, mask=im.getchannel("A"))
    return flat


def placeholder(data: bytes) -> dict[str, Any]:
    """BlurHash and dominant colour of an encoded image (a rendition)."""
    # Imported here: the resize function imports this module for url_for alone.
    import blurhash  # type: ignore[import-untyped, unused-ignore]

    im = _rgb(data)
    width, height = im.size
    # 4 components along the longer side, 3 along the shorter: ~28 characters.
    components = (4, 3) if width >= height else (3, 4)
    raw = im.tobytes()  # RGB, row by row
    rows = [
        [list(raw[(y * width + x) * 3 : (y * width + x) * 3 + 3]) for x in range(width)]
        for y in range(height)
    ]
    hashed = str(blurhash.encode(rows, components_x=components[0], components_y=components[1]))
    palette = im.quantize(colors=8, method=Image.Quantize.MEDIANCUT)
    # A palette image's colours are (count, index) pairs.
    counts = [(c, i) for c, i in palette.getcolors() or [] if isinstance(i, int)]
    _, index = max(counts or [(1, 0)])
    colours = palette.getpalette() or [0, 0, 0]
    r, g, b = colours[index * 3 : index * 3 + 3]
    return {
        "blurhash": hashed,
        "width": width,
        "height": height,
        "dominantColor": f"#{r:02x}{g:02x}{b:02x}",
    }


def smallest(renditions: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The rendition with the fewest pixels (then bytes): what the placeholder is made of."""
    return min(renditions, key=lambda r: (int(r["width"]) * int(r["height"]), int(r["bytes"])))


def srcsets(renditions: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Media type -> a `srcset` of every rendition in it, narrowest first
    ("<url> 200w, <url> 800w"); one entry per width."""
    by_type: dict[str, dict[int, str]] = {}
    for r in renditions:
        by_type.setdefault(str(r["contentType"]), {}).setdefault(int(r["width"]), str(r["url"]))
    return {
        media_type: ", ".join(f"{url} {width}w" for width, url in sorted(widths.items()))
        for media_type, widths in sorted(by_type.items())
    }


def build_manifest(
    *,
    source: Mapping[str, Any],
    renditions: Sequence[Mapping[str, Any]],
    base_url: str,
    key: str,
    placeholder_of_smallest: Mapping[str, Any],
) -> dict[str, Any]:
    """The manifest document. `renditions` are the Resize outputs (name, key, width,
    height, bytes, contentType); URLs are made here from `base_url`."""
    listed = [
        {
            "name": str(r["name"]),
            "key": str(r["key"]),
            "url": url_for(base_url, str(r["key"])),
            "width": int(r["width"]),
            "height": int(r["height"]),
            "bytes": int(r["bytes"]),
            "mediaType": str(r["contentType"]),
        }
        for r in sorted(renditions, key=lambda r: (int(r["width"]), str(r["name"])))
    ]
    return {
        "version": SCHEMA_VERSION,
        "key": key,
        "url": url_for(base_url, key),
        "source": {
            "key": str(source["key"]),
            "etag": str(source["etag"]),
            "format": str(source["format"]),
            "mediaType": str(source["mediaType"]),
            "width": int(source["width"]),
            "height": int(source["height"]),
            "bytes": int(source["size"]),
        },
        "renditions": listed,
        "srcset": srcsets({**r, "contentType": r["mediaType"]} for r in listed),
        "placeholder": dict(placeholder_of_smallest),
    }


def with_unchanged(
    renditions: Sequence[Mapping[str, Any]],
    previous: Mapping[str, Any] | None,
    etag: str,
    configured: Iterable[str] | None = None,
) -> list[Mapping[str, Any]]:
    """The renditions made now, and those the previous manifest of this same version of
    the original (`etag`) names that were not made again and are still `configured` (all,
    for None), back in Resize's shape: a backfill with onlyMissing makes only what is
    missing, and the manifest must still name every rendition of the image."""
    if not previous or (previous.get("source") or {}).get("etag") != etag:
        return list(renditions)
    made = {str(r["name"]) for r in renditions}
    names = None if configured is None else set(configured)
    kept = [
        {
            **r,
            "contentType": r.get("mediaType"),
            "format": FORMAT_OF_MEDIA_TYPE.get(str(r.get("mediaType"))),
        }
        for r in previous.get("renditions") or []
        if isinstance(r, Mapping)
        and isinstance(r.get("name"), str)
        and r["name"] not in made
        and (names is None or r["name"] in names)
    ]
    return [*renditions, *kept]


def listed_renditions(
    renditions: Sequence[Mapping[str, Any]], base_url: str, configured: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Every rendition the manifest names, in Resize's shape and in the `configured` order
    (as given when None), as an upload's image.processed and catalogue record list them.
    With onlyMissing a backfill made only some; the others come from the previous
    manifest (with_unchanged)."""
    order = {name: i for i, name in enumerate(configured or ())}
    return [
        {
            "name": str(r["name"]),
            "key": str(r["key"]),
            "url": url_for(base_url, str(r["key"])),
            "width": int(r["width"]),
            "height": int(r["height"]),
            "bytes": int(r["bytes"]),
            "format": str(r["format"]),
            "contentType": str(r["contentType"]),
        }
        for r in sorted(renditions, key=lambda r: order.get(str(r["name"]), len(order)))
    ]


def invalidation_paths(previous: Mapping[str, Any] | None, current: Mapping[str, Any]) -> list[str]:
    """What a CDN may hold stale now that `current` replaced `previous`: every rendition
    key either of them names, and the manifest itself, as invalidation paths. None when
    there was no earlier manifest (nothing was served yet) or it was written from the
    same version of the original (a duplicated event: nothing changed)."""
    if previous is None:
        return []
    if previous.get("source", {}).get("etag") == current["source"]["etag"]:
        return []
    keys = {str(current["key"])}
    for manifest in (previous, current):
        for rendition in manifest.get("renditions") or []:
            if isinstance(rendition, Mapping) and isinstance(rendition.get("key"), str):
                keys.add(rendition["key"])
    return sorted(cdn_path(k) for k in keys)


def removal_invalidation(served_keys: Iterable[str]) -> dict[str, Any] | None:
    """What a CDN may hold stale once a deleted original's derivatives are deleted: the
    keys that existed (renditions, manifest) as invalidation paths; None when there were
    none (nothing was served, nothing to invalidate)."""
    paths = sorted({cdn_path(k) for k in served_keys})
    return {"paths": paths, "quantity": len(paths)} if paths else None
