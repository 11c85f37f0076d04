"""Which keys belong to an original, and what a backfill does with a listed key: pure
rules shared by Inspect's modes and the `imagepipe backfill` CLI (no AWS calls here)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from .imaging import ORIGINAL_KEPT, output_format, plan_rendition, rendition_key
from .manifest import manifest_key
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


# --------------------------------------------------------------------------------------
# What a backfill does with one listed object. Inspect (the Lambda) and `imagepipe
# backfill --dry-run` (the CLI) both call these, so the dry run plans what the run does.

Skip = Literal["prefix", "suffix", "rejected"]
"""Why a listed key is not processed: it is not under the upload prefix, its suffix is
not one the upload notification lets through, or its current version is recorded in the
catalogue as rejected (`rejected_before`)."""


def rejected_before(status: str | None, recorded_etag: str | None, etag: str) -> bool:
    """Whether the catalogue's record of a key (its `status` and `etag`) says the object's
    current version (`etag`) was already rejected: a backfill skips it rather than read
    it again. A record of another version, or of anything but a rejection, does not count.
    ETags compare without the quotes S3 puts around them in listings and HEADs."""
    return (
        status == "rejected"
        and bool(recorded_etag)
        and str(recorded_etag).strip('"') == etag.strip('"')
    )


def unrecorded(status: str | None, recorded_etag: str | None, etag: str) -> bool:
    """Whether a backfill should record the object's current version (`etag`) even when
    it has nothing to make (onlyMissing, every rendition and the manifest of this version
    there): the catalogue has no record of the key (an original older than the catalogue,
    or whose record was lost), or one of this version that is `processing` (an execution
    that never finished) or `failed`. A record of another version is another upload's,
    and a deletion the removal workflow's (the backfill's write would be refused)."""
    if status is None:
        return True
    same = bool(recorded_etag) and str(recorded_etag).strip('"') == etag.strip('"')
    return same and status in ("processing", "failed")


def suffix_variants(allowed_suffixes: Iterable[str]) -> list[str]:
    """Each allowed suffix as the upload notification matches it: S3's suffix filters are
    case-sensitive, so the pipeline filters on the lower- and the upper-case spelling
    ('.jpg' and '.JPG'; not '.Jpg')."""
    variants: list[str] = []
    for suffix in allowed_suffixes:
        for variant in (suffix.lower(), suffix.upper()):
            if variant not in variants:
                variants.append(variant)
    return variants


def suffix_allowed(key: str, allowed_suffixes: Sequence[str]) -> bool:
    """Whether `key` ends in an allowed suffix (either spelling); an empty list allows all.
    Inspect refuses an upload whose suffix is not allowed (unsupported_suffix), after its
    bytes: the bucket notification filters on the prefix only."""
    return not allowed_suffixes or key.endswith(tuple(suffix_variants(allowed_suffixes)))


def skip_reason(key: str, *, upload_prefix: str, allowed_suffixes: Sequence[str]) -> Skip | None:
    """Why a backfill leaves `key` alone, or None when it processes it: exactly the keys an
    upload notification would have started an execution for are processed. An empty
    prefix or suffix list filters nothing."""
    if upload_prefix and not key.startswith(upload_prefix):
        return "prefix"
    if not suffix_allowed(key, allowed_suffixes):
        return "suffix"
    return None


def renditions_to_make(
    renditions: Iterable[Rendition],
    *,
    source_format: str,
    stem: str,
    etag: str,
    made_from: Callable[[str], str | None] | None = None,
) -> list[dict[str, Any]]:
    """The renditions this version of an original still needs, as Resize receives them.

    Every rendition, unless `made_from` is given (a backfill with onlyMissing): then only
    those whose key it does not report as written from `etag`. `made_from(key)` is the
    `source-etag` metadata Resize stored on that rendition (or the manifest function on the
    manifest), None if it does not exist; reading it is the caller's (S3) business, so
    this stays pure. An image is complete only with the manifest of this version: without
    it, every rendition is planned, since the manifest is written from what they return.
    """
    if made_from is not None and made_from(manifest_key(stem)) != etag:
        made_from = None
    planned: list[dict[str, Any]] = []
    for rendition in renditions:
        plan = plan_rendition(rendition, source_format=source_format, stem=stem)
        # Resize deletes these after writing, so an overwrite that changes the source's
        # format leaves no rendition of the old version behind.
        plan["staleKeys"] = stale_keys(rendition, stem, plan["key"])
        if made_from is not None and made_from(plan["key"]) == etag:
            continue
        planned.append(plan)
    return planned
