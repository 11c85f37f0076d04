"""The rendition spec: what one output image should look like.

Shared by the Pulumi program (which validates stack config into these) and by the
Lambdas (which receive them as JSON), so the rules live in one place.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal, cast, get_args

Fit = Literal["contain", "cover", "fill"]
OutputFormat = Literal["jpeg", "png", "webp", "avif", "original"]
Gravity = Literal["center", "entropy", "attention"]
Position = Literal[
    "top-left", "top", "top-right", "left", "center", "right",
    "bottom-left", "bottom", "bottom-right",
]  # fmt: skip

FITS: Final[tuple[str, ...]] = get_args(Fit)
OUTPUT_FORMATS: Final[tuple[str, ...]] = get_args(OutputFormat)
GRAVITIES: Final[tuple[str, ...]] = get_args(Gravity)
POSITIONS: Final[tuple[str, ...]] = get_args(Position)
MAX_SIDE: Final = 10_000
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_FIELDS: Final = ("name", "width", "height", "fit", "format", "quality", "animated", "gravity",
                   "watermark")  # fmt: skip
ANIMATED_FORMATS: Final = ("webp", "original")
"""Formats an animated rendition may have: animated WebP, or the source's own (an animated
GIF stays a GIF, an animated WebP a WebP)."""


class RenditionError(ValueError):
    """A rendition spec is invalid; the message names the field."""


_WATERMARK_FIELDS: Final = {"position": "position", "margin": "margin", "opacity": "opacity",
                            "scale": "scale", "minWidth": "min_width"}  # fmt: skip


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Watermark:
    """The project's watermark (imagefn/watermark.png) on a rendition.

    position: where (a corner, an edge's middle, or center); margin: pixels from the
    edges; opacity: 0-1, multiplies the PNG's own alpha; scale: the mark's width as a
    share of the rendition's width; min_width: renditions narrower than this get none.
    A mark that would not fit inside the margins is scaled down to fit.
    """

    position: Position = "bottom-right"
    margin: int = 16
    opacity: float = 0.5
    scale: float = 0.25
    min_width: int = 200

    def check(self, name: str) -> None:
        """Raise RenditionError naming the field (``name``: the rendition's)."""
        where = f"{name}: watermark"
        if self.position not in POSITIONS:
            raise RenditionError(f"{where}.position must be one of {', '.join(POSITIONS)}, "
                                 f"got {self.position!r}")  # fmt: skip
        for field, value, high in (("margin", self.margin, 1000),
                                   ("minWidth", self.min_width, MAX_SIDE)):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
                raise RenditionError(
                    f"{where}.{field} must be a whole number from 0 to {high}, got {value!r}"
                )
        for field, number in (("opacity", self.opacity), ("scale", self.scale)):
            if not _number(number) or not 0 < number <= 1:
                raise RenditionError(
                    f"{where}.{field} must be a number above 0 and at most 1, got {number!r}"
                )

    @classmethod
    def from_dict(cls, data: Any, name: str) -> Watermark:
        if isinstance(data, Watermark):
            data.check(name)
            return data
        if not isinstance(data, dict):
            raise RenditionError(
                f"{name}: watermark must be a mapping (of {', '.join(_WATERMARK_FIELDS)}), "
                f"got {data!r}"
            )
        unknown = sorted(set(data) - set(_WATERMARK_FIELDS))
        if unknown:
            raise RenditionError(f"{name}: watermark: unknown field(s) {', '.join(unknown)}; "
                                 f"allowed: {', '.join(_WATERMARK_FIELDS)}")  # fmt: skip
        mark = cls(**{_WATERMARK_FIELDS[k]: v for k, v in data.items()})
        mark.check(name)
        return mark

    def to_dict(self) -> dict[str, Any]:
        return {key: getattr(self, attr) for key, attr in _WATERMARK_FIELDS.items()}


@dataclass(frozen=True)
class Rendition:
    """One output of the pipeline.

    fit:
      contain  scale to fit inside width x height, keep the aspect ratio, never upscale
      cover    scale to cover width x height and centre-crop to exactly that size
      fill     scale to fit inside width x height, then pad to exactly that size
    format "original" keeps the source's format where browsers can show it
    (JPEG, PNG, WebP, AVIF, GIF) and writes PNG otherwise.
    animated: an animated GIF or WebP source keeps every frame (false: the first frame
    only); a still source gives a still image either way.
    gravity (cover only): where the crop is: center, entropy (the most detail) or
    attention (the most salient subject: skin, saturated colour, edges).
    watermark: None, or where and how the project's watermark goes (a mapping in config).
    """

    name: str
    width: int
    height: int
    fit: Fit = "contain"
    format: OutputFormat = "webp"
    quality: int = 82
    animated: bool = False
    gravity: Gravity = "center"
    watermark: Watermark | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise RenditionError(
                f"name {self.name!r} must be 1-63 characters of a-z, 0-9, '-' or '_' "
                "(it becomes the output folder)"
            )
        for side in ("width", "height"):
            value = getattr(self, side)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SIDE:
                raise RenditionError(
                    f"{self.name}: {side} must be a whole number from 1 to {MAX_SIDE}, "
                    f"got {value!r}"
                )
        if self.fit not in FITS:
            raise RenditionError(
                f"{self.name}: fit must be one of {', '.join(FITS)}, got {self.fit!r}"
            )
        if self.format not in OUTPUT_FORMATS:
            raise RenditionError(
                f"{self.name}: format must be one of {', '.join(OUTPUT_FORMATS)}, "
                f"got {self.format!r}"
            )
        q = self.quality
        if isinstance(q, bool) or not isinstance(q, int) or not 1 <= q <= 100:
            raise RenditionError(
                f"{self.name}: quality must be a whole number from 1 to 100, got {q!r}"
            )
        if not isinstance(self.animated, bool):
            raise RenditionError(
                f"{self.name}: animated must be true or false, got {self.animated!r}"
            )
        if self.animated and self.format not in ANIMATED_FORMATS:
            raise RenditionError(
                f"{self.name}: an animated rendition needs format "
                f"{' or '.join(ANIMATED_FORMATS)} (animated WebP, or GIF/WebP as uploaded), "
                f"got {self.format!r}"
            )

        self._check_gravity()
        if self.watermark is not None:
            object.__setattr__(self, "watermark", Watermark.from_dict(self.watermark, self.name))

    def _check_gravity(self) -> None:
        if self.gravity not in GRAVITIES:
            raise RenditionError(
                f"{self.name}: gravity must be one of {', '.join(GRAVITIES)}, got {self.gravity!r}"
            )
        if self.gravity != "center" and self.fit != "cover":
            raise RenditionError(
                f"{self.name}: gravity {self.gravity} needs fit cover (only cover crops), "
                f"got fit {self.fit}"
            )

    @classmethod
    def from_dict(cls, data: Any) -> Rendition:
        """Build from a JSON-like mapping; unknown or missing fields are errors naming the field."""
        if not isinstance(data, dict):
            raise RenditionError(f"each rendition must be a mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise RenditionError(
                f"{data.get('name', '?')}: unknown field(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(_FIELDS)}"
            )
        for required in ("name", "width", "height"):
            if required not in data:
                raise RenditionError(f"{data.get('name', '?')}: missing field {required!r}")
        return cls(**cast(dict[str, Any], data))

    def to_dict(self) -> dict[str, Any]:
        """Every field, except optional ones at their default: the RENDITIONS variable
        counts against Lambda's 4 KB environment limit."""
        data = asdict(self)
        if not self.animated:
            del data["animated"]
        if self.gravity == "center":
            del data["gravity"]
        if self.watermark is None:
            del data["watermark"]
        else:
            data["watermark"] = self.watermark.to_dict()
        return data


def parse_renditions(items: Any) -> tuple[Rendition, ...]:
    """Validate a list of rendition mappings: at least one, names unique."""
    if not isinstance(items, list | tuple) or not items:
        raise RenditionError("must be a non-empty list of renditions")
    renditions = tuple(Rendition.from_dict(item) for item in items)
    names = [r.name for r in renditions]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RenditionError(f"rendition names must be unique; repeated: {', '.join(duplicates)}")
    return renditions
