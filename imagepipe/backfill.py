"""`imagepipe backfill [--prefix P] [--only-missing] [--dry-run] [--wait]`.

The backfill state machine (statemachine/backfill.asl.json) lists the source bucket
under a prefix and runs each object through Inspect and Resize. `--dry-run` lists the
same objects and decides with Inspect's own rules (imagefn.plan): a key the upload
notification would not have let through is skipped (`skip_reason`), and the renditions
to make are `renditions_to_make`'s, which with --only-missing leaves out those whose
`source-etag` metadata (read here with a HEAD) is the object's current ETag. A version
the catalogue records as rejected (`rejected_before`) is skipped by both, unread; a
started backfill says how many (`recorded_rejections`, counted when it starts).
"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from imagepipe import display
from imagepipe.executions import ExecutionInfo, describe, history, map_runs
from imagepipe.target import Target


@dataclass
class Planned:
    """One listed object and the renditions a backfill would make of it."""

    key: str
    size: int
    etag: str
    renditions: list[dict[str, str]] = field(default_factory=list)  # name, key
    rejected: str | None = None  # "<reason>: <message>" when its first bytes settle it
    # (larger-than-allowed, corrupt or too many pixels are only found by the backfill),
    # or as the catalogue recorded it when skipped as "rejected"
    skipped: str | None = None  # imagefn.plan.Skip: "prefix", "suffix" or "rejected"

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "bytes": self.size,
            "etag": self.etag,
            "renditions": self.renditions,
            "rejected": self.rejected,
            "skipped": self.skipped,
        }


def full_prefix(target: Target, prefix: str) -> str:
    """<uploadPrefix><prefix>; a prefix that already starts with the upload prefix is kept."""
    cleaned = prefix.strip().lstrip("/")
    if cleaned.startswith(target.upload_prefix):
        return cleaned
    return target.upload_prefix + cleaned


def list_objects(target: Target, prefix: str) -> list[dict[str, Any]]:
    paginator = target.client("s3").get_paginator("list_objects_v2")
    found: list[dict[str, Any]] = []
    for page in paginator.paginate(Bucket=target.source_bucket, Prefix=prefix):
        found += page.get("Contents", [])
    return found


SNIFF_BYTES = 4096  # sniff_format needs the first few dozen bytes; AVIF's ftyp box a few more


def _source_format(target: Target, key: str, etag: str, size: int) -> tuple[str | None, str | None]:
    """(format, None) from the object's first bytes, or (None, "<reason>: <message>") when
    they already settle a rejection (empty, not an image, an unaccepted format)."""
    from imagefn.errors import ImageRejected
    from imagefn.imaging import sniff_format

    head = b""
    if size > 0:  # a Range on an empty object is an error (416)
        response = target.client("s3").get_object(
            Bucket=target.source_bucket,
            Key=key,
            Range=f"bytes=0-{SNIFF_BYTES - 1}",
            IfMatch=f'"{etag}"',
        )
        body = response["Body"]
        try:
            head = body.read()
        finally:
            body.close()
    try:
        return sniff_format(head), None
    except ImageRejected as rejected:
        return None, str(rejected)


def _made_from(target: Target, key: str) -> str | None:
    """A rendition's `source-etag` metadata, None if it does not exist (as Inspect reads it)."""
    from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

    try:
        head = target.client("s3").head_object(Bucket=target.destination_bucket, Key=key)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            return None
        raise
    made_from = head.get("Metadata", {}).get("source-etag")
    return str(made_from) if made_from is not None else None


def _recorded_rejection(target: Target, key: str, etag: str) -> str | None:
    """The catalogue's "<reason>: <message>" when it records this version (ETag) of `key`
    as rejected, as the backfill decides (imagefn.plan.rejected_before); None otherwise or
    when the catalogue is not known (a stack named without its catalogueTable)."""
    from imagefn.plan import rejected_before
    from imagepipe.catalogue import get_record

    table = target.outputs.get("catalogueTable")
    if not table:
        return None
    found = get_record(target.client("dynamodb"), str(table), key)
    if found is None or not rejected_before(found.status, found.etag, etag):
        return None
    return found.message or found.reason or "rejected"


