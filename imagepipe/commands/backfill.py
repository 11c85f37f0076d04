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

import argparse
import json
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from imagepipe.commands.options import command_parser, wait_options
from imagepipe.errors import ExitCode, OpsError
from imagepipe.messages import camel

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from imagepipe.catalogue import CatalogueRecord
    from imagepipe.executions import ExecutionInfo
    from imagepipe.target import Target

NAME = "backfill"
STACK = True
SNIFF_BYTES = 4096  # sniff_format needs the first few dozen bytes; AVIF's ftyp box a few more


def register(subparsers: Any) -> None:
    parser = command_parser(
        subparsers,
        NAME,
        "run existing images through the pipeline again (all, or only what is missing)",
        "Start the backfill state machine: a Distributed Map over the source bucket's "
        "listing under the upload prefix (and --prefix), each object inspected and resized "
        "as an upload would be. With --only-missing, only renditions not yet made from "
        "the object's current version (their source-etag metadata) are made. --dry-run "
        "starts nothing and lists what would be processed, computing what is missing the "
        "way Inspect does. --wait follows the execution's map run to its end.",
        stack=True,
    )
    parser.add_argument("--prefix", default="", metavar="P", help="only keys under <uploadPrefix>P")
    parser.add_argument(
        "--only-missing", action="store_true", help="make only renditions that are missing"
    )
    parser.add_argument("--dry-run", action="store_true", help="list, start nothing")
    wait_options(parser, "the execution to its end", timeout=3600.0)


def run(args: argparse.Namespace, target: Target) -> ExitCode:
    from imagepipe import display

    prefix = full_prefix(target, args.prefix)
    if args.dry_run:
        display.emit(args, dry_run(target, prefix, args.only_missing), show_dry_run)
        return ExitCode.OK
    con = display.console()
    # Before the progress bar: what was started, and where to see it.
    result = start(target, prefix, args.only_missing, args.wait, None if args.json else con)
    if args.wait:
        _follow(result, args.timeout, progress=not args.json)
    display.emit(args, result, show, con)
    return ExitCode.ITEM_FAILED if result.failed else ExitCode.OK


# -- the dry run -------------------------------------------------------------------------


@dataclass
class Planned:
    """One listed object and the renditions a backfill would make of it (as --json has it)."""

    key: str
    bytes: int
    etag: str
    renditions: list[dict[str, str]] = field(default_factory=list)  # name, key
    rejected: str | None = None  # "<reason>: <message>" when its first bytes settle it
    # (larger-than-allowed, corrupt or too many pixels are only found by the backfill),
    # or as the catalogue recorded it when skipped as "rejected"
    skipped: str | None = None  # imagefn.plan.Skip: "prefix", "suffix" or "rejected"

    @property
    def state(self) -> str:
        """The one summary count it is in (besides objects and skipped)."""
        if self.skipped:
            return "skippedRejected" if self.skipped == "rejected" else "skippedUnread"
        if self.rejected:
            return "rejected"
        return "toProcess" if self.renditions else "complete"


@dataclass
class DryRun:
    """What a backfill of `prefix` would do: the result behind `backfill --dry-run`."""

    prefix: str
    only_missing: bool
    state_machine_arn: str | None
    objects: list[Planned]

    @property
    def summary(self) -> dict[str, int]:
        counts = Counter(p.state for p in self.objects)
        return {
            "objects": len(self.objects),
            "toProcess": counts["toProcess"],
            "renditions": sum(len(p.renditions) for p in self.objects),
            "complete": counts["complete"],
            "rejected": counts["rejected"],
            "skipped": counts["skippedUnread"] + counts["skippedRejected"],
            "skippedRejected": counts["skippedRejected"],
        }

    def to_dict(self) -> dict[str, Any]:
        fields = {camel(name): value for name, value in asdict(self).items()}
        return {"dryRun": True, **fields, "summary": self.summary}


def full_prefix(target: Target, prefix: str) -> str:
    """<uploadPrefix><prefix>; a prefix that already starts with the upload prefix is kept."""
    cleaned = prefix.strip().lstrip("/")
    return cleaned if cleaned.startswith(target.upload_prefix) else target.upload_prefix + cleaned


