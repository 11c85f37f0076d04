"""SVG input: checked with defusedxml, then rasterized by resvg at the size a rendition
needs. Pure: no AWS, no network, no file access.

What is refused, before resvg sees the bytes:
  * unsafe_svg: a DTD or entity (billion laughs, external entities: defusedxml refuses
    the DTD outright), a reference to anything outside the document (an href, or a CSS
    url() or @import, that is not "#id" or an embedded raster image), an embedded image
    that is not a JPEG, PNG, GIF or WebP within the pixel limit, more than MAX_ELEMENTS
    elements once every <use> is expanded (a <use> tree is a billion laughs too), deeper
    nesting than MAX_DEPTH, or a <use> cycle;
  * too_many_pixels: a declared size (width x height, else the viewBox) over the limit;
  * corrupt: XML that does not parse, an <svg> without a usable size, or what resvg
    cannot render.
resvg itself never fetches (it has no network code); image files it could read from disk
are refused above, and system fonts are not loaded (text needs its glyphs as paths): the
same SVG renders to the same pixels on every machine.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final
from xml.etree.ElementTree import Element, ParseError

from PIL import Image

from .errors import CORRUPT, TOO_MANY_PIXELS, UNSAFE_SVG, ImageRejected

MAX_ELEMENTS: Final = 20_000
"""Elements once every <use> is expanded: what resvg would draw."""
MAX_DEPTH: Final = 64
"""Nesting depth of elements (and of <use> references followed)."""
_SVG_NS: Final = "{http://www.w3.org/2000/svg}"
_HREFS: Final = ("href", "{http://www.w3.org/1999/xlink}href")
_CSS_URL: Final = re.compile(rb"url\(\s*['\"]?\s*([^'\")\s]*)", re.IGNORECASE)
_CSS_IMPORT: Final = re.compile(rb"@import", re.IGNORECASE)
_LENGTH: Final = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*(px)?\s*$")
_DATA_IMAGE: Final = re.compile(r"^data:image/(png|jpeg|jpg|gif|webp);base64,", re.IGNORECASE)
_RASTERS: Final = frozenset({"PNG", "JPEG", "GIF", "WEBP"})


def looks_like_svg(data: bytes) -> bool:
    """Whether the bytes start like an SVG document (after a BOM, XML declaration,
    comments and a doctype): its root element is <svg."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    while head.startswith((b"<?", b"<!--", b"<!")):
        end = b"?>" if head.startswith(b"<?") else b"-->" if head.startswith(b"<!--") else b">"
        bracket = head.find(b"[")
        if end == b">" and 0 <= bracket < head.find(b">"):  # a DOCTYPE's internal subset
            end = b"]>"
        cut = head.find(end)
        if cut < 0:
            return False
        head = head[cut + len(end) :].lstrip(b" \t\r\n")
    return head.startswith(b"<svg") and head[4:5] in (b" ", b">", b"\t", b"\r", b"\n", b"/")


@dataclass(frozen=True)
class SvgDocument:
    """A checked SVG: safe to hand to resvg."""

    text: str
    width: float
    """Declared (intrinsic) size in CSS pixels."""
    height: float


def _parse(data: bytes) -> Element:
    # Imported here: only SVG uploads pay for it.
    from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
    from defusedxml.ElementTree import fromstring  # type: ignore[import-untyped]

    try:
        root: Element = fromstring(data, forbid_dtd=True)
        return root
    except DefusedXmlException as exc:
        raise ImageRejected(
            UNSAFE_SVG, f"the SVG declares a DTD or entities ({type(exc).__name__})"
        ) from None
    except (ParseError, ValueError, UnicodeError) as exc:
        raise ImageRejected(CORRUPT, f"SVG data cannot be parsed: {exc}") from None


def _walk(root: Element) -> Iterator[tuple[Element, int]]:
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ImageRejected(UNSAFE_SVG, f"the SVG nests elements deeper than {MAX_DEPTH}")
        yield element, depth
        stack.extend((child, depth + 1) for child in element)


def _check_reference(value: str, element: Element, max_pixels: int) -> None:
    value = value.strip()
    if value.startswith("#"):
        return
    if element.tag == f"{_SVG_NS}image" and _DATA_IMAGE.match(value):
        _check_embedded(value, max_pixels)
        return
    shown = value if len(value) <= 80 else value[:77] + "..."
    raise ImageRejected(
        UNSAFE_SVG, f"the SVG refers to something outside itself ({shown!r}); nothing is fetched"
    )


def _check_embedded(uri: str, max_pixels: int) -> None:
    from .imaging import inspect_image  # imaging imports this module

    try:
        raster = base64.b64decode(uri.split(",", 1)[1], validate=False)
    except ValueError:
        raise ImageRejected(CORRUPT, "an embedded image is not valid base64") from None
    try:
        info = inspect_image(raster, max_pixels=max_pixels)
    except ImageRejected as exc:
        raise ImageRejected(
            exc.reason if exc.reason == TOO_MANY_PIXELS else UNSAFE_SVG,
            f"an embedded image is refused: {exc.message}",
        ) from None
    if info.format not in _RASTERS:
        raise ImageRejected(UNSAFE_SVG, f"an embedded {info.format} image is not drawn")


