"""SVG input: sniffed from bytes, checked with defusedxml, rasterized by resvg at the
rendition's size, and never fetching anything."""

from __future__ import annotations

import base64
import http.server
import io
import threading
from collections.abc import Iterator

import pytest
from PIL import Image

from imagefn import imaging, svg
from imagefn.errors import ImageRejected
from imagefn.renditions import Rendition

from . import images

MAX = 40_000_000
NS = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'


def drawing(body: str = "", attrs: str = 'viewBox="0 0 100 50"') -> bytes:
    """Red 100x50 with a blue circle on the left half, plus ``body``."""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<svg {NS} {attrs}>'
        '<rect width="100" height="50" fill="#ff0000"/>'
        f'<circle cx="25" cy="25" r="20" fill="#0000ff"/>{body}</svg>'
    ).encode()


def rendition(width: int, height: int, fit: str = "contain", fmt: str = "png") -> Rendition:
    return Rendition.from_dict({"name": "s", "width": width, "height": height, "fit": fit,
                                "format": fmt})  # fmt: skip


def rejected(data: bytes, max_pixels: int = MAX) -> ImageRejected:
    with pytest.raises(ImageRejected) as caught:
        imaging.validate_image(data, max_pixels=max_pixels)
    with pytest.raises(ImageRejected) as again:  # render refuses alike, by itself
        imaging.render(data, rendition(50, 50), max_pixels=max_pixels)
    assert again.value.reason == caught.value.reason
    return caught.value


def rendered(data: bytes, spec: Rendition) -> Image.Image:
    return Image.open(io.BytesIO(imaging.render(data, spec, max_pixels=MAX).data))


# --------------------------------------------------------------------------------------
# Sniffing


@pytest.mark.parametrize(
    "data",
    [
        b'<svg xmlns="http://www.w3.org/2000/svg"/>',
        b'\xef\xbb\xbf  <?xml version="1.0"?>\n<!-- a comment -->\n<svg>',
        b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x.dtd">\n<svg\n width="1">',
        b'<!DOCTYPE svg [<!ENTITY a "b">]><svg>',
    ],
)
def test_svg_is_sniffed_from_its_bytes(data: bytes) -> None:
    assert imaging.sniff_format(data) == "SVG"


@pytest.mark.parametrize("data", [b"<html><svg></svg></html>", b"<svgfoo/>", b"<?xml?><root/>"])
def test_other_markup_is_not_an_svg(data: bytes) -> None:
    with pytest.raises(ImageRejected) as caught:
        imaging.sniff_format(data)
    assert caught.value.reason == "not_an_image"


# --------------------------------------------------------------------------------------
# Rendering


def test_inspect_reports_the_declared_size_and_media_type() -> None:
    info = imaging.validate_image(drawing(), max_pixels=MAX)
    assert (info.format, info.width, info.height, info.media_type) == (
        "SVG",
        100,
        50,
        "image/svg+xml",
    )
    sized = drawing(attrs='width="300px" viewBox="0 0 100 50"')  # one side: ratio kept
    assert imaging.inspect_image(sized, max_pixels=MAX).height == 150


@pytest.mark.parametrize(
    ("fit", "size"), [("contain", (100, 50)), ("cover", (400, 300)), ("fill", (400, 300))]
)
def test_every_fit_gives_its_size(fit: str, size: tuple[int, int]) -> None:
    out = imaging.render(drawing(), rendition(400, 300, fit), max_pixels=MAX)
    assert (out.width, out.height, out.format) == (*size, "PNG")


def test_it_is_drawn_at_the_renditions_size_not_scaled_up_from_a_small_raster() -> None:
    # Declared 10x10; fill scales it to 1000x1000. A raster made at 10x10 and resized
    # would blur the circle's edge over ~100 px; drawn at 1000 px it is sharp.
    tiny = (f'<svg {NS} width="10" height="10"><rect width="10" height="10" fill="#fff"/>'
            '<rect x="5" width="5" height="10" fill="#000"/></svg>').encode()  # fmt: skip
    im = rendered(tiny, rendition(1000, 1000, "fill")).convert("L")
    assert im.getpixel((497, 500)) == 255 and im.getpixel((503, 500)) == 0


