"""Draw the watermark the Resize function overlays: functions/imagefn/watermark.png.

Run once (``.venv/bin/python functions/make_watermark.py``) and commit the PNG: the
function ships the file, not this script, so a font or Pillow upgrade never changes a
deployed watermark by surprise, and a change to the PNG changes the function archive's
hash (infra/packaging.py), which redeploys the function.

The mark: "imagepipe" in white on a dark rounded plate, both partly transparent with
soft (anti-aliased) edges, so that placement and alpha blending are visible in tests.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

SIZE = (480, 120)
TEXT = "imagepipe"
OUT = Path(__file__).resolve().parent / "imagefn" / "watermark.png"


def draw() -> Image.Image:
    mark = Image.new("RGBA", SIZE, (0, 0, 0, 0))
    plate = ImageDraw.Draw(mark)
    plate.rounded_rectangle((0, 0, SIZE[0] - 1, SIZE[1] - 1), radius=28, fill=(20, 24, 32, 150))
    font = ImageFont.load_default(size=72)
    text = Image.new("RGBA", SIZE, (0, 0, 0, 0))
    ImageDraw.Draw(text).text(
        (SIZE[0] // 2, SIZE[1] // 2), TEXT, font=font, fill=(255, 255, 255, 235), anchor="mm"
    )
    return Image.alpha_composite(mark, text)


def main() -> None:
    draw().save(OUT, "PNG", optimize=True)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
