"""`make demo`'s page: out/index.html, each processed image drawn from its manifest as a
web page would (a <picture> with a <source> per format and the srcset), next to its
placeholder (the BlurHash decoded here into a tiny PNG) on its dominant colour.

The page refers to the renditions downloaded next to it (out/<key>), so it opens from
the folder after the demo's stack is gone; each image links to its URL on the stack.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import blurhash  # type: ignore[import-untyped, unused-ignore]
from PIL import Image

from imagepipe.local.samples import encode


def placeholder_png(placeholder: Mapping[str, Any]) -> str:
    """The BlurHash decoded at its own size, as a PNG data URL."""
    width, height = int(placeholder["width"]), int(placeholder["height"])
    rows = blurhash.decode(str(placeholder["blurhash"]), width, height)
    pixels = bytes(int(c) for row in rows for px in row for c in px[:3])
    png = encode(Image.frombytes("RGB", (width, height), pixels), "PNG")
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _figure(manifest: Mapping[str, Any]) -> str:
    local = {r["url"]: quote(r["key"]) for r in manifest["renditions"]}
    sources = "".join(
        f'<source type="{html.escape(t)}" srcset="'
        + html.escape(
            ", ".join(f"{local.get(u, u)} {w}" for u, w in (p.split(" ") for p in s.split(", ")))
        )
        + '" sizes="(max-width: 600px) 100vw, 600px">'
        for t, s in manifest["srcset"].items()
    )
    largest = manifest["renditions"][-1]
    placeholder = manifest["placeholder"]
    return (
        "<figure>"
        f'<div class="pair" style="background:{html.escape(placeholder["dominantColor"])}">'
        f'<img class="ph" alt="placeholder" src="{placeholder_png(placeholder)}">'
        f'<picture>{sources}<img alt="{html.escape(manifest["source"]["key"])}" '
        f'src="{quote(largest["key"])}" width="{largest["width"]}" height="{largest["height"]}">'
        "</picture></div>"
        f"<figcaption>{html.escape(manifest['source']['key'])} · "
        f'<a href="{html.escape(manifest["url"])}">manifest</a> · '
        + " ".join(
            f'<a href="{html.escape(r["url"])}">'
            f"{html.escape(r['name'])} {r['width']}x{r['height']}</a>"
            for r in manifest["renditions"]
        )
        + "</figcaption></figure>"
    )


def write_gallery(out: Path) -> Path:
    """Write out/index.html for the manifests downloaded under out/manifests/; returns its
    path."""
    manifests = sorted((out / "manifests").rglob("*.json"))
    figures = "\n".join(_figure(json.loads(p.read_text(encoding="utf-8"))) for p in manifests)
    page = (
        '<!doctype html><html><head><meta charset="utf-8"><title>imagepipe demo</title>'
        "<style>body{font-family:sans-serif;max-width:1300px;margin:2em auto}"
        ".pair{display:flex;gap:8px;padding:8px}.pair img{max-width:600px;height:auto}"
        ".ph{width:600px;max-width:45%;height:auto;image-rendering:auto}"
        "figure{margin:0 0 2em}</style></head><body><h1>imagepipe demo: renditions and "
        "their placeholders</h1>\n" + figures + "\n</body></html>\n"
    )
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
