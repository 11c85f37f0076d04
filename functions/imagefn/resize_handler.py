"""Resize Lambda: one iteration of the state machine's Map, one rendition.

Input: ``{"source": <inspect's source>, "rendition": <one of inspect's renditions>}``.
It downloads the source once (pinned with IfMatch to the ETag that was inspected),
renders with imaging.render (the same function ``imagepipe render`` uses), writes
the result to DESTINATION_BUCKET at the rendition's key, and deletes the rendition's
``staleKeys`` (what an earlier version in another format left, for format "original"). Returns::

    {"name", "key", "url", "width", "height", "bytes", "format", "contentType"}

``url`` is RENDITIONS_BASE_URL and the percent-encoded key (root-relative without one).

The same input always writes the same bytes to the same key, so a duplicate event is
harmless. Bytes that do not decode raise ImageRejected; S3 errors propagate (Step
Functions retries them).

Environment (read once, at import): DESTINATION_BUCKET (required), MAX_INPUT_PIXELS
(the same limit as inspect's; default 40,000,000), RENDITIONS_BASE_URL (where the CDN
serves the renditions bucket), CACHE_CONTROL (default
"public, max-age=86400": renditions are overwritten when the source is re-uploaded, so
they are not immutable), and Powertools' POWERTOOLS_* variables.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Mapping
from typing import Any, Final

import botocore.session  # type: ignore[import-untyped, unused-ignore]
from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]

from .env import env_int, required
from .errors import ImageRejected
from .imaging import render
from .manifest import url_for
from .provenance import metadata
from .renditions import Rendition
from .transient import transient_aws_errors

DESTINATION_BUCKET: Final = required("DESTINATION_BUCKET")
MAX_INPUT_PIXELS: Final = env_int("MAX_INPUT_PIXELS", 40_000_000)
CACHE_CONTROL: Final = os.environ.get("CACHE_CONTROL", "public, max-age=86400")
RENDITIONS_BASE_URL: Final = os.environ.get("RENDITIONS_BASE_URL", "")
METRICS_NAMESPACE: Final = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "ImagePipeline")

logger: Final = Logger()
# A botocore client, not boto3's: the same client API for what is called here, without
# importing boto3 and s3transfer at cold start (about 30 ms here: benchmarks/results.md).
s3: Final = botocore.session.get_session().create_client(
    "s3", config=Config(retries={"mode": "standard", "max_attempts": 3})
)

_RENDITION_FIELDS: Final = tuple(f.name for f in dataclasses.fields(Rendition))


def _parse(event: Any) -> tuple[Mapping[str, Any], Mapping[str, Any], Rendition]:
    """Source, planned rendition and its spec. A malformed input is a bug upstream, not a
    bad upload, so it raises ValueError (a processing failure), not ImageRejected."""
    if not isinstance(event, Mapping):
        raise ValueError("resize input must be {'source': {...}, 'rendition': {...}}")
    source, planned = event.get("source"), event.get("rendition")
    if not isinstance(source, Mapping) or not isinstance(planned, Mapping):
        raise ValueError("resize input must be {'source': {...}, 'rendition': {...}}")
    for name, part, keys in (
        ("source", source, ("bucket", "key", "etag")),
        ("rendition", planned, ("key", "contentType")),
    ):
        missing = [k for k in keys if not isinstance(part.get(k), str) or not part.get(k)]
        if missing:
            raise ValueError(f"resize input: {name} lacks {', '.join(missing)}")
    spec = Rendition.from_dict({k: planned[k] for k in _RENDITION_FIELDS if k in planned})
    return source, planned, spec


ANIMATION_SHARE: Final = 0.5
"""Of the time the invocation has left, the share an animation's frames may take; the
rest is for encoding them all (about as long) and the upload. Past it the upload is
refused with a reason instead of the function timing out and being retried."""


def deadline_for(context: Any) -> float | None:
    """time.monotonic() by which an animation's frames must be done, from Lambda's context."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    return time.monotonic() + float(remaining()) / 1000 * ANIMATION_SHARE


def resize(event: Any, deadline: float | None = None) -> dict[str, Any]:
    """The work of the handler, without the logging around it."""
    source, planned, rendition = _parse(event)
    response = s3.get_object(
        Bucket=source["bucket"], Key=source["key"], IfMatch=f'"{source["etag"]}"'
    )
    body = response["Body"]
    try:
        data: bytes = body.read()
    finally:
        body.close()
    out = render(data, rendition, max_pixels=MAX_INPUT_PIXELS, deadline=deadline)
    if out.content_type != planned["contentType"]:
        # The plan and the render derive the format from the same bytes; a mismatch is a
        # bug, and writing e.g. PNG bytes under a .webp key would hide it.
        raise ValueError(
            f"rendered {out.content_type} but the plan says {planned['contentType']} "
            f"for {planned['key']}"
        )
    s3.put_object(
        Bucket=DESTINATION_BUCKET,
        Key=planned["key"],
        Body=out.data,
        ContentType=out.content_type,
        CacheControl=CACHE_CONTROL,
        Metadata=metadata(source["etag"]),
    )
    stale = [k for k in planned.get("staleKeys") or [] if isinstance(k, str) and k]
    if stale:
        # Renditions of an earlier version in another format: written over, in effect.
        s3.delete_objects(
            Bucket=DESTINATION_BUCKET,
            Delete={"Objects": [{"Key": k} for k in stale], "Quiet": True},
        )
    return {
        "name": rendition.name,
        "key": planned["key"],
        "url": url_for(RENDITIONS_BASE_URL, planned["key"]),
        "width": out.width,
        "height": out.height,
        "bytes": len(out.data),
        "format": out.format,
        "contentType": out.content_type,
    }


def handler(event: Any, context: Any) -> dict[str, Any]:
    logger.thread_safe_clear_keys()  # per thread: the local stack runs handlers in threads
    logger.thread_safe_append_keys(request_id=getattr(context, "aws_request_id", None))
    if isinstance(event, Mapping) and isinstance(event.get("rendition"), Mapping):
        logger.thread_safe_append_keys(rendition=event["rendition"].get("name"))
    if isinstance(event, Mapping) and isinstance(event.get("source"), Mapping):
        logger.thread_safe_append_keys(key=event["source"].get("key"))
    started = time.perf_counter()
    try:
        with transient_aws_errors():
            result = resize(event, deadline_for(context))
    except ImageRejected as exc:
        logger.warning("source rejected", extra={"reason": exc.reason, "detail": exc.message})
        raise
    elapsed_ms = (time.perf_counter() - started) * 1000
    logger.info("rendition written", extra={"output": result, "ms": round(elapsed_ms)})
    with single_metric(
        name="RenditionMilliseconds",
        unit=MetricUnit.Milliseconds,
        value=elapsed_ms,
        namespace=METRICS_NAMESPACE,
    ) as metric:
        metric.add_dimension(name="rendition", value=result["name"])
    return result