def test_colours_are_where_the_drawing_puts_them() -> None:
    im = rendered(drawing(), rendition(200, 100, "fill")).convert("RGBA")
    assert im.size == (200, 100)
    assert im.getpixel((50, 50)) == (0, 0, 255, 255)
    assert im.getpixel((190, 10)) == (255, 0, 0, 255)


def test_transparency_is_kept_or_flattened_on_white() -> None:
    open_svg = f'<svg {NS} width="20" height="20"><circle cx="10" cy="10" r="4"/></svg>'.encode()
    assert rendered(open_svg, rendition(20, 20)).getpixel((1, 1)) == (0, 0, 0, 0)
    assert rendered(open_svg, rendition(20, 20, fmt="jpeg")).getpixel((1, 1)) == (255, 255, 255)


def test_the_raster_never_passes_the_pixel_limit() -> None:
    strip = f'<svg {NS} width="1" height="400"><rect width="1" height="400"/></svg>'.encode()
    spec = rendition(200, 200, "cover")  # covering needs 200x80000 of the whole drawing
    size = imaging.decoded_size(strip, spec, max_pixels=100_000)
    assert size[0] * size[1] <= 100_000
    out = imaging.render(strip, spec, max_pixels=100_000)
    assert (out.width, out.height) == (200, 200)


def test_an_embedded_raster_image_is_drawn() -> None:
    png = images.encode(Image.new("RGB", (4, 4), (0, 255, 0)), "PNG")
    uri = "data:image/png;base64," + base64.b64encode(png).decode()
    data = drawing(f'<image x="60" y="10" width="30" height="30" href="{uri}"/>')
    assert rendered(data, rendition(100, 50)).convert("RGB").getpixel((75, 25)) == (0, 255, 0)


def test_peek_needs_the_whole_file_of_a_large_svg() -> None:
    big = drawing("".join(f'<rect x="{i % 100}" width="1" height="1"/>' for i in range(3000)))
    assert len(big) > imaging.HEADER_BYTES
    assert imaging.peek_image(big[: imaging.HEADER_BYTES], max_pixels=MAX) is None
    assert imaging.peek_image(drawing(), max_pixels=MAX) is not None


# --------------------------------------------------------------------------------------
# Refused


def test_a_billion_laughs_is_refused_before_any_expansion() -> None:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'
        for i in range(1, 10)
    )
    bomb = f'<?xml version="1.0"?><!DOCTYPE svg [{entities}]><svg {NS} width="9" height="9">' \
           "<text>&lol9;</text></svg>"  # fmt: skip
    assert rejected(bomb.encode()).reason == "unsafe_svg"


@pytest.mark.parametrize(
    "body",
    [
        '<image href="http://127.0.0.1:{port}/image.png" width="10" height="10"/>',
        '<image xlink:href="http://127.0.0.1:{port}/old-style.png" width="10" height="10"/>',
        '<image href="file:///etc/hostname" width="10" height="10"/>',
        '<image href="picture.png" width="10" height="10"/>',
        '<use href="http://127.0.0.1:{port}/sprites.svg#icon"/>',
        '<rect width="9" height="9" style="fill: url(http://127.0.0.1:{port}/p.svg#g)"/>',
        '<rect width="9" height="9" fill="url(\'http://127.0.0.1:{port}/p.svg#g\')"/>',
        '<style>@import "http://127.0.0.1:{port}/s.css";</style>',
        "<style>rect {{ fill: url(http://127.0.0.1:{port}/p.svg#g) }}</style>",
        '<filter id="f"><feImage href="http://127.0.0.1:{port}/f.png"/></filter>',
        '<image href="data:image/svg+xml;base64,PHN2Zy8+" width="9" height="9"/>',
    ],
)
def test_a_reference_outside_the_document_is_refused_and_never_fetched(
    body: str, http_log: tuple[int, list[str]]
) -> None:
    port, requests = http_log
    data = drawing(body.format(port=port))
    assert rejected(data).reason == "unsafe_svg"
    assert requests == []


