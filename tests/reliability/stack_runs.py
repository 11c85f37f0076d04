"""Runs on the local stack that both the tests and the report use: the corpus in one
batch, injected faults, a burst of uploads. Each returns what it saw; the tests assert
on it and `python -m tests.reliability.report` writes it down.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from unittest.mock import patch

from imagefn.imaging import key_stem
from imagepipe.catalogue import CatalogueRecord, scan_records
from imagepipe.executions import ExecutionInfo as Execution
from imagepipe.local import samples
from imagepipe.local.stack import LocalStack
from imagepipe.messages import DeadLetter
from tests.reliability.corpus import OK, Case
from tests.support import drive, faults

PUMP_SECONDS: Final = 600.0
"""A hang guard for waiting on executions, not a performance bound."""


# --------------------------------------------------------------------------------------
# Looking at what uploads became


@dataclass
class Observed:
    """Everything one upload (its key) caused on the stack."""

    key: str
    executions: list[Execution] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    renditions: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    """The `event` attribute of each notification about it (image.processed, ...)."""
    record: CatalogueRecord | None = None
    """Its catalogue record, as the workflow left it."""

    @property
    def notifications(self) -> int:
        return len(self.events)

    @property
    def status(self) -> str:
        return self.executions[-1].status if self.executions else "NOT STARTED"

    @property
    def recorded(self) -> str:
        return self.record.status if self.record else "no record"

    @property
    def outcome(self) -> str:
        """ "ok" (processed: succeeded with renditions), the rejection's reason (recorded
        and announced, the execution succeeded), the dead-letter reason of a failure, or
        what went wrong."""
        if self.status == "SUCCEEDED" and self.renditions and self.recorded == "processed":
            return OK
        if self.status == "SUCCEEDED" and self.record and self.recorded == "rejected":
            return str(self.record.reason)
        if len(self.dead_letters) == 1:
            return self.dead_letters[0].reason
        return f"{self.status}, {self.recorded}, with {len(self.dead_letters)} dead letters"

    @property
    def accounted(self) -> str | None:
        """processed, rejected or failed when everything about the upload says so (the
        catalogue, the execution, the notifications, the dead-letter queue), else None."""
        succeeded, letters = self.status == "SUCCEEDED", len(self.dead_letters)
        if self.recorded == "processed" and succeeded and not letters:
            return "processed" if self.events == ["image.processed"] else None
        if self.recorded == "rejected" and succeeded and not letters:
            return "rejected" if self.events == ["image.rejected"] else None
        if self.recorded == "failed" and not succeeded and letters == 1 and not self.events:
            return "failed"
        return None


def observe(stack: LocalStack, keys: Iterable[str]) -> dict[str, Observed]:
    """What each key became: executions, dead letters, renditions, notifications and
    its catalogue record.

    Drains the dead-letter and notification queues into the stack handle (see
    drive.dlq_messages): call it after the work is done.
    """
    seen = {key: Observed(key) for key in keys}
    for execution in drive.executions(stack):
        if execution.key in seen:
            seen[execution.key].executions.append(execution)
    for letter in drive.dlq_messages(stack):
        if letter.key in seen:
            seen[letter.key].dead_letters.append(letter)
    for note in drive.notifications(stack):
        source = note.message.get("source", {}) if isinstance(note.message, dict) else {}
        if source.get("key") in seen:
            seen[source["key"]].events.append(note.attributes.get("event", ""))
    dynamodb = stack.clients.client("dynamodb")
    for record in scan_records(dynamodb, stack.outputs["catalogueTable"]):
        if record.key in seen:
            seen[record.key].record = record
    stems = {
        key_stem(key, stack.settings.upload_prefix): observed for key, observed in seen.items()
    }
    for rendition_key in drive.objects(stack, stack.destination_bucket):
        name, _, rest = rendition_key.partition("/")
        stem = rest.rpartition(".")[0]
        if stem in stems and any(r.name == name for r in stack.settings.renditions):
            stems[stem].renditions.append(rendition_key)
    return seen


def task_failures(stack: LocalStack, execution: Execution) -> list[str]:
    """Error names of every failed task attempt, in order."""
    failed = []
    for event in drive.history(stack, execution.arn):
        if event["type"] == "TaskFailed":
            failed.append(str(event["taskFailedEventDetails"].get("error")))
    return failed


def retry_delays(stack: LocalStack, execution: Execution) -> list[float]:
    """Seconds between each failed task attempt and the next attempt at the same task
    (what Retry's backoff and jitter waited)."""
    pending: dict[str, list[Any]] = {}
    delays = []
    for event in drive.history(stack, execution.arn):
        if event["type"] == "TaskFailed":
            resource = event["taskFailedEventDetails"].get("resource", "")
            pending.setdefault(resource, []).append(event["timestamp"])
        elif event["type"] == "TaskScheduled":
            resource = event["taskScheduledEventDetails"].get("resource", "")
            waiting = pending.get(resource)
            if waiting:
                delays.append((event["timestamp"] - waiting.pop(0)).total_seconds())
    return delays


# --------------------------------------------------------------------------------------
# The corpus, one batch


@dataclass
class CorpusRun:
    uploads: int
    seconds: float
    observed: dict[str, Observed]
    """Case name -> what its upload became."""
    ingest_depth: int


def run_corpus(stack: LocalStack, cases: list[Case], files: dict[str, Path]) -> CorpusRun:
    """Upload every case at once under one prefix, pump until done, observe."""
    prefix = f"corpus-{time.time_ns():x}/"
    keys = {case.name: stack.upload_key(prefix + case.name) for case in cases}
    started = time.perf_counter()
    for case in cases:
        drive.upload(stack, files[case.name], keys[case.name])
    drive.pump(stack, timeout=PUMP_SECONDS)
    seconds = time.perf_counter() - started
    seen = observe(stack, keys.values())
    return CorpusRun(
        uploads=len(cases),
        seconds=seconds,
        observed={name: seen[key] for name, key in keys.items()},
        ingest_depth=stack.queue_depth(stack.ingest_queue_url),
    )


# --------------------------------------------------------------------------------------
# Faults

FaultFactory = Callable[[LocalStack, str], AbstractContextManager[Any]]
"""(stack, the upload's key) -> the fault, as a context manager."""


@dataclass(frozen=True)
class Scenario:
    name: str
    fault: str
    """What is injected, for people."""
    make: FaultFactory
    expect: str
    """"SUCCEEDED" (retried until it passed) or "FAILED" (dead-lettered)."""
    keyed: bool = True
    """The fault only touches this upload, so it can run alongside the others."""
    failures: tuple[str, ...] | None = None
    """The failed task attempts the history must show, in order (None: not checked, as
    when parallel resizes share the faults)."""
    xfail: str | None = None
    """Why the pipeline does not do what it should yet (the test is marked xfail)."""


def _source(stack: LocalStack, key: str) -> dict[str, str]:
    return {"bucket": stack.source_bucket, "key": key}


def _renditions_of(stack: LocalStack, key: str) -> dict[str, str]:
    return {
        "bucket": stack.destination_bucket,
        "key_contains": f"/{key_stem(key, stack.settings.upload_prefix)}.",
    }


@contextmanager
def backup_bucket_missing(stack: LocalStack) -> Iterator[str]:
    """The backup bucket deleted (emptied first) while inside; created again on the way
    out, empty and without its policies: the fix an operator would make."""
    s3 = stack.clients.client("s3")
    bucket = stack.backup_bucket
    for key in drive.objects(stack, bucket):
        s3.delete_object(Bucket=bucket, Key=key)
    s3.delete_bucket(Bucket=bucket)
    try:
        yield bucket
    finally:
        s3.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": stack.clients.region}
        )


