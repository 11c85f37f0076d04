"""Animated GIF and WebP stay animated when the rendition says `animated: true`: every
frame resized, durations and loop count kept; frames x pixels is limited, and a deadline
bounds the work. Without `animated`, the first frame (as before)."""

from __future__ import annotations

import io
import json
import time

import pytest
from PIL import Image, ImageDraw, ImageSequence

from imagefn import imaging
from imagefn.errors import ImageRejected
from imagefn.renditions import Rendition, RenditionError

from . import images
from .conftest import Aws
from .events import RENDITIONS, FakeContext, upload_event

MAX = 40_000_000
COLOURS = [images.RED, images.GREEN, images.BLUE, images.YELLOW]
DURATIONS = [100, 250, 40, 600]


def moving_square(
    fmt: str, *, size: tuple[int, int] = (160, 120), loop: int | None = 0, alpha: bool = False
) -> bytes:
    """One frame per colour, a white square moving right; the frames' durations differ."""
    frames = []
    for index, colour in enumerate(COLOURS):
        frame = Image.new("RGBA", size, (*colour, 0 if alpha and index == 1 else 255))
        x = 10 + index * 30
        ImageDraw.Draw(frame).rectangle((x, 40, x + 29, 79), fill=(255, 255, 255, 255))
        frames.append(frame if fmt == "WEBP" or alpha else frame.convert("RGB"))
    options: dict[str, object] = {
        "save_all": True,
        "append_images": frames[1:],
        "duration": DURATIONS,
    }
    if loop is not None:
        options["loop"] = loop
    if fmt == "WEBP":
        options["lossless"] = True
    return images.encode(frames[0], fmt, **options)


def frames_of(data: bytes) -> tuple[Image.Image, list[Image.Image], list[int]]:
    image = Image.open(io.BytesIO(data))
    frames, durations = [], []
    for frame in ImageSequence.Iterator(image):
        frames.append(frame.convert("RGBA"))
        durations.append(frame.info["duration"])
    return image, frames, durations


@pytest.mark.parametrize(
    ("source_fmt", "out", "expected_fmt"),
    [
        ("GIF", "webp", "WEBP"),
        ("GIF", "original", "GIF"),
        ("WEBP", "webp", "WEBP"),
        ("WEBP", "original", "WEBP"),
    ],
)
def test_every_frame_is_resized_with_its_duration(
    source_fmt: str, out: str, expected_fmt: str
) -> None:
    data = moving_square(source_fmt)
    rendition = Rendition(name="a", width=80, height=60, format=out, animated=True)  # type: ignore[arg-type]
    result = imaging.render(data, rendition, max_pixels=MAX)
    assert (result.format, result.width, result.height) == (expected_fmt, 80, 60)
    image, frames, durations = frames_of(result.data)
    assert image.format == expected_fmt
    assert len(frames) == 4 and durations == DURATIONS
    for index, (frame, colour) in enumerate(zip(frames, COLOURS, strict=True)):
        assert frame.size == (80, 60)
        assert images.close(images.pixel(frame, (2, 2)), (*colour, 255)), index
        # The square (source x from 10 + 30i, 30 wide) is at half the size.
        assert images.close(images.pixel(frame, (5 + index * 15 + 7, 30)), (255, 255, 255, 255))
    assert image.info.get("loop") == 0


def test_cover_crops_every_frame_the_same_way() -> None:
    data = moving_square("GIF")
    rendition = Rendition(name="c", width=60, height=60, fit="cover", format="webp", animated=True)
    _, frames, _ = frames_of(imaging.render(data, rendition, max_pixels=MAX).data)
    assert [f.size for f in frames] == [(60, 60)] * 4
    # 160x120 -> 80x60, centre 60 columns: source x 20..140. Frame 2's square (70..99) is
    # at 25..40 in the crop.
    assert images.close(images.pixel(frames[2], (32, 30)), (255, 255, 255, 255))
    assert images.close(images.pixel(frames[2], (50, 30)), (*images.BLUE, 255))


