"""`imagepipe upload FILE|DIR... [--prefix P] [--wait]`."""

from __future__ import annotations

import argparse
import mimetypes
import posixpath
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from imagefn.plan import suffix_variants
from imagepipe import display
from imagepipe.commands import rendition_lines
from imagepipe.executions import ExecutionInfo, Follower, follow
from imagepipe.target import ITEM_FAILED, OK, USAGE, OpsError, Target


@dataclass
class Upload:
    path: Path
    key: str
    size: int
    etag: str | None = None
    execution: ExecutionInfo | None = None

    @property
    def outcome(self) -> str:
        """uploaded (not followed), processed, rejected, failed, or timed_out."""
        e = self.execution
        if e is None:
            return "uploaded"
        if e.status == "SUCCEEDED":
            return "processed"
        if not e.done:
            return "timed_out"
        found = e.outcome
        return found.kind if found else "failed"

    def to_dict(self, target: Target, waited: bool) -> dict[str, Any]:
        e = self.execution
        outcome = self.outcome
        if waited and e is None:
            outcome = "timed_out"
        return {
            "file": str(self.path),
            "bucket": target.source_bucket,
            "key": self.key,
            "bytes": self.size,
            "etag": self.etag,
            "outcome": outcome,
            "execution": e.to_dict(target) if e else None,
            "renditions": e.renditions if e and e.status == "SUCCEEDED" else [],
            "deadLetter": e.outcome.to_dict() if e and e.outcome else None,
        }


def _sub_prefix(prefix: str) -> str:
    cleaned = prefix.strip().lstrip("/")
    if cleaned and not cleaned.endswith("/"):
        cleaned += "/"
    return cleaned


def collect(paths: list[Path], target: Target, prefix: str) -> list[Upload]:
    """What to upload: each FILE by its name, each DIR's images by their path in it."""
    allowed = target.settings.allowed_suffixes
    # Exactly the names the upload notification starts an execution for (case-sensitive
    # filters on the lower- and upper-case spelling): `x.Jpg` would start nothing.
    suffixes = tuple(suffix_variants(allowed))
    base = target.upload_prefix + _sub_prefix(prefix)
    uploads: list[Upload] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.name.endswith(suffixes)
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                raise OpsError(
                    USAGE,
                    f"{path}: no images in it (files ending in {' '.join(allowed)})",
                )
            for file in found:
                rel = posixpath.join(*file.relative_to(path).parts)
                uploads.append(Upload(file, base + rel, file.stat().st_size))
        elif path.is_file():
            if not path.name.endswith(suffixes):
                raise OpsError(
                    USAGE,
                    f"{path}: the stack only processes names ending in {' '.join(suffixes)} "
                    "(allowedSuffixes, matched in lower or upper case as S3's notification "
                    "filters match them); rename it or change the stack's config",
                )
            uploads.append(Upload(path, base + path.name, path.stat().st_size))
        else:
            raise OpsError(USAGE, f"{path}: no such file or folder")
    keys = [u.key for u in uploads]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise OpsError(USAGE, f"two files would upload to the same key: {duplicates[0]}")
    return uploads


def _put(target: Target, uploads: list[Upload], show_progress: bool) -> None:
    s3 = target.client("s3")
    bucket = target.source_bucket
    total = sum(u.size for u in uploads)
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
    )
    with Progress(*columns, console=display.progress_console(), disable=not show_progress) as bar:
        task = bar.add_task(f"Uploading {len(uploads)} file(s)", total=total)
        for upload in uploads:
            bar.update(task, description=f"Uploading {upload.key}")
            content_type = mimetypes.guess_type(upload.path.name)[0] or "application/octet-stream"
            s3.upload_file(
                str(upload.path),
                bucket,
                upload.key,
                ExtraArgs={"ContentType": content_type},
                Callback=lambda n: bar.advance(task, n),
            )
            head = s3.head_object(Bucket=bucket, Key=upload.key)
            upload.etag = str(head.get("ETag", "")).strip('"') or None
        bar.update(task, description=f"Uploaded {len(uploads)} file(s)")


def _wait(
    target: Target, follower: Follower, uploads: list[Upload], args: argparse.Namespace
) -> None:
    wanted = {u.key: u.etag for u in uploads}
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=display.progress_console(), disable=args.json) as bar:
        task = bar.add_task("Waiting for the executions", total=len(uploads))

        def progress(found: dict[str, ExecutionInfo]) -> None:
            done = sum(1 for e in found.values() if e.done)
            started = len(found)
            bar.update(
                task,
                completed=done,
                description=f"Executions: {started} started, {done} ended",
            )

        found = follow(
            follower,
            wanted,
            timeout=args.timeout,
            interval=0.3 if target.local else 2.0,
            on_progress=progress,
        )
    for upload in uploads:
        upload.execution = found.get(upload.key)


def run_upload(args: argparse.Namespace, target: Target) -> int:
    uploads = collect(args.paths, target, args.prefix)
    follower: Follower | None = None
    if args.wait:
        # Before uploading: executions that exist now are not these uploads'.
        follower = Follower(target, target.state_machine_arn, since=datetime.now(tz=UTC))
        follower.snapshot()
    _put(target, uploads, show_progress=not args.json)
    if follower is not None:
        _wait(target, follower, uploads, args)
    failed = [u for u in uploads if args.wait and u.outcome != "processed"]
    if args.json:
        display.print_json(
            {
                "bucket": target.source_bucket,
                "waited": bool(args.wait),
                "uploads": [u.to_dict(target, bool(args.wait)) for u in uploads],
            }
        )
        return ITEM_FAILED if failed else OK
    con = display.console()
    if not args.wait:
        for u in uploads:
            con.print(f"{u.path} -> s3://{target.source_bucket}/{u.key} ({display.size(u.size)})")
        flags = " --local" if target.local else ""
        con.print(f"[dim]Follow them: imagepipe executions{flags}, or upload with --wait[/]")
        return OK
    for u in uploads:
        e = u.execution
        if e is None:
            con.print(f"[yellow]?[/] {u.key}  [yellow]no execution started[/]", soft_wrap=True)
            con.print(
                f"    none within {args.timeout:.0f} s: is the bucket notification and the "
                "pipe working? (imagepipe executions)",
                soft_wrap=True,
            )
            continue
        mark = (
            "[green]✓[/]"
            if e.status == "SUCCEEDED"
            else ("[yellow]…[/]" if not e.done else "[red]✗[/]")
        )
        con.print(
            f"{mark} {u.key}  {display.status(e.status)} in {display.seconds(e.seconds)}",
            soft_wrap=True,
        )
        if not e.done:
            con.print(
                f"    still running after {args.timeout:.0f} s: imagepipe show {e.name}",
                soft_wrap=True,
            )
        elif e.outcome is not None:
            con.print(
                f"    dead-lettered: [bold]{e.outcome.kind}: {e.outcome.reason}[/] "
                f"({e.outcome.detail})",
                soft_wrap=True,
            )
        else:
            con.print(rendition_lines(e.renditions, indent="    "), soft_wrap=True)
    processed = sum(1 for u in uploads if u.outcome == "processed")
    colour = "green" if not failed else "red"
    con.print(
        f"[{colour}]{processed} of {len(uploads)} processed[/]"
        + (f", {len(failed)} not (details: imagepipe show KEY)" if failed else "")
    )
    return ITEM_FAILED if failed else OK