@contextmanager
def s3_unmodelled_error(
    operation: faults.S3Operation, code: str, status: int, **where: str
) -> Iterator[faults.Fault]:
    """A permanent S3 error whose code no SDK model names: the SDK integration reports it
    as S3.S3Exception, the status only in the cause (faults.s3_error knows the codes the
    pipeline meets; this adds one for the test)."""
    with (
        patch.dict(faults.S3_STATUS, {code: status}),
        faults.s3_error(operation, code, times=None, **where) as fault,
    ):
        yield fault


ALWAYS: Final = 10_000
"""A Lambda fault's `times` that stands for every call (faults.LambdaFault counts down)."""

SCENARIOS: Final[tuple[Scenario, ...]] = (
    Scenario(
        "s3-get-slowdown-2",
        "S3 GetObject SlowDown (503) x2 on the upload",
        lambda s, k: faults.s3_error("get_object", "SlowDown", times=2, **_source(s, k)),
        "SUCCEEDED",
        failures=(),  # botocore's own retries (3 attempts) absorb them
    ),
    Scenario(
        "s3-get-slowdown-4",
        "S3 GetObject SlowDown (503) x4 on the upload",
        lambda s, k: faults.s3_error("get_object", "SlowDown", times=4, **_source(s, k)),
        "SUCCEEDED",
        failures=("TransientError",),  # 3 in one invocation, then Retry
    ),
    Scenario(
        "s3-get-500-4",
        "S3 GetObject InternalError (500) x4 on the upload",
        lambda s, k: faults.s3_error("get_object", "InternalError", times=4, **_source(s, k)),
        "SUCCEEDED",
        failures=("TransientError",),
    ),
    Scenario(
        "s3-put-slowdown-6",
        "S3 PutObject SlowDown (503) x6 on its renditions",
        lambda s, k: faults.s3_error("put_object", "SlowDown", times=6, **_renditions_of(s, k)),
        "SUCCEEDED",
    ),
    Scenario(
        "s3-put-503-4",
        "S3 PutObject ServiceUnavailable (503) x4 on its renditions",
        lambda s, k: faults.s3_error(
            "put_object", "ServiceUnavailable", times=4, **_renditions_of(s, k)
        ),
        "SUCCEEDED",
    ),
    Scenario(
        "s3-copy-slowdown-2",
        "S3 CopyObject SlowDown (503) x2 into the backup bucket",
        lambda s, k: faults.s3_error(
            "copy_object", "SlowDown", times=2, bucket=s.backup_bucket, key=k
        ),
        "SUCCEEDED",
        failures=("S3.S3Exception", "S3.S3Exception"),  # no SDK retries in the integration
    ),
    Scenario(
        "sns-500-1",
        "SNS Publish InternalError (500) x1",
        lambda s, k: faults.sns_publish_error("InternalError", times=1, contains=k),
        "SUCCEEDED",
        failures=("SNS.InternalErrorException",),
    ),
    Scenario(
        "sns-throttled-2",
        "SNS Publish Throttled (429) x2",
        lambda s, k: faults.sns_publish_error("Throttled", times=2, contains=k),
        "SUCCEEDED",
        failures=("SNS.ThrottledException",) * 2,
    ),
    Scenario(
        "s3-get-slowdown-always",
        "S3 GetObject SlowDown (503) on every attempt",
        lambda s, k: faults.s3_error("get_object", "SlowDown", times=None, **_source(s, k)),
        "FAILED",
        failures=("TransientError",) * 4,  # the first attempt and 3 retries
    ),
    Scenario(
        "s3-get-denied",
        "S3 GetObject AccessDenied (403), permanent",
        lambda s, k: faults.s3_error("get_object", "AccessDenied", times=None, **_source(s, k)),
        "FAILED",
        failures=("AccessDenied",),  # not retried
    ),
    Scenario(
        "s3-put-denied",
        "S3 PutObject AccessDenied (403) on its renditions, permanent",
        lambda s, k: faults.s3_error(
            "put_object", "AccessDenied", times=None, **_renditions_of(s, k)
        ),
        "FAILED",
    ),
    Scenario(
        "s3-copy-412",
        "S3 CopyObject PreconditionFailed (412) into the backup bucket, permanent",
        lambda s, k: s3_unmodelled_error(
            "copy_object", "PreconditionFailed", 412, bucket=s.backup_bucket, key=k
        ),
        "FAILED",
        # S3.S3Exception, like a SlowDown, but the 4xx in its cause dead-letters it at once.
        failures=("S3.S3Exception",),
    ),
    Scenario(
        "sns-not-found",
        "SNS Publish NotFound (404: the topic is gone), permanent",
        lambda s, k: faults.sns_publish_error("NotFound", times=None, contains=k),
        "FAILED",
        failures=("SNS.NotFoundException",),
    ),
    Scenario(
        "backup-bucket-missing",
        "the backup bucket deleted (S3 CopyObject: NoSuchBucket, 404)",
        lambda s, k: backup_bucket_missing(s),
        "FAILED",
        keyed=False,
        failures=("S3.NoSuchBucketException",),  # a modelled error: not retried
    ),
    Scenario(
        "lambda-service-2",
        "Inspect: Lambda.ServiceException x2",
        lambda s, k: faults.lambda_error(drive.function_name(s, "inspect"), times=2),
        "SUCCEEDED",
        keyed=False,
        failures=("Lambda.ServiceException", "Lambda.ServiceException"),
    ),
    Scenario(
        "lambda-throttled-3",
        "Resize: Lambda.TooManyRequestsException x3",
        lambda s, k: faults.lambda_error(
            drive.function_name(s, "resize"), "Lambda.TooManyRequestsException", times=3
        ),
        "SUCCEEDED",
        keyed=False,
        failures=("Lambda.TooManyRequestsException",) * 3,
    ),
    Scenario(
        "lambda-service-always",
        "Inspect: Lambda.ServiceException on every attempt",
        lambda s, k: faults.lambda_error(drive.function_name(s, "inspect"), times=ALWAYS),
        "FAILED",
        keyed=False,
        failures=("Lambda.ServiceException",) * 5,  # the first attempt and 4 retries
    ),
)


