"""`imagepipe upload`'s work: put files under the upload prefix and, with a wait, follow
each to the execution it started (imagepipe.executions.follow)."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imagepipe import display
from imagepipe.executions import ExecutionInfo, follow, started_since
from imagepipe.inputs import Input
from imagepipe.target import Target


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
        if not e.done:
            return "timed_out"
        # Every ended execution but a processed upload's has an outcome (a rejection ends
        # SUCCEEDED too).
        return e.outcome.kind if e.outcome else "processed"

    def to_dict(self, target: Target, waited: bool) -> dict[str, Any]:
        e = self.execution
        return {
            "file": str(self.path),
            "bucket": target.source_bucket,
            "key": self.key,
            "bytes": self.size,
            "etag": self.etag,
            "outcome": "timed_out" if waited and e is None else self.outcome,
            "execution": e.to_dict(target) if e else None,
            "renditions": e.renditions if e and e.status == "SUCCEEDED" else [],
            "manifestUrl": e.manifest_url if e and e.status == "SUCCEEDED" else None,
            "outcomeDetails": e.outcome.to_dict() if e and e.outcome else None,
        }


@dataclass
class Report:
    """What `upload` did: the result object behind its table and its --json."""

    target: Target
    waited: bool
    timeout: float
    uploads: list[Upload] = field(default_factory=list)

    @property
    def failed(self) -> list[Upload]:
        return [u for u in self.uploads if self.waited and u.outcome != "processed"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.target.source_bucket,
            "waited": self.waited,
            "uploads": [u.to_dict(self.target, self.waited) for u in self.uploads],
        }


def sub_prefix(prefix: str) -> str:
    """--prefix as a folder under the upload prefix: no leading '/', one trailing '/'."""
    cleaned = prefix.strip().lstrip("/")
    if cleaned and not cleaned.endswith("/"):
        cleaned += "/"
    return cleaned


def upload(
    target: Target,
    inputs: list[Input],
    prefix: str = "",
    *,
    wait: bool,
    timeout: float,
    progress: bool = True,
) -> Report:
    """Upload `inputs` as <uploadPrefix><prefix><name>; with `wait`, follow each."""
    base = target.upload_prefix + sub_prefix(prefix)
    report = Report(target, wait, timeout, [Upload(i.path, base + i.name, i.size) for i in inputs])
    # Before uploading: executions that exist now are not these uploads'.
    since = datetime.now(tz=UTC)
    before = set(started_since(target, target.state_machine_arn, since)) if wait else set()
    _put(target, report.uploads, progress)
    if wait:
        _wait(report, since, before, progress)
    return report


def _put(target: Target, uploads: list[Upload], show_progress: bool) -> None:
    s3 = target.client("s3")
    bucket = target.source_bucket
    with display.progress(transfer=True, enabled=show_progress) as bar:
        count = display.plural(len(uploads), "file")
        task = bar.add_task(f"Uploading {count}", total=sum(u.size for u in uploads))
        for item in uploads:
            bar.update(task, description=f"Uploading {item.key}")
            content_type = mimetypes.guess_type(item.path.name)[0] or "application/octet-stream"
            s3.upload_file(
                str(item.path),
                bucket,
                item.key,
                ExtraArgs={"ContentType": content_type},
                Callback=lambda n: bar.advance(task, n),
            )
            head = s3.head_object(Bucket=bucket, Key=item.key)
            item.etag = str(head.get("ETag", "")).strip('"') or None
        bar.update(task, description=f"Uploaded {count}")


def _wait(report: Report, since: datetime, before: set[str], show_progress: bool) -> None:
    target = report.target
    with display.progress(enabled=show_progress) as bar:
        task = bar.add_task("Waiting for the executions", total=len(report.uploads))

        def progress(found: dict[str, ExecutionInfo]) -> None:
            done = sum(1 for e in found.values() if e.done)
            description = f"Executions: {len(found)} started, {done} ended"
            bar.update(task, completed=done, description=description)

        found = follow(
            target,
            target.state_machine_arn,
            {u.key: u.etag for u in report.uploads},
            since=since,
            before=before,
            timeout=report.timeout,
            interval=0.3 if target.local else 2.0,
            on_progress=progress,
        )
    for item in report.uploads:
        item.execution = found.get(item.key)
