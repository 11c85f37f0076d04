"""Manifest Lambda: after the renditions Map, write the image's manifest next to its
renditions and say what the CDN may hold stale.

Input (from Step Functions): ``{"source": <inspect's source>, "renditions": [<Resize
output>, ...]}``. It reads the previous manifest of the same original (if any), makes the
placeholder from the smallest rendition, writes ``manifests/<key stem>.json`` (served by
the CDN like the renditions) and returns::

    {"key", "url", "placeholder": {...},
     "invalidation": {"paths": ["/thumb/cat.webp", ...], "quantity": n} | None,
     "renditions": [<every rendition the manifest names, in Resize's shape>, ...]}

``invalidation`` is set only when a CDN serves the renditions (INVALIDATE=true) and an
earlier version of this original had renditions there (its manifest existed, from
another ETag): exactly the keys either version wrote, plus the manifest.

A previous manifest of the same version (a backfill with onlyMissing, which makes only
the missing renditions) lends the manifest the configured renditions not made again;
``renditions`` lists them all, for the backfill's catalogue record. A backfill that made
none (the image is complete, only its record is missing) gets the manifest of that
version back, rewritten, with its renditions listed.

Environment (read once, at import): DESTINATION_BUCKET, RENDITIONS_BASE_URL (required),
UPLOAD_PREFIX, INVALIDATE ("true" with a CDN), MANIFEST_CACHE_CONTROL, RENDITION_NAMES,
and Powertools' POWERTOOLS_* variables. Its role may read the renditions and read and write only
``manifests/*`` in the renditions bucket.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, Final

import botocore.session  # type: ignore[import-untyped, unused-ignore]
from aws_lambda_powertools import Logger
from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]
from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

from .env import required
from .imaging import key_stem
from .manifest import (
    build_manifest,
    invalidation_paths,
    listed_renditions,
    manifest_key,
    placeholder,
    smallest,
    with_unchanged,
)
from .provenance import metadata
from .transient import transient_aws_errors

DESTINATION_BUCKET: Final = required("DESTINATION_BUCKET")
RENDITIONS_BASE_URL: Final = required("RENDITIONS_BASE_URL")
UPLOAD_PREFIX: Final = os.environ.get("UPLOAD_PREFIX", "")
INVALIDATE: Final = os.environ.get("INVALIDATE", "false").lower() == "true"
# The configured renditions' names (comma-separated): a backfill with onlyMissing makes
# only some, and the others of the same version are kept in the manifest if configured.
RENDITION_NAMES: Final = (
    tuple(n for n in os.environ["RENDITION_NAMES"].split(",") if n)
    if "RENDITION_NAMES" in os.environ
    else None
)
# Browsers keep a manifest a minute; the CDN keeps it until it is invalidated.
CACHE_CONTROL: Final = os.environ.get(
    "MANIFEST_CACHE_CONTROL", "public, max-age=60, s-maxage=31536000"
)

logger: Final = Logger()
# botocore's client, not boto3's (the same API for these calls): no boto3 and s3transfer
# to import at cold start (resize_handler).
s3: Final = botocore.session.get_session().create_client(
    "s3", config=Config(retries={"mode": "standard", "max_attempts": 3})
)


def _parse(event: Any) -> tuple[Mapping[str, Any], list[Mapping[str, Any]]]:
    if not isinstance(event, Mapping):
        raise ValueError("manifest input must be {'source': {...}, 'renditions': [...]}")
    source, renditions = event.get("source"), event.get("renditions")
    if not isinstance(source, Mapping) or not isinstance(renditions, list):
        raise ValueError("manifest input must be {'source': {...}, 'renditions': [...]}")
    return source, [r for r in renditions if isinstance(r, Mapping)]


def _read_json(key: str) -> Mapping[str, Any] | None:
    try:
        body = s3.get_object(Bucket=DESTINATION_BUCKET, Key=key)["Body"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            return None
        raise
    try:
        document = json.loads(body.read())
    except ValueError:
        return {}  # unreadable: replaced, and everything it may have named is unknown
    finally:
        body.close()
    return document if isinstance(document, Mapping) else {}


def write_manifest(event: Any) -> dict[str, Any]:
    """The work of the handler, without the logging around it."""
    source, made = _parse(event)
    key = manifest_key(key_stem(str(source["key"]), UPLOAD_PREFIX))
    previous = _read_json(key)
    renditions = with_unchanged(made, previous, str(source["etag"]), RENDITION_NAMES)
    if not renditions:  # none made now (a backfill recording a complete image), none kept
        raise ValueError(
            f"nothing to list for {source['key']}: no rendition made, {key} of another version"
        )
    small = smallest(renditions)
    body = s3.get_object(Bucket=DESTINATION_BUCKET, Key=str(small["key"]))["Body"]
    try:
        data: bytes = body.read()
    finally:
        body.close()
    manifest = build_manifest(
        source=source,
        renditions=renditions,
        base_url=RENDITIONS_BASE_URL,
        key=key,
        placeholder_of_smallest=placeholder(data),
    )
    s3.put_object(
        Bucket=DESTINATION_BUCKET,
        Key=key,
        Body=json.dumps(manifest, ensure_ascii=False, separators=(",", ":")).encode(),
        ContentType="application/json",
        CacheControl=CACHE_CONTROL,
        Metadata=metadata(str(source["etag"])),
    )
    paths = invalidation_paths(previous, manifest) if INVALIDATE else []
    return {
        "key": key,
        "url": manifest["url"],
        "placeholder": manifest["placeholder"],
        "invalidation": {"paths": paths, "quantity": len(paths)} if paths else None,
        "renditions": listed_renditions(renditions, RENDITIONS_BASE_URL, RENDITION_NAMES),
    }


def handler(event: Any, context: Any) -> dict[str, Any]:
    logger.thread_safe_clear_keys()  # per thread: the local stack runs handlers in threads
    logger.thread_safe_append_keys(request_id=getattr(context, "aws_request_id", None))
    if isinstance(event, Mapping) and isinstance(event.get("source"), Mapping):
        logger.thread_safe_append_keys(key=event["source"].get("key"))
    with transient_aws_errors():
        result = write_manifest(event)
    logger.info("manifest written", extra={"output": result})
    return result
