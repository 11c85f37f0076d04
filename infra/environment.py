"""The Lambda functions' environment variables, built in one place for the program and
for the settings check of their size.

Lambda refuses a function whose variables, all together, take more than 4 KB, measured
as the compact JSON of the map (its error quotes the "String measured"), so the quotes
inside RENDITIONS count twice. https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
Pure: no Pulumi, so settings can build the same map before any resource exists.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from infra.settings import Settings

SERVICE: Final = "imagepipe"
LIMIT_BYTES: Final = 4 * 1024
# Renditions keep their URL when the original is overwritten, and the state machine
# invalidates the CDN's copies then (README, design notes): the CDN may keep them a year
# (s-maxage), a browser re-checks after a day (max-age) as no invalidation reaches it.
RENDITION_CACHE_CONTROL: Final = "public, max-age=86400, s-maxage=31536000"
MANIFEST_CACHE_CONTROL: Final = "public, max-age=60, s-maxage=31536000"
# The longest base URL of the distribution's own domain ("https://d111111abcdef8.cloudfront.net").
CLOUDFRONT_BASE_URL_BOUND: Final = "https://" + "d" * 14 + ".cloudfront.net"


def function_environment(settings: Settings, **extra: Any) -> dict[str, Any]:
    """Environment shared by both functions; Powertools reads the POWERTOOLS_* keys."""
    return {
        "POWERTOOLS_SERVICE_NAME": SERVICE,
        "POWERTOOLS_METRICS_NAMESPACE": "ImagePipeline",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "UPLOAD_PREFIX": settings.upload_prefix,
        **extra,
    }


def inspect_environment(settings: Settings, destination_bucket: Any) -> dict[str, Any]:
    return function_environment(
        settings,
        DESTINATION_BUCKET=destination_bucket,
        ALLOWED_SUFFIXES=",".join(settings.allowed_suffixes),
        RENDITIONS=json.dumps([r.to_dict() for r in settings.renditions], separators=(",", ":")),
        MAX_INPUT_BYTES=str(settings.max_input_bytes),
        MAX_INPUT_PIXELS=str(settings.max_input_pixels),
        # A removal tells which derivatives a distribution served (to invalidate them).
        INVALIDATE="true" if settings.cdn else "false",
    )


def resize_environment(
    settings: Settings, destination_bucket: Any, base_url: Any = ""
) -> dict[str, Any]:
    return function_environment(
        settings,
        DESTINATION_BUCKET=destination_bucket,
        # Resize applies Inspect's pixel limit, or it could reject what Inspect accepted.
        MAX_INPUT_PIXELS=str(settings.max_input_pixels),
        # Each rendition's public URL is <base>/<percent-encoded key>.
        RENDITIONS_BASE_URL=base_url,
        CACHE_CONTROL=RENDITION_CACHE_CONTROL,
    )


def manifest_environment(
    settings: Settings, destination_bucket: Any, base_url: Any = ""
) -> dict[str, Any]:
    return function_environment(
        settings,
        DESTINATION_BUCKET=destination_bucket,
        RENDITIONS_BASE_URL=base_url,
        MANIFEST_CACHE_CONTROL=MANIFEST_CACHE_CONTROL,
        # What a manifest may keep of a previous one when only some renditions were made.
        RENDITION_NAMES=",".join(r.name for r in settings.renditions),
        # Only a distribution has anything to invalidate.
        INVALIDATE="true" if settings.cdn else "false",
    )


def upload_environment(settings: Settings, source_bucket: Any) -> dict[str, Any]:
    """The upload API's function: where and what an app may upload (imagefn.upload)."""
    return function_environment(
        settings,
        SOURCE_BUCKET=source_bucket,
        ALLOWED_SUFFIXES=",".join(settings.allowed_suffixes),
        MAX_INPUT_BYTES=str(settings.max_input_bytes),
        UPLOAD_URL_EXPIRY_SECONDS=str(settings.upload_url_expiry_seconds),
    )


def base_url_bound(settings: Settings) -> str:
    """The longest base URL the stack can give renditions, before any resource exists."""
    return max(
        [settings.renditions_base_url, CLOUDFRONT_BASE_URL_BOUND]
        + [f"https://{a}" for a in settings.cdn_aliases],
        key=len,
    )


def environments(
    settings: Settings, destination_bucket: Any, base_url: Any = ""
) -> dict[str, dict[str, Any]]:
    """Each function's variables, by function kind."""
    return {
        "inspect": inspect_environment(settings, destination_bucket),
        "resize": resize_environment(settings, destination_bucket, base_url),
        "manifest": manifest_environment(settings, destination_bucket, base_url),
    }


def size_bytes(variables: Mapping[str, str]) -> int:
    """The size Lambda holds against its 4 KB limit."""
    return len(json.dumps(dict(variables), separators=(",", ":"), ensure_ascii=False).encode())