def test_a_gif_that_plays_once_still_plays_once() -> None:
    data = moving_square("GIF", loop=None)
    assert "loop" not in Image.open(io.BytesIO(data)).info
    webp = Rendition(name="w", width=80, height=60, format="webp", animated=True)
    assert Image.open(io.BytesIO(imaging.render(data, webp, max_pixels=MAX).data)).info["loop"] == 1
    gif = Rendition(name="g", width=80, height=60, format="original", animated=True)
    assert "loop" not in Image.open(io.BytesIO(imaging.render(data, gif, max_pixels=MAX).data)).info
    looped = moving_square("GIF", loop=3)
    assert (
        Image.open(io.BytesIO(imaging.render(looped, webp, max_pixels=MAX).data)).info["loop"] == 3
    )


def test_transparency_of_a_frame_does_not_show_the_previous_one() -> None:
    data = moving_square("WEBP", alpha=True)
    for fmt in ("webp", "original"):
        rendition = Rendition(name="t", width=80, height=60, format=fmt, animated=True)  # type: ignore[arg-type]
        _, frames, _ = frames_of(imaging.render(data, rendition, max_pixels=MAX).data)
        assert images.pixel(frames[1], (2, 2))[3] == 0  # not frame 0's red
        assert images.pixel(frames[2], (2, 2))[3] == 255


def test_without_animated_the_first_frame_only_as_before() -> None:
    data = moving_square("GIF")
    still = Rendition(name="s", width=80, height=60, format="webp")
    result = imaging.render(data, still, max_pixels=MAX)
    image, frames, _ = frames_of(result.data)
    assert len(frames) == 1 and not getattr(image, "is_animated", False)
    assert images.close(images.pixel(frames[0], (2, 2)), (*images.RED, 255))


def test_a_still_source_gives_a_still_image_for_an_animated_rendition() -> None:
    rendition = Rendition(name="a", width=80, height=60, format="original", animated=True)
    for fmt in ("GIF", "WEBP", "JPEG"):
        data = images.encode(images.photo((160, 120)), fmt)
        result = imaging.render(data, rendition, max_pixels=MAX)
        assert result == imaging.render(
            data, Rendition(name="a", width=80, height=60, format="original"), max_pixels=MAX
        ), fmt


def test_animated_output_is_deterministic() -> None:
    data = moving_square("GIF")
    rendition = Rendition(name="a", width=80, height=60, format="webp", animated=True)
    assert imaging.render(data, rendition, max_pixels=MAX) == imaging.render(
        data, rendition, max_pixels=MAX
    )


def test_an_animation_bomb_is_too_many_pixels_before_any_frame_is_decoded() -> None:
    """2000 frames of 160x120 is 38 Mpx of frames in a 0.5 MB file: refused by frames x
    pixels from the headers. Still renditions of it take the first frame, as before."""
    frames = [Image.new("L", (160, 120), (i % 2) * 255) for i in range(2000)]
    data = images.encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=20)
    assert len(data) < 1_000_000
    rendition = Rendition(name="a", width=80, height=60, format="webp", animated=True)
    with pytest.raises(ImageRejected) as caught:
        imaging.render(data, rendition, max_pixels=MAX, max_animation_pixels=10_000_000)
    assert caught.value.reason == "too_many_pixels"
    assert "2,000 frames" in caught.value.message
    still = Rendition(name="s", width=80, height=60, format="webp")
    assert imaging.render(data, still, max_pixels=MAX, max_animation_pixels=10_000_000).width == 80


def test_the_limit_counts_the_output_size_when_it_is_larger() -> None:
    data = moving_square("GIF")  # 4 frames of 160x120 = 76,800 pixels
    fill = Rendition(name="f", width=400, height=400, fit="fill", format="webp", animated=True)
    with pytest.raises(ImageRejected, match="4 frames of 160,000 pixels"):
        imaging.render(data, fill, max_pixels=MAX, max_animation_pixels=600_000)
    assert imaging.render(data, fill, max_pixels=MAX, max_animation_pixels=640_000).width == 400