@dataclass
class ScenarioRun:
    scenario: Scenario
    key: str
    observed: Observed
    times: int | None
    """How many calls the fault was to fail (None: all of them)."""
    raised: int | None
    """How many calls it failed (None: not a counted fault, such as a deleted bucket)."""
    task_failures: list[str]
    retry_delays: list[float]

    @property
    def execution(self) -> Execution | None:
        return self.observed.executions[-1] if self.observed.executions else None


class _NotCounted:
    times = None
    raised = None


def _counter(fault: Any) -> Any:
    """Something with `times` and `raised` for any fault a scenario makes."""
    if isinstance(fault, faults.Fault):
        return fault
    if hasattr(fault, "remaining"):
        return _CountedLambdaFault(fault)
    return _NotCounted()


class _CountedLambdaFault:
    """faults.LambdaFault counts down `remaining`; remember where it started."""

    def __init__(self, fault: Any) -> None:
        self.fault = fault
        self.start: int = fault.remaining
        self.times = None if self.start >= ALWAYS else self.start

    @property
    def raised(self) -> int:
        return int(self.start - self.fault.remaining)


def run_scenarios(stack: LocalStack, scenarios: Iterable[Scenario]) -> list[ScenarioRun]:
    """Keyed scenarios all at once (one pump), then the others one by one."""
    scenarios = list(scenarios)
    runs: list[ScenarioRun] = []
    data = samples.jpeg(480, 320, seed=7)
    batch = f"faults-{time.time_ns():x}"

    def go(group: list[Scenario]) -> None:
        keys = {s.name: stack.upload_key(f"{batch}/{s.name}/photo.jpg") for s in group}
        counters: dict[str, Any] = {}
        with ExitStack() as entered:
            for s in group:
                fault = entered.enter_context(s.make(stack, keys[s.name]))
                counters[s.name] = _counter(fault)
            for s in group:
                drive.upload(stack, data, keys[s.name])
            drive.pump(stack, timeout=PUMP_SECONDS)
            # Counted before the faults are removed (leaving spends a Lambda fault).
            counted = {name: (c.times, c.raised) for name, c in counters.items()}
        seen = observe(stack, keys.values())
        for s in group:
            observed = seen[keys[s.name]]
            execution = observed.executions[-1] if observed.executions else None
            runs.append(
                ScenarioRun(
                    scenario=s,
                    key=keys[s.name],
                    observed=observed,
                    times=counted[s.name][0],
                    raised=counted[s.name][1],
                    task_failures=task_failures(stack, execution) if execution else [],
                    retry_delays=retry_delays(stack, execution) if execution else [],
                )
            )

    keyed = [s for s in scenarios if s.keyed]
    if keyed:
        go(keyed)
    for s in scenarios:
        if not s.keyed:
            go([s])
    order = {s.name: i for i, s in enumerate(scenarios)}
    return sorted(runs, key=lambda r: order[r.scenario.name])


