"""Executions as the operating commands see them: which upload started one, how it ended,
and what it did state by state. How one ended is read from the execution itself, never
from the dead-letter queue (receiving would hide messages from whoever redrives them).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from imagefn.errors import reason_of
from imagepipe.messages import parse_json as _json
from imagepipe.messages import s3_object_of

if TYPE_CHECKING:
    from imagepipe.target import Target


# Executions started this long before an upload are not its executions (clock skew margin).
SKEW: Final = timedelta(minutes=5)
# How an execution can end without processing its input, and every status the commands
# and the console filter and colour by (ListExecutions' statusFilter values, less
# PENDING_REDRIVE: `redrive` starts new executions, it never calls RedriveExecution).
# https://docs.aws.amazon.com/step-functions/latest/apireference/API_ListExecutions.html
FAILED_STATUSES: Final = ("FAILED", "TIMED_OUT", "ABORTED")
STATUSES: Final = ("RUNNING", "SUCCEEDED", *FAILED_STATUSES)


@dataclass(frozen=True)
class Outcome:
    """How an execution ended, as the dead-letter message would say it."""

    kind: str  # "rejected" or "failed"
    reason: str
    message: str
    error: str | None

    @property
    def detail(self) -> str:
        """The message for people: without its leading "<reason>: ", and a Lambda
        error's errorMessage rather than its JSON (with the stack trace)."""
        text = _short(self.message, limit=500) or ""
        return text.removeprefix(f"{self.reason}:").strip() or text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ExecutionInfo:
    """One execution, described (DescribeExecution), with its input and output parsed."""

    arn: str
    name: str
    status: str
    started: datetime
    stopped: datetime | None
    input: Any
    output: Any
    error: str | None
    cause: str | None

    @classmethod
    def from_description(cls, d: Mapping[str, Any]) -> ExecutionInfo:
        return cls(
            arn=d["executionArn"],
            name=d["name"],
            status=d["status"],
            started=d["startDate"],
            stopped=d.get("stopDate"),
            input=_json(d.get("input")),
            output=_json(d.get("output")),
            error=d.get("error"),
            cause=d.get("cause"),
        )

    @property
    def key(self) -> str | None:
        return (s3_object_of(self.input) or (None, None))[0]

    @property
    def done(self) -> bool:
        return self.status in {"SUCCEEDED", *FAILED_STATUSES}

    @property
    def seconds(self) -> float | None:
        end = self.stopped or (None if self.done else datetime.now(tz=self.started.tzinfo or UTC))
        return (end - self.started).total_seconds() if end else None

    @property
    def _output(self) -> dict[str, Any]:
        return self.output if isinstance(self.output, dict) else {}

    @property
    def renditions(self) -> list[dict[str, Any]]:
        """What the Resize steps returned (the output of a successful execution), with
        each rendition's public URL where the stack serves it."""
        found = self._output.get("renditions") or []
        fields = ("name", "key", "width", "height", "bytes", "format", "url")
        return [
            {k: r.get(k) for k in fields if k != "url" or r.get("url")}
            for r in found
            if isinstance(r, dict)
        ]

    @property
    def manifest_url(self) -> str | None:
        """Where the image's manifest is served: what `Write manifest` returned (in the
        output of a processed upload's execution), None otherwise."""
        delivery = self._output.get("delivery")
        url = delivery.get("manifest") if isinstance(delivery, dict) else None
        return url if isinstance(url, str) and url else None

    @property
    def outcome(self) -> Outcome | None:
        """Why it made no renditions (None if it processed the upload or still runs). A
        rejected upload ends SUCCEEDED (the workflow recorded and announced it) with its
        refusal in the output; executions from before the catalogue failed ImageRejected."""
        refusal = self._output.get("rejection")
        if self.status == "SUCCEEDED" and isinstance(refusal, dict):
            message = str(refusal.get("message") or "")
            reason = str(refusal.get("reason") or reason_of(message) or "rejected")
            return Outcome("rejected", reason, message, "ImageRejected")
        if self.status not in FAILED_STATUSES:  # it processed the upload, or still runs
            return None
        cause = (self.cause or "").strip()
        if self.error == "ImageRejected":
            return Outcome("rejected", reason_of(cause) or "rejected", cause, self.error)
        if self.status == "FAILED":
            return Outcome("failed", "processing_error", cause or (self.error or ""), self.error)
        return Outcome("failed", self.status.lower(), cause or self.status, self.error)

    def to_dict(self, target: Target) -> dict[str, Any]:
        return {
            "arn": self.arn,
            "name": self.name,
            "status": self.status,
            "key": self.key,
            "startDate": _iso(self.started),
            "stopDate": _iso(self.stopped),
            "seconds": _round(self.seconds),
            "consoleUrl": target.console_url(self.arn),
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds") if moment else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def describe(target: Target, arn: str) -> ExecutionInfo:
    sfn = target.client("stepfunctions")
    return ExecutionInfo.from_description(sfn.describe_execution(executionArn=arn))


def describe_if_any(target: Target, arn: str) -> ExecutionInfo | None:
    """DescribeExecution; None if there is no such execution (any longer: Step Functions
    keeps an execution's history for 90 days)."""
    try:
        return describe(target, arn)
    except target.client("stepfunctions").exceptions.ExecutionDoesNotExist:
        return None


def describe_many(target: Target, arns: list[str]) -> list[ExecutionInfo]:
    """DescribeExecution for each ARN, a few at a time, in the order given."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:  # it starts a thread per ARN, up to 8
        return list(pool.map(lambda a: describe(target, a), arns))


def list_summaries(
    target: Target, state_machine_arn: str, *, status: str | None = None, limit: int | None = None
) -> Iterator[dict[str, Any]]:
    """ListExecutions, newest first, the first `limit` (all: None), page by page (lazily:
    stop iterating to stop asking)."""
    sfn = target.client("stepfunctions")
    kwargs = {"statusFilter": status} if status else {}
    config = {"PageSize": min(100, limit or 100)}  # no page larger than the limit
    pages = sfn.get_paginator("list_executions").paginate(
        stateMachineArn=state_machine_arn, PaginationConfig=config, **kwargs
    )
    # AWS lists newest first; sort each page anyway (the emulator need not).
    newest = (sorted(p["executions"], key=lambda e: e["startDate"], reverse=True) for p in pages)
    return itertools.islice(itertools.chain.from_iterable(newest), limit)


def execution_arn(state_machine_arn: str, name: str) -> str:
    """arn:aws:states:r:a:stateMachine:M + name -> arn:aws:states:r:a:execution:M:name."""
    prefix, _, machine = state_machine_arn.rpartition(":stateMachine:")
    return f"{prefix}:execution:{machine}:{name}"


# -- following uploads to their executions ---------------------------------------------


def started_since(target: Target, state_machine_arn: str, since: datetime) -> Iterator[str]:
    """The ARNs of the executions started since `since` (minus SKEW), newest first."""
    recent = itertools.takewhile(
        lambda s: s["startDate"] >= since - SKEW, list_summaries(target, state_machine_arn)
    )
    return (summary["executionArn"] for summary in recent)


def follow(
    target: Target,
    state_machine_arn: str,
    wanted: Mapping[str, str | None],
    *,
    since: datetime,
    before: set[str],
    timeout: float,
    interval: float,
    on_progress: Callable[[dict[str, ExecutionInfo]], None],
) -> dict[str, ExecutionInfo]:
    """Finds the execution each wanted upload (key -> ETag) started, and follows it until
    all have ended or `timeout` passes; returns key -> its execution (latest state) for
    those found (running or missing ones are what timed out).

    An upload's execution is the one whose input names the upload's key and ETag, among
    those not listed before the upload (`before`) and started after it (`since`), minus a
    clock-skew margin. Executions are listed newest first and only back to that moment;
    each is described until it has ended. Uploads may finish in any order.
    """
    deadline = time.monotonic() + timeout
    described: dict[str, ExecutionInfo] = {}
    while True:
        new = [
            arn
            for arn in started_since(target, state_machine_arn, since)
            if arn not in before and (arn not in described or not described[arn].done)
        ]
        described.update((info.arn, info) for info in describe_many(target, new))
        found: dict[str, ExecutionInfo] = {}
        for info in sorted(described.values(), key=lambda e: e.started):
            key, etag = s3_object_of(info.input) or ("", None)  # "": no upload's key
            # The first started after the upload that names its key and (where both are
            # known) its ETag: not an earlier or later version of the same key.
            if key in wanted and not (wanted[key] and etag and etag != wanted[key]):
                found.setdefault(key, info)
        on_progress(found)
        done = len(found) == len(wanted) and all(e.done for e in found.values())
        if done or time.monotonic() >= deadline:
            return found
        time.sleep(interval)


def find_by_key(target: Target, key: str, *, search: int) -> ExecutionInfo | None:
    """The newest execution of the upload state machine (among its newest `search`) whose
    input names `key`, described 16 at a time."""
    summaries = list_summaries(target, target.state_machine_arn, limit=search)
    while batch := [s["executionArn"] for s in itertools.islice(summaries, 16)]:
        for info in describe_many(target, batch):  # newest first, as listed
            if info.key == key:
                return info
    return None


# -- state by state ---------------------------------------------------------------------


@dataclass(kw_only=True)
class Step:
    """One state entered during an execution (a row of the console's table view)."""

    name: str
    type: str
    map: str | None = None  # the Map state this ran in
    iteration: int | None = None  # the Map iteration index
    item: str | None = None  # what the iteration works on: a rendition's name
    depth: int = 0  # Map nesting
    entered: datetime
    exited: datetime | None = None
    attempts: int = 0  # task attempts (Scheduled events)
    error: str | None = None
    cause: str | None = None
    input: Any = None  # the state's input and output, parsed (the console shows them)
    output: Any = None

    @property
    def retries(self) -> int:
        return max(0, self.attempts - 1)

    @property
    def seconds(self) -> float | None:
        return (self.exited - self.entered).total_seconds() if self.exited else None

    def to_dict(self, started: datetime) -> dict[str, Any]:
        """The fields, times in ISO 8601, plus the offset from `started`, duration, retries."""
        return asdict(self) | {
            "entered": _iso(self.entered),
            "exited": _iso(self.exited),
            "offsetSeconds": _round((self.entered - started).total_seconds()),
            "seconds": _round(self.seconds),
            "retries": self.retries,
        }


_TASK_KINDS: Final = ("Task", "LambdaFunction", "Activity")
_MAP_LEVEL: Final = ("MapState", "MapRun")  # events of a Map state itself, not its iterations
_ITERATION_ENDS: Final = frozenset(
    {"MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted"}
)
_MAP_ENDS: Final = frozenset(
    {"MapStateSucceeded", "MapStateFailed", "MapStateAborted", "MapStateExited"}
)
_MAP_FAILS: Final = frozenset({"MapStateFailed", "MapStateAborted"})

Scope = tuple[tuple[str, int], ...]  # the Map iterations (map name, index) around an event


def _details(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event's `<type>EventDetails` (one per event, named after its type)."""
    return next((v for k, v in event.items() if k.endswith("EventDetails")), {})


def item_label(state_input: Any) -> str | None:
    """What a Map iteration works on, from its first state's input: the rendition's
    name (the upload Map's items are renditions), else an item's own name or key."""
    document = _json(state_input)
    if not isinstance(document, dict):
        return None
    for candidate in (document.get("rendition"), document.get("object"), document):
        if isinstance(candidate, dict):
            for field_name in ("name", "key", "Key"):
                if isinstance(candidate.get(field_name), str):
                    return str(candidate[field_name])
    return None


class _Timeline:
    """One pass over an execution's events, oldest first (see `timeline`)."""

    def __init__(self) -> None:
        # event id -> its type, its step (the state whose StateEntered event its
        # previousEventId chain reaches first) and the Map iterations around it
        self.seen: dict[int, tuple[str, Step | None, Scope]] = {}
        self.steps: list[Step] = []
        self.map_of: dict[Scope, Step | None] = {}  # an iteration -> the Map state it runs in
        self.labels: dict[Scope, str | None] = {}
        self.execution_end: datetime | None = None

    def add(self, event: Mapping[str, Any]) -> None:
        eid, kind, at = int(event["id"]), str(event["type"]), event["timestamp"]
        prev = int(event.get("previousEventId") or 0)
        prev_kind, step, here = self.seen.get(prev, ("", None, ()))
        details = _details(event)
        # An iteration is over after its end, or when its Map ends right after a failure
        # inside it; what follows belongs to the Map state again.
        map_ended = kind in _MAP_ENDS and not prev_kind.startswith(_MAP_LEVEL)
        # A Map failing right after one that failed inside its iteration: the outer one
        # (a Map's own failure is followed by its exit, not by another failure).
        map_ended = map_ended or (kind in _MAP_FAILS and prev_kind in _MAP_FAILS)
        if here and (prev_kind in _ITERATION_ENDS or map_ended):
            step, here = self.map_of.get(here), here[:-1]
        if kind == "MapIterationStarted":
            name = str(details.get("name"))
            # Step Functions may start an iteration from the last event of an earlier one
            # of the same Map (as the local stack's does, with MaxConcurrency below the
            # item count): a Map's iteration is never inside one of its own.
            inside = next((i for i, (m, _) in enumerate(here) if m == name), None)
            if inside is not None:
                step, here = self.map_of.get(here[: inside + 1]), here[:inside]
            here = (*here, (name, int(details.get("index", 0))))
            self.map_of[here] = step
        if kind.endswith("StateEntered"):
            step = self.entered(kind, at, here, details)
        elif kind.endswith("StateExited") and step is not None:
            self.exited(step, at, details)
        elif kind == "MapStateFailed" and step is not None:
            step.error = step.error or "failed"  # until its StateExited says which
        elif kind.startswith("Execution") and kind != "ExecutionStarted":
            self.execution_end = at
        elif kind.startswith(_TASK_KINDS) and step is not None:
            self.task(step, kind, at, details)
        self.seen[eid] = (kind, step, here)

    def entered(self, kind: str, at: datetime, here: Scope, details: Mapping[str, Any]) -> Step:
        if here:  # the iteration's first state names its item
            self.labels.setdefault(here, item_label(details.get("input")))
        map_name, iteration = here[-1] if here else (None, None)
        step = Step(
            name=str(details.get("name")),
            type=kind.removesuffix("StateEntered"),
            entered=at,
            depth=len(here),
            map=map_name,
            iteration=iteration,
            item=self.labels.get(here),
            input=_json(details.get("input")),
        )
        self.steps.append(step)
        return step

    def exited(self, step: Step, at: datetime, details: Mapping[str, Any]) -> None:
        step.exited = at
        if "output" in details:
            step.output = _json(details.get("output"))
        if step.type == "Map" and step.error and isinstance(step.output, dict):
            # The error its Catch received; a Catch with ResultPath "$.error" keeps the
            # state and adds the error there.
            inner = step.output.get("error")
            caught: dict[str, Any] = inner if isinstance(inner, dict) else step.output
            step.error = caught.get("Error") or step.error or "failed"
            step.cause = _short(caught.get("Cause")) or step.cause

    def task(self, step: Step, kind: str, at: datetime, details: Mapping[str, Any]) -> None:
        if kind.endswith("Scheduled"):
            step.attempts += 1
            step.error = step.cause = step.exited = None
        elif kind.endswith(("Failed", "TimedOut")):
            step.error = str(details.get("error") or kind)
            step.cause = _short(details.get("cause"))
            step.exited = at  # a failed iteration's state has no StateExited
        elif kind.endswith("Succeeded"):
            step.error = step.cause = None


def timeline(events: Iterable[Mapping[str, Any]], execution: ExecutionInfo) -> list[Step]:
    """The states an execution went through, from GetExecutionHistory's events.

    Each task event belongs to the state whose StateEntered event its previousEventId
    chain reaches first; Map iterations are told apart by the MapIterationStarted event
    their chain passes through, and named by their item (`item_label`). A state's
    attempts are its Scheduled events; its error is the last attempt's failure (a
    retried failure is counted, not shown), or for a Map the error its Catch received,
    or for a Fail state the execution's error.
    """
    state = _Timeline()
    for event in sorted(events, key=lambda e: int(e["id"])):
        state.add(event)
    for step in state.steps:
        if step.type == "Fail":
            step.exited = step.exited or state.execution_end
            step.error = execution.error
            step.cause = _short(execution.cause)
    return state.steps


def _short(text: Any, limit: int = 300) -> str | None:
    """A cause made readable: a Lambda error's JSON shows its errorMessage; long text is cut."""
    if text is None:
        return None
    value = str(text)
    parsed = _json(value)
    if isinstance(parsed, dict) and isinstance(parsed.get("errorMessage"), str):
        value = parsed["errorMessage"]
    return value if len(value) <= limit else value[: limit - 1] + "…"


def history(target: Target, arn: str) -> list[dict[str, Any]]:
    """GetExecutionHistory's events, oldest first."""
    sfn = target.client("stepfunctions")
    pages = sfn.get_paginator("get_execution_history").paginate(
        executionArn=arn, PaginationConfig={"PageSize": 1000}
    )
    return [event for page in pages for event in page["events"]]


def map_runs(target: Target, events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The Distributed Map runs an execution started, with their item counts
    (counts None where DescribeMapRun is not available)."""
    from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

    runs: list[dict[str, Any]] = []
    state: str | None = None
    for event in events:
        if event["type"] == "MapStateEntered":
            state = str(_details(event).get("name"))
        elif event["type"] == "MapRunStarted":
            arn = str(_details(event).get("mapRunArn"))
            try:
                found = target.client("stepfunctions").describe_map_run(mapRunArn=arn)
                counts = {k: int(v) for k, v in (found.get("itemCounts") or {}).items()}
            except ClientError:
                found, counts = {}, None
            run = {"state": state, "mapRunArn": arn, "status": found.get("status")}
            runs.append(run | {"itemCounts": counts})
    return runs
