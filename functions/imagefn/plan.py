"""Which keys belong to an original: pure naming rules shared by inspect's modes."""

from __future__ import annotations

from collections.abc import Iterable

from .imaging import ORIGINAL_KEPT, output_format, rendition_key
from .renditions import Rendition


def derivative_keys(renditions: Iterable[Rendition], stem: str) -> list[str]:
    """Every key a rendition of `stem` may have been written to.

    For format "original" the extension depends on the source's format, which is gone
    once the original is deleted, so every extension "original" can produce is listed;
    deleting a key that does not exist is harmless.
    """
    keys: list[str] = []
    for rendition in renditions:
        # Sorted: frozenset order changes between processes, keys must not.
        sources = sorted(ORIGINAL_KEPT | {"PNG"}) if rendition.format == "original" else ["JPEG"]
        for source_format in sources:
            key = rendition_key(
                rendition.name, stem, output_format(rendition.format, source_format)
            )
            if key not in keys:
                keys.append(key)
    return keys


def stale_keys(rendition: Rendition, stem: str, current_key: str) -> list[str]:
    """Keys this rendition of `stem` may hold from an earlier version of the original
    that the current one no longer writes (only format "original" has any: an overwrite
    that changes the source's format changes the rendition's extension)."""
    return [k for k in derivative_keys([rendition], stem) if k != current_key]