def recorded_rejections(target: Target, prefix: str) -> list[str]:
    """The keys under `prefix` whose current version the catalogue records as rejected:
    what a backfill started now skips. Read from the catalogue's rejected records (a
    scan, filtered) and a HEAD of each, so the cost follows the rejections, not the
    listing."""
    from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

    from imagefn.plan import rejected_before, skip_reason
    from imagepipe.catalogue import scan_records

    table = target.outputs.get("catalogueTable")
    if not table:
        return []
    s3, keys, settings = target.client("s3"), [], target.settings
    for found in scan_records(target.client("dynamodb"), str(table), status="rejected"):
        if not found.key.startswith(prefix) or skip_reason(
            found.key,
            upload_prefix=settings.upload_prefix,
            allowed_suffixes=settings.allowed_suffixes,
        ):
            continue  # not listed, or skipped for its name before the catalogue is read
        try:
            head = s3.head_object(Bucket=target.source_bucket, Key=found.key)
        except ClientError:
            continue  # gone since: nothing to skip
        if rejected_before(found.status, found.etag, str(head.get("ETag", ""))):
            keys.append(found.key)
    return sorted(keys)


def _plan_one(target: Target, item: dict[str, Any], only_missing: bool) -> Planned:
    """One listed object, decided by the functions Inspect itself calls (imagefn.plan)."""
    from imagefn.imaging import key_stem
    from imagefn.plan import renditions_to_make, skip_reason

    key, etag = str(item["Key"]), str(item.get("ETag", "")).strip('"')
    planned = Planned(key=key, size=int(item.get("Size", 0)), etag=etag)
    settings = target.settings
    planned.skipped = skip_reason(
        key, upload_prefix=settings.upload_prefix, allowed_suffixes=settings.allowed_suffixes
    )
    if planned.skipped:
        return planned
    planned.rejected = _recorded_rejection(target, key, etag)
    if planned.rejected:
        planned.skipped = "rejected"  # this version was rejected before: not read again
        return planned
    # The first bytes: format "original" depends on the format, and a file that is
    # not an image would be rejected (and recorded) rather than processed.
    source_format, planned.rejected = _source_format(target, key, etag, planned.size)
    if source_format is None:
        return planned
    to_make = renditions_to_make(
        settings.renditions,
        source_format=source_format,
        stem=key_stem(key, settings.upload_prefix),
        etag=etag,
        made_from=(lambda k: _made_from(target, k)) if only_missing else None,
    )
    planned.renditions = [{"name": r["name"], "key": r["key"]} for r in to_make]
    return planned


def plan(target: Target, prefix: str, only_missing: bool) -> list[Planned]:
    """What a backfill of `prefix` would process, as Inspect would plan it."""
    objects = list_objects(target, prefix)

    def one(item: dict[str, Any]) -> Planned:
        return _plan_one(target, item, only_missing)

    if not objects:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(objects))) as pool:
        return list(pool.map(one, objects))


@dataclass
class DryRun:
    """What a backfill of `prefix` would do: the result behind `backfill --dry-run`."""

    prefix: str
    only_missing: bool
    state_machine_arn: str | None
    planned: list[Planned]

    @property
    def summary(self) -> dict[str, int]:
        planned = self.planned
        work = [p for p in planned if p.renditions]
        return {
            "objects": len(planned),
            "toProcess": len(work),
            "renditions": sum(len(p.renditions) for p in work),
            "complete": sum(
                1 for p in planned if not p.renditions and not p.rejected and not p.skipped
            ),
            "rejected": sum(1 for p in planned if p.rejected and not p.skipped),
            "skipped": sum(1 for p in planned if p.skipped),
            "skippedRejected": sum(1 for p in planned if p.skipped == "rejected"),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "dryRun": True,
            "prefix": self.prefix,
            "onlyMissing": self.only_missing,
            "stateMachineArn": self.state_machine_arn,
            "objects": [p.to_dict() for p in self.planned],
            "summary": self.summary,
        }


def dry_run(target: Target, prefix: str, only_missing: bool) -> DryRun:
    machine = target.outputs.get("backfillStateMachineArn")  # shown, not needed
    return DryRun(prefix, only_missing, machine, plan(target, prefix, only_missing))