def _skip(target: Target, key: str) -> str | None:
    """imagefn.plan.skip_reason with the stack's settings: why a backfill does not read `key`."""
    from imagefn.plan import skip_reason

    allowed = target.settings.allowed_suffixes
    return skip_reason(key, upload_prefix=target.upload_prefix, allowed_suffixes=allowed)


def _rejections(target: Target, prefix: str) -> dict[str, CatalogueRecord]:
    """The catalogue's rejected records of the keys under `prefix` a backfill reads (a
    scan, filtered): none when the catalogue is not known (a stack named without its
    catalogueTable)."""
    from imagepipe.catalogue import scan_records

    table = target.outputs.get("catalogueTable")
    found = scan_records(target.client("dynamodb"), str(table), status="rejected") if table else []
    return {r.key: r for r in found if r.key.startswith(prefix) and not _skip(target, r.key)}


def _source_format(target: Target, key: str, etag: str, size: int) -> tuple[str | None, str | None]:
    """(format, None) from the object's first bytes, or (None, "<reason>: <message>") when
    they already settle a rejection (empty, not an image, an unaccepted format)."""
    from imagefn.errors import ImageRejected
    from imagefn.imaging import sniff_format

    head = b""
    if size > 0:  # a Range on an empty object is an error (416)
        with target.client("s3").get_object(
            Bucket=target.source_bucket,
            Key=key,
            Range=f"bytes=0-{SNIFF_BYTES - 1}",
            IfMatch=f'"{etag}"',
        )["Body"] as body:
            head = body.read()
    try:
        return sniff_format(head), None
    except ImageRejected as rejected:
        return None, str(rejected)


def _plan_one(
    target: Target, item: dict[str, Any], only_missing: bool, rejections: dict[str, CatalogueRecord]
) -> Planned:
    """One listed object, decided by the functions Inspect itself calls (imagefn.plan)."""
    from imagefn.imaging import key_stem
    from imagefn.plan import rejected_before, renditions_to_make
    from imagefn.provenance import made_from

    key, etag = str(item["Key"]), str(item.get("ETag", "")).strip('"')
    planned = Planned(key, int(item.get("Size", 0)), etag, skipped=_skip(target, key))
    # (A key skipped unread has no entry in `rejections`.)
    if (found := rejections.get(key)) and rejected_before(found.status, found.etag, etag):
        # This version was rejected before: not read again.
        planned.skipped, planned.rejected = "rejected", found.message or found.reason or "rejected"
    if planned.skipped:
        return planned
    # The first bytes: format "original" depends on the format, and a file that is
    # not an image would be rejected (and recorded) rather than processed.
    source_format, planned.rejected = _source_format(target, key, etag, planned.bytes)
    if source_format is None:
        return planned
    s3 = target.client("s3")
    to_make = renditions_to_make(
        target.settings.renditions,
        source_format=source_format,
        stem=key_stem(key, target.settings.upload_prefix),
        etag=etag,
        made_from=(lambda k: made_from(s3, target.destination_bucket, k)) if only_missing else None,
    )
    planned.renditions = [{"name": r["name"], "key": r["key"]} for r in to_make]
    return planned


def dry_run(target: Target, prefix: str, only_missing: bool) -> DryRun:
    """What a backfill of `prefix` would process, as Inspect would plan it."""
    from concurrent.futures import ThreadPoolExecutor

    paginator = target.client("s3").get_paginator("list_objects_v2")
    pages = paginator.paginate(Bucket=target.source_bucket, Prefix=prefix)
    objects = [item for page in pages for item in page.get("Contents", [])]
    rejections = _rejections(target, prefix)
    with ThreadPoolExecutor(max_workers=16) as pool:
        planned = list(pool.map(lambda o: _plan_one(target, o, only_missing, rejections), objects))
    machine = target.outputs.get("backfillStateMachineArn")  # shown, not needed
    return DryRun(prefix, only_missing, machine, planned)