def test_resvg_itself_fetches_nothing_even_unchecked(http_log: tuple[int, list[str]]) -> None:
    """Defence in depth: were a reference to slip past the checks, resvg has no network."""
    port, requests = http_log
    unchecked = svg.SvgDocument(
        text=drawing(f'<image href="http://127.0.0.1:{port}/x.png" width="9" height="9"/>'
                     ).decode(), width=100, height=50,
    )  # fmt: skip
    assert svg.rasterize(unchecked, (100, 50)).size == (100, 50)
    assert requests == []


def test_a_huge_declared_size_is_too_many_pixels() -> None:
    huge = f'<svg {NS} viewBox="0 0 100000 100000"><rect width="9" height="9"/></svg>'.encode()
    error = rejected(huge)
    assert error.reason == "too_many_pixels" and "100000x100000" in error.message
    # The declared size is width x height when given: a big viewBox drawn small is fine.
    small = f'<svg {NS} width="500" height="500" viewBox="0 0 100000 100000"/>'.encode()
    assert imaging.validate_image(small, max_pixels=MAX).width == 500


def test_a_tree_of_uses_is_counted_expanded() -> None:
    levels = ['<g id="l0"><rect width="1" height="1"/></g>']
    levels += [
        f'<g id="l{i}">' + f'<use href="#l{i - 1}"/>' * 10 + "</g>" for i in range(1, 7)
    ]  # 10^6 rectangles drawn from 70 elements
    data = drawing(f"<defs>{''.join(levels)}</defs><use href='#l6'/>")
    error = rejected(data)
    assert error.reason == "unsafe_svg" and "20,000" in error.message


@pytest.mark.parametrize(
    "body",
    [
        '<rect width="1" height="1"/>' * 20_001,
        "<g>" * 70 + "</g>" * 70,
        '<g id="a"><use href="#b"/></g><g id="b"><use href="#a"/></g>',
    ],
)
def test_too_many_elements_nesting_or_a_use_cycle_is_refused(body: str) -> None:
    assert rejected(drawing(body)).reason == "unsafe_svg"


def test_an_embedded_bomb_is_too_many_pixels() -> None:
    uri = "data:image/png;base64," + base64.b64encode(images.png_header(100_000, 100_000)).decode()
    assert rejected(drawing(f'<image width="9" height="9" href="{uri}"/>')).reason == (
        "too_many_pixels"
    )


@pytest.mark.parametrize(
    "data",
    [
        f'<svg {NS} width="10" height="10"><rect'.encode(),  # truncated
        f"<svg {NS}><rect/></svg>".encode(),  # no size
        b'<svg width="10" height="10"/>',  # not in the SVG namespace
        f'<svg {NS} width="10" height="10"><desc>caf\xe9</desc></svg>'.encode("latin-1"),
        f'<svg {NS} width="-5" height="10"/>'.encode(),
    ],
)
def test_broken_svgs_are_corrupt(data: bytes) -> None:
    assert rejected(data).reason == "corrupt"


# --------------------------------------------------------------------------------------
# A server that records what it is asked for


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def _server() -> Iterator[tuple[int, list[str]]]:
    requests: list[str] = []
    handler = type("Recorder", (_Recorder,), {"requests": requests})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], requests
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def http_log(_server: tuple[int, list[str]]) -> Iterator[tuple[int, list[str]]]:
    port, requests = _server
    requests.clear()
    yield port, requests
    # One last look after the test: a fetch would have arrived by now, the calls are sync.
    assert requests == []


def test_the_recorder_does_record(http_log: tuple[int, list[str]]) -> None:
    """The negative tests above mean something only if a request would show up."""
    import urllib.error
    import urllib.request

    port, requests = http_log
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/probe", timeout=5)
    assert requests == ["/probe"]
    requests.clear()