@dataclass
class Started:
    """A backfill started (and with a wait, followed): the result behind `backfill`."""

    target: Target
    request: dict[str, Any]
    execution: ExecutionInfo
    waited: bool
    items: dict[str, int] | None = None
    failed_items: list[dict[str, Any]] | None = None
    skipped_rejected: list[str] = field(default_factory=list)
    """Keys whose current version the catalogue recorded as rejected when the backfill
    started: its children skip them (counted among the map run's succeeded items)."""

    @property
    def failed(self) -> bool:
        counts = self.items or {}
        return self.waited and bool(
            self.execution.status != "SUCCEEDED" or counts.get("failed") or counts.get("timedOut")
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "dryRun": False,
            "input": self.request,
            "execution": self.execution.to_dict(self.target),
            "items": self.items,
            "failedItems": self.failed_items,
            "skippedRejected": len(self.skipped_rejected),
        }


def start(target: Target, prefix: str, only_missing: bool) -> tuple[str, dict[str, Any]]:
    """StartExecution of the backfill state machine: (its ARN, its input)."""
    name = f"backfill-{datetime.now(tz=UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    request = {"prefix": prefix, "onlyMissing": only_missing}
    started = target.client("stepfunctions").start_execution(
        stateMachineArn=target.backfill_state_machine_arn, name=name, input=json.dumps(request)
    )
    return str(started["executionArn"]), request


def finish(
    target: Target,
    arn: str,
    request: dict[str, Any],
    *,
    wait: bool,
    timeout: float,
    progress: bool,
    skipped_rejected: list[str] | None = None,
) -> Started:
    """The started backfill, followed to its end with `wait` (or until `timeout`)."""
    skipped = list(skipped_rejected or [])
    if not wait:
        return Started(
            target, request, describe(target, arn), waited=False, skipped_rejected=skipped
        )
    info, counts, run_arn = _follow(target, arn, timeout, progress)
    result = Started(target, request, info, waited=True, items=counts, skipped_rejected=skipped)
    if counts and counts.get("failed") and run_arn:
        result.failed_items = _failed_items(target, run_arn)
    return result


def _map_run(target: Target, execution_arn: str) -> dict[str, Any] | None:
    """The execution's map run with its item counts (None until it has started).

    Found through the execution's history (MapRunStarted) rather than ListMapRuns,
    which the emulator answers with an error until the run exists."""
    runs = map_runs(target, history(target, execution_arn))
    return runs[0] if runs else None


def _failed_items(target: Target, map_run_arn: str) -> list[dict[str, Any]] | None:
    """The keys whose child executions failed, with why (None where not listable: the
    emulator has no ListExecutions by map run)."""
    from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

    if target.local:
        return None
    sfn = target.client("stepfunctions")
    try:
        page = sfn.list_executions(mapRunArn=map_run_arn, statusFilter="FAILED", maxResults=100)
    except ClientError:
        return None
    items = []
    for child in page.get("executions", []):
        info = describe(target, child["executionArn"])
        outcome = info.outcome
        found = outcome.to_dict() if outcome else None
        items.append({"key": info.key, "execution": info.arn, "outcome": found})
    return items


def _follow(
    target: Target, arn: str, timeout: float, progress: bool
) -> tuple[ExecutionInfo, dict[str, int] | None, str | None]:
    """Poll until the execution ends (or the timeout): it, its item counts, its map run."""
    deadline = time.monotonic() + timeout
    counts: dict[str, int] | None = None
    run_arn: str | None = None
    with display.progress(enabled=progress) as bar:
        task = bar.add_task("Listing the source bucket", total=None)
        while True:
            info = describe(target, arn)
            run = _map_run(target, arn)
            if run is not None:
                run_arn = str(run["mapRunArn"])
                counts = run.get("itemCounts") or counts
            if counts:
                ended = ("succeeded", "failed", "timedOut", "aborted")
                bar.update(
                    task,
                    total=counts.get("total") or None,
                    completed=sum(counts.get(k, 0) for k in ended),
                    description=f"Backfill: {counts.get('succeeded', 0)} done, "
                    f"{counts.get('failed', 0)} failed, {counts.get('running', 0)} running",
                )
            if info.done or time.monotonic() >= deadline:
                return info, counts, run_arn
            time.sleep(0.3 if target.local else 3.0)