def _cell(p: Planned) -> Text:
    """What the dry run's table says of one object (names here; the keys are in --json)."""
    from imagepipe import display

    unread = "not under the upload prefix" if p.skipped == "prefix" else "not an allowed suffix"
    template = {
        "skippedRejected": "[dim]skipped: this version was rejected before ({0})[/]",
        "skippedUnread": f"[dim]skipped: {unread}[/]",
        "rejected": "[yellow]would be rejected[/] (recorded, not processed): {0}",
        "toProcess": "{1}",
        "complete": "[green]none: all made from this version[/]",
    }[p.state]
    return display.markup(template, p.rejected, ", ".join(r["name"] for r in p.renditions))


def show_dry_run(con: Console, result: DryRun) -> None:
    from rich.table import Table

    from imagepipe import display

    what = "missing renditions" if result.only_missing else "renditions to make"
    title = display.title("Backfill of {} (dry run)", result.prefix)
    table = Table(title=title, title_justify="left")
    table.add_column("object", no_wrap=True)
    table.add_column("size", justify="right")
    table.add_column(what, overflow="fold")
    for p in result.objects:
        table.add_row(display.cell(p.key), display.size(p.bytes), _cell(p))
    if result.objects:
        con.print(table)
    s = result.summary
    line = (
        f"{display.plural(s['objects'], 'object')} under {result.prefix}: {s['toProcess']} "
        f"need renditions ({display.plural(s['renditions'], 'rendition')}), "
        f"{s['complete']} complete"
    )
    more = (
        (s["rejected"], "would be rejected (not images)"),
        (s["skippedRejected"], "skipped (recorded as rejected)"),
        (s["skipped"] - s["skippedRejected"], "skipped (an upload would not start the pipeline)"),
    )
    line += "".join(f", {n} {what}" for n, what in more if n) + ". Nothing was started."
    con.print(display.cell(line))


# -- a started backfill ------------------------------------------------------------------


@dataclass
class Started:
    """A backfill started (and with a wait, followed): the result behind `backfill`."""

    target: Target
    request: dict[str, Any]
    execution: ExecutionInfo  # as started; with a wait, as it ended (or the timeout left it)
    waited: bool
    # Objects whose current version the catalogue recorded as rejected when the backfill
    # started: its children skip them (counted among the map run's succeeded items).
    skipped_rejected: int
    items: dict[str, int] | None = None
    failed_items: list[dict[str, Any]] | None = None

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
            "skippedRejected": self.skipped_rejected,
        }


def recorded_rejections(target: Target, prefix: str) -> int:
    """How many objects under `prefix` have a current version the catalogue records as
    rejected: what a backfill started now skips. Read from the catalogue's rejected
    records and a HEAD of each, so the cost follows the rejections, not the listing."""
    from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

    from imagefn.plan import rejected_before

    s3, count = target.client("s3"), 0
    for found in _rejections(target, prefix).values():
        try:
            head = s3.head_object(Bucket=target.source_bucket, Key=found.key)
        except ClientError:
            continue  # gone since: nothing to skip
        if rejected_before(found.status, found.etag, str(head.get("ETag", ""))):
            count += 1
    return count


def start(
    target: Target, prefix: str, only_missing: bool, waited: bool, con: Console | None
) -> Started:
    """StartExecution of the backfill state machine, once the rejections its children
    will skip are counted; what was started is printed on `con` (None: not)."""
    from imagepipe.executions import describe

    skipped = recorded_rejections(target, prefix)
    name = f"backfill-{datetime.now(tz=UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    request = {"prefix": prefix, "onlyMissing": only_missing}
    started = target.client("stepfunctions").start_execution(
        stateMachineArn=target.backfill_state_machine_arn, name=name, input=json.dumps(request)
    )
    arn = str(started["executionArn"])
    if con is not None:  # before describing it: should that fail, it still runs
        show_start(con, target, arn, request, skipped)
    return Started(target, request, describe(target, arn), waited, skipped)