# --------------------------------------------------------------------------------------
# A burst of uploads


@dataclass
class BurstRun:
    uploads: int
    good: int
    bad: int
    processed: int
    rejected: int
    failed: int
    """Each as the catalogue records it, and the rest agreeing (Observed.accounted)."""
    dead_lettered: int
    duplicate_notifications: int
    """Notifications beyond one per upload."""
    executions: int
    ingest_depth: int
    upload_seconds: float
    drain_seconds: float
    unaccounted: list[str]
    letters: list[str] = field(default_factory=list)
    """Each dead letter as "key: error: message", to say what failed."""


def run_burst(stack: LocalStack, uploads: int = 500, bad_every: int = 10) -> BurstRun:
    """`uploads` small files at once, one in `bad_every` not an image; then account for
    every one through the catalogue: processed (renditions, one image.processed),
    rejected (one image.rejected, no dead letter) or failed (exactly one dead letter)."""
    good_bytes = samples.jpeg(96, 64, seed=5)
    prefix = f"burst-{time.time_ns():x}/"
    keys = {stack.upload_key(f"{prefix}{i:04d}.jpg"): i % bad_every != 0 for i in range(uploads)}
    started = time.perf_counter()
    for key, good in keys.items():
        drive.upload(stack, good_bytes if good else b"this is not a picture\n", key)
    uploaded = time.perf_counter()
    drive.pump(stack, timeout=PUMP_SECONDS)
    drained = time.perf_counter()
    seen = observe(stack, keys)
    expected = len(stack.settings.renditions)
    accounted = {
        k: o.accounted
        for k, o in seen.items()
        if o.accounted and (o.accounted != "processed" or len(o.renditions) == expected)
    }
    outcomes = list(accounted.values())
    return BurstRun(
        uploads=uploads,
        good=sum(keys.values()),
        bad=uploads - sum(keys.values()),
        processed=outcomes.count("processed"),
        rejected=outcomes.count("rejected"),
        failed=outcomes.count("failed"),
        dead_lettered=sum(len(o.dead_letters) for o in seen.values()),
        duplicate_notifications=sum(max(0, o.notifications - 1) for o in seen.values()),
        executions=sum(len(o.executions) for o in seen.values()),
        ingest_depth=stack.queue_depth(stack.ingest_queue_url),
        upload_seconds=uploaded - started,
        drain_seconds=drained - uploaded,
        unaccounted=sorted(set(keys) - set(accounted)),
        letters=[
            f"{key}: {letter.body.get('error')}: {str(letter.body.get('message'))[:300]}"
            for key, o in seen.items()
            for letter in o.dead_letters
        ],
    )
