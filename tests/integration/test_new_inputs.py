"""HEIC and SVG uploads, animated renditions, smart crop and watermarks end to end on the
local stack (IAM enforced): the bytes written are the imaging core's, and a HEIC bomb or an SVG that refers
outside itself is refused with its reason."""

from __future__ import annotations

import dataclasses
import http.server
import io
import threading
from collections.abc import Iterator

import pytest
from PIL import Image, ImageChops

from imagefn import imaging
from imagefn.renditions import Rendition, Watermark
from imagepipe.local.stack import LocalStack, deploy_local
from tests.functions import images
from tests.functions.test_animation import moving_square
from tests.integration.conftest import execution_for, fresh_key
from tests.support import drive

pytestmark = pytest.mark.integration

# The dev stack's renditions plus an animated one and a smart-cropped one.
ANIMATED = Rendition(name="anim", width=80, height=60, format="webp", animated=True)
SMART = Rendition(name="smart", width=120, height=120, fit="cover", format="png",
                  gravity="attention")  # fmt: skip
MARKED = Rendition(name="marked", width=400, height=300, format="png",
                   watermark=Watermark(position="bottom-left", opacity=0.8))  # fmt: skip


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    from infra.settings import load_stack_settings

    renditions = [
        r.to_dict() for r in (*load_stack_settings("dev").renditions, ANIMATED, SMART, MARKED)
    ]
    with deploy_local("dev", config={"renditions": renditions}) as deployed:
        drive.pump(deployed)
        yield deployed


def written(stack: LocalStack, key: str, rendition: Rendition, source_format: str) -> bytes:
    stem = key.removeprefix(stack.settings.upload_prefix).rsplit(".", 1)[0]
    rkey = imaging.rendition_key(
        rendition.name, stem, imaging.output_format(rendition.format, source_format)
    )
    return drive.read(stack, stack.destination_bucket, rkey)


def refusal(stack: LocalStack, key: str) -> str:
    """Why an upload was refused: its image.rejected notification (a refusal is a handled
    upload: the execution succeeds, nothing is dead-lettered), or, on a stack that still
    dead-letters refusals, its one dead letter from a failed execution."""
    execution = execution_for(stack, key)
    letters = [d for d in drive.dlq_messages(stack) if d.key == key]
    rejected = [
        n.message
        for n in drive.notifications(stack)
        if isinstance(n.message, dict)
        and n.message.get("event") == "image.rejected"
        and n.message["source"]["key"] == key
    ]
    if rejected:
        assert (execution.status, letters) == ("SUCCEEDED", [])
        [message] = rejected
        return str(message["reason"])
    assert execution.status == "FAILED"
    [letter] = letters
    return str(letter.body["reason"])


def test_a_heic_upload_gets_every_rendition(stack: LocalStack) -> None:
    data = images.heif(images.photo((1200, 900)), quality=80)
    key = drive.upload(stack, data, fresh_key(stack, "IMG_0042.HEIC"))
    drive.pump(stack)
    assert execution_for(stack, key).status == "SUCCEEDED"
    limit = stack.settings.max_input_pixels
    for rendition in stack.settings.renditions:
        out = written(stack, key, rendition, "HEIF")
        assert out == imaging.render(data, rendition, max_pixels=limit).data, rendition.name


def test_an_animated_gif_gets_an_animated_rendition_and_still_ones(stack: LocalStack) -> None:
    data = moving_square("GIF")
    key = drive.upload(stack, data, fresh_key(stack, "party.gif"))
    drive.pump(stack)
    assert execution_for(stack, key).status == "SUCCEEDED"
    with Image.open(io.BytesIO(written(stack, key, ANIMATED, "GIF"))) as image:
        assert (image.format, image.n_frames, image.size) == ("WEBP", 4, (80, 60))
    thumb = next(r for r in stack.settings.renditions if r.name == "thumb")
    with Image.open(io.BytesIO(written(stack, key, thumb, "GIF"))) as image:
        assert not getattr(image, "is_animated", False)


def test_a_heic_bomb_is_refused_as_too_many_pixels(stack: LocalStack) -> None:
    key = drive.upload(stack, images.heif_claiming(20_000, 10_000), fresh_key(stack, "bomb.heic"))
    drive.pump(stack)
    assert refusal(stack, key) == "too_many_pixels"


def test_a_smart_crop_keeps_an_off_centre_subject(stack: LocalStack) -> None:
    from tests.functions.test_gravity import red_pixels, subject_on_grey

    source = subject_on_grey((480, 240), (380, 80, 460, 160))
    data = images.encode(source, "PNG")
    key = drive.upload(stack, data, fresh_key(stack, "portrait-right.png"))
    drive.pump(stack)
    assert execution_for(stack, key).status == "SUCCEEDED"
    out = written(stack, key, SMART, "PNG")
    assert out == imaging.render(data, SMART, max_pixels=stack.settings.max_input_pixels).data
    centre = imaging.render(data, dataclasses.replace(SMART, gravity="center"), max_pixels=10**8)
    with Image.open(io.BytesIO(centre.data)) as image:
        assert red_pixels(image) == 0  # a centred crop loses the subject
    with Image.open(io.BytesIO(out)) as image:
        assert red_pixels(image) > 150


def test_a_watermarked_rendition_is_the_cores_with_the_packaged_mark(stack: LocalStack) -> None:
    data = images.encode(images.photo((800, 600)), "JPEG", quality=90)
    key = drive.upload(stack, data, fresh_key(stack, "marked.jpg"))
    drive.pump(stack)
    assert execution_for(stack, key).status == "SUCCEEDED"
    out = written(stack, key, MARKED, "JPEG")
    limit = stack.settings.max_input_pixels
    assert out == imaging.render(data, MARKED, max_pixels=limit).data
    plain = imaging.render(data, dataclasses.replace(MARKED, watermark=None), max_pixels=limit)
    with Image.open(io.BytesIO(out)) as marked, Image.open(io.BytesIO(plain.data)) as clean:
        diff = ImageChops.difference(marked.convert("RGB"), clean.convert("RGB"))
        assert diff.getbbox() == (16, 300 - 16 - 25, 16 + 100, 300 - 16)


def test_an_svg_upload_is_drawn_for_every_rendition(stack: LocalStack) -> None:
    from tests.functions.test_svg import drawing

    data = drawing()
    key = drive.upload(stack, data, fresh_key(stack, "logo.svg"))
    drive.pump(stack)
    assert execution_for(stack, key).status == "SUCCEEDED"
    limit = stack.settings.max_input_pixels
    for rendition in stack.settings.renditions:
        out = written(stack, key, rendition, "SVG")
        assert out == imaging.render(data, rendition, max_pixels=limit).data, rendition.name


def test_an_svg_with_an_outside_reference_is_refused_unfetched(stack: LocalStack) -> None:
    from tests.functions.test_svg import drawing

    requests: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        body = f'<image href="http://127.0.0.1:{port}/tracker.png" width="9" height="9"/>'
        key = drive.upload(stack, drawing(body), fresh_key(stack, "tracker.svg"))
        drive.pump(stack)
        assert refusal(stack, key) == "unsafe_svg"
    finally:
        server.shutdown()
        server.server_close()
    assert requests == []
