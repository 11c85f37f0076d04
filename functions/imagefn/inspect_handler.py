"""Inspect Lambda: the first step of an execution.

Input (from Step Functions): the EventBridge Pipe's batch of SQS records, whose bodies
are S3 event notifications, and the execution's id and start time::

    {"records": [<SQS record>, ...], "execution": {"id": ..., "startedAt": ...}}

It finds the one S3 ObjectCreated record, HEADs the object (rejecting empty and
oversized objects without downloading them), downloads it (stopping after the first
HEADER_BYTES when those already settle a rejection), checks the real format, the pixel
limit and that the pixels decode, and plans the renditions::

    {"source": {bucket, key, copySource, size, etag, versionId, sequencer, contentHash,
                format, width, height, mediaType},
     "renditions": [{name, width, height, fit, format, quality, key, contentType,
                     staleKeys}, ...],
     "execution": <as given>}

For an upload it refuses, it returns the refusal as data rather than raising, so the
workflow can record it in the catalogue and publish image.rejected under the upload's key::

    {"source": {bucket, key, size, etag, versionId, sequencer}, "renditions": [],
     "rejection": {"reason": <code>, "message": "<code>: <text>"}, "execution": ...}

`sequencer` is the S3 event's, left-padded with zeros to SEQUENCER_WIDTH: S3 sequencers
of one key compare as strings only once padded to one length (AWS: "Event message
structure", https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html),
and the workflow's conditional catalogue write compares them. `versionId` is "" for an
unversioned bucket. `contentHash` is the sha256 of the bytes (hex), for duplicate content.
A key whose suffix is not in ALLOWED_SUFFIXES is refused after its bytes are checked
(unsupported_suffix if they are an image we could process).

Two more inputs share the same checks:

* backfill, one listed object: ``{"object": {"bucket", "key"}, "onlyMissing": bool,
  "recorded": <the catalogue GetItem result>, "execution": ...}``; a key an upload
  notification would not have let through (outside the upload prefix, another suffix) is
  skipped (``"skipped": "prefix"|"suffix"``, no renditions), and so is one whose current
  version (ETag) the catalogue records as rejected (``"skipped": "rejected"``, with the
  recorded ``reason``; the object is HEADed, not read); with onlyMissing, renditions
  already written from this version of the original (their ``source-etag`` metadata
  matches) are left out of the plan. These rules are imagefn.plan's, which `imagepipe
  backfill --dry-run` uses too. The source is an upload's without the event's sequencer
  (a backfill has no event; its versionId is HEAD's). An image with nothing missing that
  the catalogue does not record as processed (``plan.unrecorded``) comes back with
  ``"unrecorded": true``, for the backfill to record it from its manifest. A refused
  object is returned as data, as for an upload (``"rejection"``), for the backfill to
  record;
* removal (deleteDerivatives): ``{"records": [...], "removed": true, "execution": ...}``
  with one S3 ObjectRemoved record; returns ``{"source": {bucket, key, sequencer},
  "derivatives": [{"Key": ...}, ...], "delivery": {"invalidation": {"paths", "quantity"}
  | None}, "execution"}``: every key a rendition of it may have (the padded sequencer
  orders the removal against the catalogue's record of the key) and, with a CDN
  (INVALIDATE=true), the CDN paths of those that exist (HEADed: what was served and
  will be stale once deleted), None when none does.

In removal mode a refused event raises ImageRejected ("<reason>: <message>"), as does
an event that is not exactly one S3 record (bad_event: there is no key to record); S3
errors propagate so that Step Functions can retry them.

Environment (read once, at import): RENDITIONS (JSON list of renditions, required),
MAX_INPUT_BYTES, MAX_INPUT_PIXELS, UPLOAD_PREFIX, DESTINATION_BUCKET (for onlyMissing
and removals), INVALIDATE ("true" with a CDN),
ALLOWED_SUFFIXES (comma-separated; a backfill skips other keys),
and Powertools' POWERTOOLS_* variables.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, unquote_plus

import botocore.session  # type: ignore[import-untyped, unused-ignore]
from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.data_classes import S3Event, SQSRecord
from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]

from .env import env_int
from .errors import BAD_EVENT, UNSUPPORTED_SUFFIX, ImageRejected
from .imaging import HEADER_BYTES, check_byte_size, key_stem, peek_image, validate_image
from .manifest import manifest_key, removal_invalidation
from .plan import (
    derivative_keys,
    rejected_before,
    renditions_to_make,
    skip_reason,
    suffix_allowed,
    unrecorded,
)
from .provenance import head, made_from
from .renditions import Rendition, parse_renditions
from .transient import transient_aws_errors


def _renditions_from_env() -> tuple[Rendition, ...]:
    raw = os.environ.get("RENDITIONS")
    if not raw:
        raise RuntimeError("environment variable RENDITIONS (a JSON list of renditions) is not set")
    return parse_renditions(json.loads(raw))


RENDITIONS: Final = _renditions_from_env()
MAX_INPUT_BYTES: Final = env_int("MAX_INPUT_BYTES", 50 * 1024 * 1024)
MAX_INPUT_PIXELS: Final = env_int("MAX_INPUT_PIXELS", 40_000_000)
UPLOAD_PREFIX: Final = os.environ.get("UPLOAD_PREFIX", "uploads/")
# What the bucket notification lets through; a backfill lists everything, so it applies
# the same filter itself (imagefn.plan.skip_reason). Empty: every key.
ALLOWED_SUFFIXES: Final = tuple(
    s.strip() for s in os.environ.get("ALLOWED_SUFFIXES", "").split(",") if s.strip()
)
DESTINATION_BUCKET: Final = os.environ.get("DESTINATION_BUCKET", "")
# A CDN serves the renditions ("true"): a removal says which paths it may hold stale.
INVALIDATE: Final = os.environ.get("INVALIDATE", "false").lower() == "true"
METRICS_NAMESPACE: Final = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "ImagePipeline")

# Wider than any S3 sequencer seen (16-20 hex digits): every one pads to this length.
SEQUENCER_WIDTH: Final = 32

logger: Final = Logger()
# botocore's client, not boto3's (the same API for these calls): no boto3 and s3transfer
# to import at cold start (resize_handler).
s3: Final = botocore.session.get_session().create_client(
    "s3", config=Config(retries={"mode": "standard", "max_attempts": 3})
)


# --------------------------------------------------------------------------------------
# The event


def _notifications(event: Any) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """(index, S3 notification) for each SQS record of the pipe's batch."""
    if not isinstance(event, Mapping) or not isinstance(event.get("records"), list):
        raise ImageRejected(BAD_EVENT, "expected {'records': [SQS records...], 'execution': ...}")
    for index, raw in enumerate(event["records"]):
        if not isinstance(raw, Mapping) or "body" not in raw:
            raise ImageRejected(BAD_EVENT, f"record {index} is not an SQS message with a body")
        record = SQSRecord(dict(raw))
        body: Any = record["body"]
        if isinstance(body, str):
            try:
                body = record.json_body
            except ValueError:
                raise ImageRejected(BAD_EVENT, f"record {index}: body is not JSON") from None
        if not isinstance(body, Mapping):
            raise ImageRejected(BAD_EVENT, f"record {index}: body is not an S3 notification")
        yield index, body