def _check_css(text: bytes, max_pixels: int, element: Element) -> None:
    if _CSS_IMPORT.search(text):
        raise ImageRejected(UNSAFE_SVG, "the SVG's CSS imports another stylesheet")
    for match in _CSS_URL.finditer(text):
        _check_reference(match.group(1).decode("utf-8", "replace"), element, max_pixels)


def _expanded_count(root: Element) -> int:
    """Elements drawn with every <use> replaced by what it points at (memoized per
    element, so a wide tree of uses is counted without being built)."""
    ids = {el.get("id"): el for el, _ in _walk(root) if el.get("id")}
    memo: dict[int, int] = {}
    visiting: set[int] = set()

    def count(element: Element, depth: int) -> int:
        key = id(element)
        if key in memo:
            return memo[key]
        if key in visiting or depth > MAX_DEPTH:
            raise ImageRejected(UNSAFE_SVG, "the SVG's <use> references loop or nest too deep")
        visiting.add(key)
        total = 1 + sum(count(child, depth + 1) for child in element)
        if element.tag == f"{_SVG_NS}use":
            target = next((v for h in _HREFS if (v := element.get(h))), "")
            if target.startswith("#") and target[1:] in ids:
                total += count(ids[target[1:]], depth + 1)
        visiting.discard(key)
        memo[key] = min(total, MAX_ELEMENTS + 1)
        return memo[key]

    return count(root, 1)


def _length(value: str | None) -> float | None:
    if value is None:
        return None
    match = _LENGTH.match(value)
    return float(match.group(1)) if match else None


def _declared_size(root: Element) -> tuple[float, float]:
    width, height = _length(root.get("width")), _length(root.get("height"))
    box = (root.get("viewBox") or "").replace(",", " ").split()
    view: tuple[float, float] | None = None
    if len(box) == 4:
        try:
            view = (float(box[2]), float(box[3]))
        except ValueError:
            view = None
    if view is not None and (width is None) != (height is None):  # one side: keep the ratio
        if width is not None and view[0] > 0:
            height = width * view[1] / view[0]
        elif height is not None and view[1] > 0:
            width = height * view[0] / view[1]
    if width is None or height is None:
        width, height = view if view is not None else (None, None)
    if width is None or height is None or not (width > 0 and height > 0):
        raise ImageRejected(
            CORRUPT, "the SVG has no usable size (width and height in px, or a viewBox)"
        )
    return width, height


def check_svg(data: bytes, *, max_pixels: int) -> SvgDocument:
    """Parse and check an SVG; raises ImageRejected (unsafe_svg, too_many_pixels, corrupt)."""
    root = _parse(data)
    if root.tag != f"{_SVG_NS}svg":
        raise ImageRejected(CORRUPT, "the document's root is not an SVG <svg> element")
    for element, _ in _walk(root):
        for name in _HREFS:
            value = element.get(name)
            if value is not None:
                _check_reference(value, element, max_pixels)
        style = element.get("style")
        if style:
            _check_css(style.encode(), max_pixels, element)
        if element.tag == f"{_SVG_NS}style" and element.text:
            _check_css(element.text.encode(), max_pixels, element)
        for value in element.attrib.values():
            if "url(" in value:
                _check_css(value.encode(), max_pixels, element)
    elements = _expanded_count(root)
    if elements > MAX_ELEMENTS:
        raise ImageRejected(
            UNSAFE_SVG, f"the SVG draws more than {MAX_ELEMENTS:,} elements (with <use> expanded)"
        )
    width, height = _declared_size(root)
    if width * height > max_pixels:
        raise ImageRejected(
            TOO_MANY_PIXELS,
            f"the SVG declares {width:g}x{height:g}, {width * height:,.0f} pixels, more than "
            f"the limit of {max_pixels:,}",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ImageRejected(CORRUPT, "the SVG is not UTF-8 (declare and send UTF-8)") from None
    return SvgDocument(text=text, width=width, height=height)


def rasterize(document: SvgDocument, size: tuple[int, int]) -> Image.Image:
    """The whole drawing at ``size`` pixels (RGBA), by resvg, without fonts or files."""
    import resvg_py

    try:
        png = resvg_py.svg_to_bytes(
            svg_string=document.text,
            width=size[0],
            height=size[1],
            skip_system_fonts=True,
            resources_dir=None,
        )
    except (ValueError, RuntimeError) as exc:
        raise ImageRejected(CORRUPT, f"the SVG cannot be drawn: {exc}") from None
    with Image.open(io.BytesIO(bytes(png)), formats=("PNG",)) as im:
        return im.convert("RGBA")