def _failed_items(target: Target, map_run_arn: str) -> list[dict[str, Any]] | None:
    """The keys whose child executions failed, with why (None where not listable: the
    emulator has no ListExecutions by map run)."""
    from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

    from imagepipe.executions import describe_many

    if target.local:
        return None
    pages = (
        target.client("stepfunctions")
        .get_paginator("list_executions")
        .paginate(mapRunArn=map_run_arn, statusFilter="FAILED")
    )
    try:
        arns = [child["executionArn"] for page in pages for child in page["executions"]]
    except ClientError:
        return None
    return [
        {"key": i.key, "execution": i.arn, "outcome": i.outcome.to_dict() if i.outcome else None}
        for i in describe_many(target, arns)
    ]


def _follow(result: Started, timeout: float, progress: bool) -> None:
    """Poll until the execution ends (or the timeout), filling in `result`: the execution,
    its item counts, its failed items. The map run is found through the history
    (MapRunStarted) rather than ListMapRuns, which the emulator answers with an error
    until the run exists."""
    from imagepipe import display
    from imagepipe.executions import describe, history, map_runs

    target, arn = result.target, result.execution.arn
    deadline = time.monotonic() + timeout
    run_arn: str | None = None
    with display.progress(enabled=progress) as bar:
        task = bar.add_task("Listing the source bucket", total=None)
        while True:
            result.execution = describe(target, arn)
            for run in map_runs(target, history(target, arn))[:1]:
                run_arn, result.items = str(run["mapRunArn"]), run.get("itemCounts") or result.items
            if counts := result.items:
                ended = ("succeeded", "failed", "timedOut", "aborted")
                bar.update(
                    task,
                    total=counts.get("total") or None,
                    completed=sum(counts.get(k, 0) for k in ended),
                    description=f"Backfill: {counts.get('succeeded', 0)} done, "
                    f"{counts.get('failed', 0)} failed, {counts.get('running', 0)} running",
                )
            if result.execution.done or time.monotonic() >= deadline:
                break
            time.sleep(0.3 if target.local else 3.0)
    if result.items and result.items.get("failed") and run_arn:
        result.failed_items = _failed_items(target, run_arn)


def show_start(
    con: Console, target: Target, arn: str, request: dict[str, Any], skipped: int
) -> None:
    from imagepipe import display

    name = arn.rsplit(":", 1)[-1]
    only = " (only missing renditions)" if request["onlyMissing"] else ""
    con.print(
        display.markup(f"Started backfill [bold]{{}}[/] of {{}}{only}", name, request["prefix"])
    )
    if skipped:
        con.print(
            f"It skips {display.plural(skipped, 'object')} whose current version is recorded "
            "as rejected (imagepipe catalogue --status rejected)."
        )
    display.console_line(con, target, arn)


def show(con: Console, result: Started) -> None:
    from imagepipe import display

    info, flags = result.execution, result.target.cli_flags
    if not result.waited:
        con.print(display.markup("[dim]Follow it: imagepipe show {}{}[/]", info.name, flags))
        return
    if not info.done:
        raise OpsError(
            ExitCode.ITEM_FAILED,
            f"backfill {info.name} still running: imagepipe show {info.name}{flags}",
        )
    counts = result.items
    line = f"Backfill {display.status(info.status)} in {display.seconds(info.seconds)}"
    if counts:
        line += (
            f": {display.plural(counts.get('total', 0), 'object')}, "
            f"{counts.get('succeeded', 0)} done, {counts.get('failed', 0)} failed"
        )
    if result.skipped_rejected:
        line += f" ({result.skipped_rejected} skipped: recorded as rejected)"
    con.print(line)
    if counts and counts.get("failed"):
        for item in result.failed_items or []:
            outcome = item["outcome"] or {}
            why = (item["key"], outcome.get("kind"), outcome.get("reason"))
            con.print(display.markup("  [red]{}[/]: {}: {}", *why))
        con.print(
            display.markup(
                "[dim]Failed objects went to the dead-letter queue with their reason "
                "(imagepipe redrive{}, once fixed).[/]",
                flags,
            )
        )
    if info.status != "SUCCEEDED" and info.outcome:
        con.print(display.markup("[red]{}[/]: {}", info.outcome.error, info.outcome.message))