@dataclass(frozen=True)
class EventObject:
    """The object one S3 event record names, as the record describes it."""

    bucket: str
    key: str
    sequencer: str  # padded to SEQUENCER_WIDTH
    version_id: str  # "" when the bucket is not versioned
    etag: str
    size: int


def padded_sequencer(sequencer: str) -> str:
    """An S3 sequencer that compares as a string with any other of the same key."""
    return sequencer.rjust(SEQUENCER_WIDTH, "0")


def object_from_event(event: Any, *, kind: str = "ObjectCreated") -> tuple[str, str]:
    """Bucket and (decoded) key of the one S3 `kind` record across the batch.

    S3 URL-encodes keys in notifications as a form value (space as '+'); this decodes it.
    Raises ImageRejected(bad_event) for anything else: no record, several, another
    event type (such as the s3:TestEvent S3 sends when notifications are configured).
    """
    found: list[tuple[str, str]] = []
    for index, notification in _notifications(event):
        records = notification.get("Records")
        if not isinstance(records, list):
            what = notification.get("Event", "no Records")
            raise ImageRejected(BAD_EVENT, f"record {index}: not an S3 event notification ({what})")
        for s3_record in S3Event(dict(notification)).records:
            try:
                name = s3_record.event_name
                source = s3_record.event_source
                bucket = s3_record.s3.bucket.name
                raw_key = s3_record.s3.get_object.key
            except (KeyError, TypeError, AttributeError):
                raise ImageRejected(
                    BAD_EVENT, f"record {index}: malformed S3 event record"
                ) from None
            if source != "aws:s3" or not name.startswith(f"{kind}:"):
                raise ImageRejected(
                    BAD_EVENT, f"record {index}: {source} {name} is not an S3 {kind} event"
                )
            if not isinstance(bucket, str) or not isinstance(raw_key, str) or not raw_key:
                raise ImageRejected(BAD_EVENT, f"record {index}: bucket or key missing")
            found.append((bucket, unquote_plus(raw_key)))
    if len(found) != 1:
        raise ImageRejected(BAD_EVENT, f"expected exactly one S3 {kind} record, got {len(found)}")
    return found[0]


