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
    )


def resize_environment(settings: Settings, destination_bucket: Any) -> dict[str, Any]:
    return function_environment(
        settings,
        DESTINATION_BUCKET=destination_bucket,
        # Resize applies Inspect's pixel limit, or it could reject what Inspect accepted.
        MAX_INPUT_PIXELS=str(settings.max_input_pixels),
    )


def environments(settings: Settings, destination_bucket: Any) -> dict[str, dict[str, Any]]:
    """Each function's variables, by function kind."""
    return {
        "inspect": inspect_environment(settings, destination_bucket),
        "resize": resize_environment(settings, destination_bucket),
    }


def size_bytes(variables: Mapping[str, str]) -> int:
    """The size Lambda holds against its 4 KB limit."""
    return len(json.dumps(dict(variables), separators=(",", ":"), ensure_ascii=False).encode())