def test_a_deadline_already_past_refuses_the_animation_with_a_reason() -> None:
    data = moving_square("GIF")
    rendition = Rendition(name="a", width=80, height=60, format="webp", animated=True)
    with pytest.raises(ImageRejected) as caught:
        imaging.render(data, rendition, max_pixels=MAX, deadline=time.monotonic() - 1)
    assert caught.value.reason == "too_many_pixels"
    assert "could not be rendered in the time" in caught.value.message


def test_truncated_animations_are_corrupt() -> None:
    data = moving_square("GIF")
    rendition = Rendition(name="a", width=80, height=60, format="webp", animated=True)
    with pytest.raises(ImageRejected) as caught:
        imaging.render(data[: len(data) * 3 // 4], rendition, max_pixels=MAX)
    assert caught.value.reason == "corrupt"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"animated": "yes"}, "animated must be true or false"),
        ({"animated": True, "format": "jpeg"}, "animated rendition needs format webp or original"),
        ({"animated": True, "format": "avif"}, "animated rendition needs format"),
    ],
)
def test_the_animated_field_is_validated(spec: dict[str, object], message: str) -> None:
    with pytest.raises(RenditionError, match=message):
        Rendition.from_dict({"name": "x", "width": 10, "height": 10, **spec})


def test_animated_is_left_out_of_the_spec_when_false() -> None:
    """RENDITIONS counts against Lambda's 4 KB environment: a default costs nothing."""
    assert "animated" not in Rendition(name="x", width=1, height=1).to_dict()
    spec = Rendition(name="x", width=1, height=1, animated=True).to_dict()
    assert spec["animated"] is True
    assert Rendition.from_dict(spec).animated is True


ANIMATED = Rendition(name="anim", width=80, height=60, format="webp", animated=True)


@pytest.fixture
def aws_env(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The handlers' environment with one more rendition, an animated one."""
    aws_env["RENDITIONS"] = json.dumps([r.to_dict() for r in (*RENDITIONS, ANIMATED)])
    monkeypatch.setenv("RENDITIONS", aws_env["RENDITIONS"])
    return aws_env


def test_the_resize_handler_makes_an_animated_rendition(aws: Aws) -> None:
    key = "uploads/party.gif"
    data = moving_square("GIF")
    aws.put(key, data, "image/gif")
    planned = aws.inspect.handler(upload_event(key), FakeContext())
    [spec] = [r for r in planned["renditions"] if r["name"] == "anim"]
    assert spec["animated"] is True and spec["key"] == "anim/party.webp"
    result = aws.resize.handler({"source": planned["source"], "rendition": spec}, FakeContext())
    written = aws.get(spec["key"])
    # The handler's deadline is far off: the bytes are the core's, as imagepipe render's.
    assert written == imaging.render(data, ANIMATED, max_pixels=20_000_000).data
    assert (result["width"], result["height"], result["format"]) == (80, 60, "WEBP")
    with Image.open(io.BytesIO(written)) as image:
        assert image.n_frames == 4


class _Context(FakeContext):
    def get_remaining_time_in_millis(self) -> int:
        return 0


def test_the_handler_refuses_an_animation_it_has_no_time_left_for(aws: Aws) -> None:
    """Lambda's context says no time is left: the deadline is now, and the upload is
    refused with a reason instead of the function running into its timeout."""
    key = "uploads/late.gif"
    aws.put(key, moving_square("GIF"), "image/gif")
    planned = aws.inspect.handler(upload_event(key), FakeContext())
    [spec] = [r for r in planned["renditions"] if r["name"] == "anim"]
    with pytest.raises(ImageRejected) as caught:
        aws.resize.handler({"source": planned["source"], "rendition": spec}, _Context())
    assert caught.value.reason == "too_many_pixels"
    assert aws.resize.deadline_for(FakeContext()) is None