def event_object(event: Any, *, kind: str = "ObjectCreated") -> EventObject:
    """The one S3 `kind` record across the batch, with its sequencer, version and size
    (checked like `object_from_event`)."""
    bucket, key = object_from_event(event, kind=kind)
    described: Mapping[str, Any] = {}
    for _, notification in _notifications(event):
        for record in notification.get("Records") or []:
            obj = (record.get("s3") or {}).get("object") if isinstance(record, Mapping) else None
            if isinstance(obj, Mapping):
                described = obj
    size = described.get("size")
    version_id = described.get("versionId")
    return EventObject(
        bucket=bucket,
        key=key,
        sequencer=padded_sequencer(str(described.get("sequencer") or "")),
        version_id=str(version_id) if version_id and version_id != "null" else "",
        etag=str(described.get("eTag") or "").strip('"'),
        size=int(size) if isinstance(size, int | str) and str(size).isdigit() else 0,
    )


# --------------------------------------------------------------------------------------
# The object


def _read_up_to(body: Any, limit: int) -> bytes:
    chunks: list[bytes] = []
    got = 0
    while got < limit:
        chunk = body.read(limit - got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _download(bucket: str, key: str, etag: str) -> bytes:
    """The object's bytes, checked by their first HEADER_BYTES before the rest is read.

    IfMatch pins the download to the version that was HEADed.
    """
    response = s3.get_object(Bucket=bucket, Key=key, IfMatch=f'"{etag}"')
    body = response["Body"]
    try:
        prefix = _read_up_to(body, HEADER_BYTES)
        # Rejects a non-image, an unaccepted format or a pixel bomb without the rest.
        peek_image(prefix, max_pixels=MAX_INPUT_PIXELS)
        rest: bytes = body.read()
    finally:
        body.close()
    return prefix + rest


def _listed_object(event: Mapping[str, Any]) -> tuple[str, str]:
    target = event.get("object")
    if not isinstance(target, Mapping) or not all(
        isinstance(target.get(k), str) and target.get(k) for k in ("bucket", "key")
    ):
        raise ImageRejected(BAD_EVENT, "expected {'object': {'bucket': ..., 'key': ...}}")
    return str(target["bucket"]), str(target["key"])


def inspect(event: Any) -> dict[str, Any]:
    """The work of the handler, without the logging around it."""
    if isinstance(event, Mapping) and event.get("removed") is True:
        return removal(event)
    if isinstance(event, Mapping) and "object" in event:
        return listed(event)
    return upload(event)


def upload(event: Any) -> dict[str, Any]:
    """An upload: checked and planned, or refused as data (see the module doc)."""
    described = event_object(event)  # bad_event raises: there is no key to record
    logger.thread_safe_append_keys(bucket=described.bucket, key=described.key)
    event_fields = {
        "bucket": described.bucket,
        "key": described.key,
        "size": described.size,
        "etag": described.etag,
        "versionId": described.version_id,
        "sequencer": described.sequencer,
    }
    try:
        result = _checked(described.bucket, described.key, only_missing=False)
    except ImageRejected as exc:
        return {
            "source": event_fields,
            "renditions": [],
            "rejection": {"reason": exc.reason, "message": str(exc)},
            "execution": event.get("execution"),
        }
    result["source"] |= {
        "versionId": result["source"].pop("headVersionId") or described.version_id,
        "sequencer": described.sequencer,
    }
    return result | {"execution": event.get("execution")}


def _recorded(event: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(status, etag, reason) of the catalogue record the backfill looked up for the key
    (a DynamoDB GetItem result: {"Item": {name: {"S": ...}}} or no Item)."""
    recorded = event.get("recorded")
    item = recorded.get("Item") if isinstance(recorded, Mapping) else None
    if not isinstance(item, Mapping):
        return None, None, None

    def text(name: str) -> str | None:
        value = item.get(name)
        return str(value["S"]) if isinstance(value, Mapping) and "S" in value else None

    return text("status"), text("etag"), text("reason")


def listed(event: Mapping[str, Any]) -> dict[str, Any]:
    """A backfill's listed object: skipped, checked and planned, or refused as data (as an
    upload is: {"source", "renditions": [], "rejection"}), never raised."""
    bucket, key = _listed_object(event)
    logger.thread_safe_append_keys(bucket=bucket, key=key)
    skipped = skip_reason(key, upload_prefix=UPLOAD_PREFIX, allowed_suffixes=ALLOWED_SUFFIXES)
    if skipped:
        # Not something an upload of this name would have processed: nothing to make.
        return {"source": {"bucket": bucket, "key": key}, "renditions": [], "skipped": skipped}
    head = s3.head_object(Bucket=bucket, Key=key)
    etag = str(head["ETag"]).strip('"')
    status, recorded_etag, reason = _recorded(event)
    if rejected_before(status, recorded_etag, etag):
        # This version was rejected already (the catalogue says why): not read again.
        return {
            "source": {"bucket": bucket, "key": key, "etag": etag},
            "renditions": [],
            "skipped": "rejected",
            "reason": reason,
        }
    try:
        result = _checked(bucket, key, only_missing=event.get("onlyMissing") is True, head=head)
    except ImageRejected as exc:
        source = {"bucket": bucket, "key": key, "size": int(head["ContentLength"]), "etag": etag}
        return {
            "source": source,
            "renditions": [],
            "rejection": {"reason": exc.reason, "message": str(exc)},
            "execution": event.get("execution"),
        }
    # The version HEAD saw ("" in an unversioned bucket), for the catalogue record.
    result["source"]["versionId"] = result["source"].pop("headVersionId")
    if not result["renditions"] and unrecorded(status, recorded_etag, etag):
        # Complete, but not in the catalogue: recorded from its manifest, nothing made.
        result["unrecorded"] = True
    return result | {"execution": event.get("execution")}


def _checked(
    bucket: str, key: str, *, only_missing: bool, head: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """HEAD (unless given), download, check and plan one object; ImageRejected if it is
    refused."""
    if only_missing and not DESTINATION_BUCKET:
        raise RuntimeError("onlyMissing needs the DESTINATION_BUCKET environment variable")
    head = head if head is not None else s3.head_object(Bucket=bucket, Key=key)
    size = int(head["ContentLength"])
    etag = str(head["ETag"]).strip('"')
    check_byte_size(size, max_bytes=MAX_INPUT_BYTES)  # before any download
    data = _download(bucket, key, etag)
    info = validate_image(data, max_pixels=MAX_INPUT_PIXELS)
    if not suffix_allowed(key, ALLOWED_SUFFIXES):
        raise ImageRejected(
            UNSUPPORTED_SUFFIX,
            f"a {info.format} image, but its name does not end in one of "
            f"{', '.join(ALLOWED_SUFFIXES)}",
        )
    declared = head.get("ContentType")
    if declared and declared != info.media_type:
        logger.info(
            "content type differs from the bytes",
            extra={"declared": declared, "actual": info.media_type},
        )
    planned = renditions_to_make(
        RENDITIONS,
        source_format=info.format,
        stem=key_stem(key, UPLOAD_PREFIX),
        etag=etag,
        made_from=(lambda k: made_from(s3, DESTINATION_BUCKET, k)) if only_missing else None,
    )
    return {
        "source": {
            "bucket": bucket,
            "key": key,
            "copySource": quote(f"{bucket}/{key}", safe="/"),
            "size": size,
            "etag": etag,
            "headVersionId": str(head.get("VersionId") or ""),
            "contentHash": hashlib.sha256(data).hexdigest(),
            **info.to_dict(),
        },
        "renditions": planned,
    }


def removal(event: Mapping[str, Any]) -> dict[str, Any]:
    """The keys to delete now that an original is gone (the original is not read), and,
    with a CDN, which of them exist: what the CDN may still serve."""
    removed = event_object(event, kind="ObjectRemoved")
    bucket, key = removed.bucket, removed.key
    logger.thread_safe_append_keys(bucket=bucket, key=key)
    stem = key_stem(key, UPLOAD_PREFIX)
    # Its manifest (manifests/<stem>.json) goes with its renditions.
    keys = [*derivative_keys(RENDITIONS, stem), manifest_key(stem)]
    served = [k for k in keys if head(s3, DESTINATION_BUCKET, k) is not None] if INVALIDATE else []
    return {
        "source": {"bucket": bucket, "key": key, "sequencer": removed.sequencer},
        "derivatives": [{"Key": k} for k in keys],
        "delivery": {"invalidation": removal_invalidation(served)},
        "execution": event.get("execution"),
    }


def _count(name: str, **dimensions: str) -> None:
    with single_metric(
        name=name, unit=MetricUnit.Count, value=1, namespace=METRICS_NAMESPACE
    ) as metric:
        for key, value in dimensions.items():
            metric.add_dimension(name=key, value=value)


def handler(event: Any, context: Any) -> dict[str, Any]:
    logger.thread_safe_clear_keys()  # per thread: the local stack runs handlers in threads
    logger.thread_safe_append_keys(request_id=getattr(context, "aws_request_id", None))
    execution = event.get("execution") if isinstance(event, Mapping) else None
    if isinstance(execution, Mapping):
        logger.thread_safe_append_keys(execution_id=execution.get("id"))
    try:
        with transient_aws_errors():
            result = inspect(event)
    except ImageRejected as exc:
        logger.warning("upload rejected", extra={"reason": exc.reason, "detail": exc.message})
        _count("ImagesRejected", reason=exc.reason)
        raise
    rejection = result.get("rejection")
    if rejection:
        logger.warning(
            "upload rejected", extra={"reason": rejection["reason"], "detail": rejection["message"]}
        )
        _count("ImagesRejected", reason=rejection["reason"])
        return result
    logger.info("upload accepted", extra={"source": result["source"]})
    _count("ImagesAccepted")
    return result
