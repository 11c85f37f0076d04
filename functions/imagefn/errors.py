"""Why an upload is refused: one exception with a machine-readable reason code.

The Lambda runtime reports an uncaught exception as errorType (the class name,
"ImageRejected") and errorMessage (``str(exc)``). The state machine reads the reason
code as the text before the first ':' of errorMessage, so ``str(exc)`` is exactly
``"<reason>: <message>"`` and reason codes never contain ':'.
"""

from __future__ import annotations

from typing import Final, Literal

Reason = Literal[
    "empty",
    "not_an_image",
    "unsupported_format",
    "corrupt",
    "too_many_bytes",
    "too_many_pixels",
    "bad_event",
    "unsafe_svg",
    "unsupported_suffix",
]

EMPTY: Final = "empty"
"""The object has zero bytes."""
NOT_AN_IMAGE: Final = "not_an_image"
"""The bytes are not an image (text, HTML, PDF, ZIP, video, ...)."""
UNSUPPORTED_FORMAT: Final = "unsupported_format"
"""A real raster image format that the pipeline does not accept (ICO, PSD, TIFF, BMP, ...)."""
CORRUPT: Final = "corrupt"
"""An accepted format whose header or data cannot be decoded (truncated, damaged)."""
TOO_MANY_BYTES: Final = "too_many_bytes"
"""Larger than the configured maximum input size; never downloaded."""
TOO_MANY_PIXELS: Final = "too_many_pixels"
"""The header declares more pixels than the configured maximum; never decoded."""
BAD_EVENT: Final = "bad_event"
"""The invocation is not exactly one S3 ObjectCreated record."""
UNSAFE_SVG: Final = "unsafe_svg"
"""An SVG that refers outside itself, declares entities, or expands past the limits."""
UNSUPPORTED_SUFFIX: Final = "unsupported_suffix"
"""An image we could process, under a name whose suffix is not in allowedSuffixes
(`photo.jpg.txt`). Decided after the bytes: a `.tif` is unsupported_format, a text file
named `.txt` not_an_image, whatever their suffix."""

REASONS: Final[frozenset[str]] = frozenset(
    {
        EMPTY,
        NOT_AN_IMAGE,
        UNSUPPORTED_FORMAT,
        CORRUPT,
        TOO_MANY_BYTES,
        TOO_MANY_PIXELS,
        BAD_EVENT,
        UNSAFE_SVG,
        UNSUPPORTED_SUFFIX,
    }
)


def rejection_message(reason: str, text: str) -> str:
    """The errorMessage of a rejection: what the state machine and the CLI read back."""
    return f"{reason}: {text}"


def reason_of(message: str) -> str | None:
    """The reason code a rejection's errorMessage starts with (None if it has none):
    the inverse of `rejection_message`, used wherever a message is read back."""
    code = message.split(":", 1)[0].strip()
    return code if code in REASONS else None


class ImageRejected(Exception):  # noqa: N818 - the name is the errorType the state machine catches
    """The input cannot be processed, for a reason retrying will not change.

    ``reason`` is one of REASONS; ``message`` says what was wrong for a person.
    """

    def __init__(self, reason: Reason, message: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown rejection reason {reason!r}; known: {sorted(REASONS)}")
        self.reason: Reason = reason
        self.message = message
        super().__init__(reason, message)

    def __str__(self) -> str:
        return rejection_message(self.reason, self.message)

    def __repr__(self) -> str:
        return f"ImageRejected({self.reason!r}, {self.message!r})"
