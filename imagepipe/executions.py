"""Executions as the operating commands see them: which upload started one, how it ended,
and what it did state by state. How one ended is read from the execution itself, never
from the dead-letter queue (receiving would hide messages from whoever redrives them).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Protocol

from imagefn.errors import reason_of
from imagepipe.messages import parse_json as _json
from imagepipe.messages import s3_object_of

if TYPE_CHECKING:
    from imagepipe.target import Target


class HasClients(Protocol):  # a Target, or the local stack's Clients
    def client(self, service: str) -> Any: ...


TERMINAL: Final = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
# Executions started this long before an upload are not its executions (clock skew margin).
SKEW: Final = timedelta(minutes=5)


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
        found = s3_object_of(self.input)
        return found[0] if found else None

    @property
    def etag(self) -> str | None:
        found = s3_object_of(self.input)
        return found[1] if found else None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @property
    def seconds(self) -> float | None:
        end = self.stopped
        if end is None and not self.done:
            end = datetime.now(tz=self.started.tzinfo or UTC)
        return (end - self.started).total_seconds() if end else None

    @property
    def renditions(self) -> list[dict[str, Any]]:
        """What the Resize steps returned (the output of a successful execution), with
        each rendition's public URL where the stack serves it."""
        if not isinstance(self.output, dict):
            return []
        found = self.output.get("renditions") or []
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
        delivery = self.output.get("delivery") if isinstance(self.output, dict) else None
        url = delivery.get("manifest") if isinstance(delivery, dict) else None
        return url if isinstance(url, str) and url else None

    @property
    def outcome(self) -> Outcome | None:
        """Why it made no renditions (None if it processed the upload or still runs). A
        rejected upload ends SUCCEEDED (the workflow recorded and announced it) with its
        refusal in the output; executions from before the catalogue failed ImageRejected."""
        refusal = self.output.get("rejection") if isinstance(self.output, dict) else None
        if self.status == "SUCCEEDED" and isinstance(refusal, dict):
            message = str(refusal.get("message") or "")
            reason = str(refusal.get("reason") or reason_of(message) or "rejected")
            return Outcome("rejected", reason, message, "ImageRejected")
        if self.status in {"SUCCEEDED", "RUNNING", "PENDING_REDRIVE"}:
            return None
        cause = (self.cause or "").strip()
        if self.error == "ImageRejected":
            reason = reason_of(cause) or "rejected"
            return Outcome("rejected", reason, cause, self.error)
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


def describe(target: HasClients, arn: str) -> ExecutionInfo:
    sfn = target.client("stepfunctions")
    return ExecutionInfo.from_description(sfn.describe_execution(executionArn=arn))


def describe_many(target: HasClients, arns: list[str]) -> list[ExecutionInfo]:
    """DescribeExecution for each ARN, a few at a time, in the order given."""
    if len(arns) <= 1:
        return [describe(target, a) for a in arns]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(8, len(arns))) as pool:
        return list(pool.map(lambda a: describe(target, a), arns))


def list_summaries(
    target: Target,
    state_machine_arn: str,
    *,
    status: str | None = None,
    page_size: int = 100,
) -> Iterator[dict[str, Any]]:
    """ListExecutions, newest first, page by page (lazily: stop iterating to stop asking)."""
    sfn = target.client("stepfunctions")
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"stateMachineArn": state_machine_arn, "maxResults": page_size}
        if status:
            kwargs["statusFilter"] = status
        if token:
            kwargs["nextToken"] = token
        page = sfn.list_executions(**kwargs)
        # AWS lists newest first; sort each page anyway (the emulator need not).
        yield from sorted(page["executions"], key=lambda e: e["startDate"], reverse=True)
        token = page.get("nextToken")
        if not token:
            return


def execution_arn(state_machine_arn: str, name: str) -> str:
    """arn:aws:states:r:a:stateMachine:M + name -> arn:aws:states:r:a:execution:M:name."""
    prefix, _, machine = state_machine_arn.rpartition(":stateMachine:")
    return f"{prefix}:execution:{machine}:{name}"


# -- following uploads to their executions ---------------------------------------------


@dataclass
class Follower:
    """Finds the execution each upload started, and follows it to its end.

    An upload's execution is the one whose input names the upload's key and ETag,
    among those not listed before the upload (`snapshot`) and started after it, minus a
    clock-skew margin. Executions are listed newest first and only back to that moment;
    each is described once. Uploads may finish in any order.
    """

    target: Target
    state_machine_arn: str
    since: datetime = field(default_factory=lambda: datetime.now(tz=UTC))
    _before: set[str] = field(default_factory=set)
    _described: dict[str, ExecutionInfo] = field(default_factory=dict)

    def _recent(self) -> Iterator[str]:
        """The ARNs of the executions started since `since` (minus SKEW), newest first."""
        for summary in list_summaries(self.target, self.state_machine_arn):
            if summary["startDate"] < self.since - SKEW:
                return
            yield summary["executionArn"]

    def snapshot(self) -> None:
        """Remember the executions that exist now: none of them is an upload's."""
        self._before.update(self._recent())

    def poll(self, wanted: Mapping[str, str | None]) -> dict[str, ExecutionInfo]:
        """Key -> its execution (latest state) for the wanted keys (key -> ETag) found."""
        new = [
            arn
            for arn in self._recent()
            if arn not in self._before
            and (arn not in self._described or not self._described[arn].done)
        ]
        for info in describe_many(self.target, new):
            self._described[info.arn] = info
        found: dict[str, ExecutionInfo] = {}
        for info in sorted(self._described.values(), key=lambda e: e.started):
            key = info.key
            if key is None or key not in wanted:
                continue
            etag = wanted[key]
            if etag and info.etag and info.etag != etag:
                continue  # an earlier (or later) version of the same key
            found.setdefault(key, info)  # the first one started after the upload
        return found

    def follow(
        self,
        wanted: Mapping[str, str | None],
        *,
        timeout: float,
        interval: float,
        on_progress: Callable[[dict[str, ExecutionInfo]], None] | None = None,
    ) -> dict[str, ExecutionInfo]:
        """Poll until every wanted key's execution has ended or `timeout` passes; returns
        what was found (running or missing ones are what timed out)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.poll(wanted)
            if on_progress is not None:
                on_progress(found)
            done = len(found) == len(wanted) and all(e.done for e in found.values())
            if done or time.monotonic() >= deadline:
                return found
            time.sleep(interval)


def find_by_key(
    target: Target, state_machine_arn: str, key: str, *, search: int
) -> ExecutionInfo | None:
    """The newest execution (among the newest `search`) whose input names `key`,
    described 16 at a time."""
    summaries = itertools.islice(list_summaries(target, state_machine_arn), search)
    while batch := [s["executionArn"] for s in itertools.islice(summaries, 16)]:
        for info in describe_many(target, batch):  # newest first, as listed
            if info.key == key:
                return info
    return None


# -- state by state ---------------------------------------------------------------------


@dataclass
class Step:
    """One state entered during an execution (a row of the console's table view)."""

    name: str
    type: str
    entered: datetime
    exited: datetime | None = None
    depth: int = 0  # Map nesting
    map: str | None = None  # the Map state this ran in
    iteration: int | None = None  # the Map iteration index
    item: str | None = None  # what the iteration works on: a rendition's name
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
        return {
            "name": self.name,
            "type": self.type,
            "map": self.map,
            "iteration": self.iteration,
            "item": self.item,
            "depth": self.depth,
            "entered": _iso(self.entered),
            "exited": _iso(self.exited),
            "offsetSeconds": _round((self.entered - started).total_seconds()),
            "seconds": _round(self.seconds),
            "attempts": self.attempts,
            "retries": self.retries,
            "error": self.error,
            "cause": self.cause,
            "input": self.input,
            "output": self.output,
        }


_TASK_KINDS: Final = ("Task", "LambdaFunction", "Activity")
_ITERATION_ENDS: Final = frozenset(
    {"MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted"}
)
_MAP_ENDS: Final = frozenset(
    {"MapStateSucceeded", "MapStateFailed", "MapStateAborted", "MapStateExited"}
)
_MAP_EVENTS: Final = _MAP_ENDS | {
    "MapStateEntered", "MapStateStarted", "MapRunStarted", "MapRunSucceeded", "MapRunFailed",
    "MapRunAborted",
}  # fmt: skip

Scope = tuple[tuple[str, int], ...]  # the Map iterations (map name, index) around an event


def _details(event: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


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
        self.by_id: dict[int, Mapping[str, Any]] = {}
        self.owner: dict[int, int] = {}  # event id -> its StateEntered event id
        self.scope: dict[int, Scope] = {}
        self.steps: list[Step] = []
        self.step_of: dict[int, Step] = {}  # StateEntered id -> step
        self.open_maps: dict[Scope, list[Step]] = {}
        self.failed_maps: set[int] = set()
        self.labels: dict[Scope, str | None] = {}
        self.execution_end: datetime | None = None

    def scope_of(self, kind: str, prev: int, details: Mapping[str, Any]) -> Scope:
        prev_kind = str(self.by_id[prev]["type"]) if prev in self.by_id else ""
        here = self.scope.get(prev, ())
        if prev_kind in _ITERATION_ENDS:
            here = here[:-1]  # the iteration is over
        elif kind in _MAP_ENDS and prev_kind not in _MAP_EVENTS:
            here = here[:-1]  # a Map ends right after a failure inside one of its iterations
        if kind == "MapIterationStarted":
            here = (*here, (str(details.get("name")), int(details.get("index", 0))))
        return here

    def step_for(self, eid: int) -> Step | None:
        """The step of the StateEntered event that `eid`'s previousEventId chain reaches
        first (remembered for every event on the way)."""
        path: list[int] = []
        current, found = eid, None
        while current and current in self.by_id:
            if current in self.owner:
                found = self.owner[current]
                break
            if str(self.by_id[current]["type"]).endswith("StateEntered"):
                found = current
                break
            path.append(current)
            current = int(self.by_id[current].get("previousEventId") or 0)
        if found is None:
            return None
        self.owner.update(dict.fromkeys(path, found))
        return self.step_of.get(found)

    def add(self, event: Mapping[str, Any]) -> None:
        eid, kind, at = int(event["id"]), str(event["type"]), event["timestamp"]
        self.by_id[eid] = event
        prev = int(event.get("previousEventId") or 0)
        details = _details(event)
        here = self.scope[eid] = self.scope_of(kind, prev, details)
        if kind.endswith("StateEntered"):
            self.entered(eid, kind, at, here, details)
        elif kind.endswith("StateExited"):
            self.exited(prev, kind, at, here, details)
        elif kind == "MapStateFailed":
            candidates = self.open_maps.get(here) or []
            if candidates:
                self.failed_maps.add(id(candidates[-1]))
                candidates[-1].error = candidates[-1].error or "failed"
        elif kind.startswith("Execution") and kind != "ExecutionStarted":
            self.execution_end = at
        elif kind.startswith(_TASK_KINDS):
            self.task(eid, kind, at, details)

    def entered(
        self, eid: int, kind: str, at: datetime, here: Scope, details: Mapping[str, Any]
    ) -> None:
        if here and here not in self.labels:  # the iteration's first state: its item
            self.labels[here] = item_label(details.get("input"))
        step = Step(
            name=str(details.get("name")),
            type=kind.removesuffix("StateEntered"),
            entered=at,
            depth=len(here),
            map=here[-1][0] if here else None,
            iteration=here[-1][1] if here else None,
            item=self.labels.get(here) if here else None,
            input=_json(details.get("input")),
        )
        self.steps.append(step)
        self.step_of[eid] = step
        self.owner[eid] = eid
        if step.type == "Map":
            self.open_maps.setdefault(here, []).append(step)

    def exited(
        self, prev: int, kind: str, at: datetime, here: Scope, details: Mapping[str, Any]
    ) -> None:
        current: Step | None
        if kind == "MapStateExited":  # follows the last iteration, not the entry
            candidates = self.open_maps.get(here) or []
            current = next((s for s in reversed(candidates) if s.name == details.get("name")), None)
            if current is not None:
                candidates.remove(current)
        else:
            current = self.step_for(prev)
        if current is None:
            return
        current.exited = at
        if "output" in details:
            current.output = _json(details.get("output"))
        if id(current) in self.failed_maps and isinstance(current.output, dict):
            # The error its Catch received; a Catch with ResultPath "$.error" keeps the
            # state and adds the error there.
            inner = current.output.get("error")
            caught: dict[str, Any] = inner if isinstance(inner, dict) else current.output
            current.error = caught.get("Error") or current.error or "failed"
            current.cause = _short(caught.get("Cause")) or current.cause

    def task(self, eid: int, kind: str, at: datetime, details: Mapping[str, Any]) -> None:
        current = self.step_for(eid)
        if current is None:
            return
        if kind.endswith("Scheduled"):
            current.attempts += 1
            current.error = current.cause = current.exited = None
        elif kind.endswith(("Failed", "TimedOut")):
            current.error = str(details.get("error") or kind)
            current.cause = _short(details.get("cause"))
            current.exited = at  # a failed iteration's state has no StateExited
        elif kind.endswith("Succeeded"):
            current.error = current.cause = None


def timeline(
    events: Iterable[Mapping[str, Any]], execution: ExecutionInfo | None = None
) -> list[Step]:
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
            if execution is not None:
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


def history(target: HasClients, arn: str) -> list[dict[str, Any]]:
    """GetExecutionHistory's events, oldest first."""
    sfn = target.client("stepfunctions")
    events: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
        if token:
            kwargs["nextToken"] = token
        page = sfn.get_execution_history(**kwargs)
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            return events


def map_runs(target: Target, events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The Distributed Map runs an execution started, with their item counts
    (counts None where DescribeMapRun is not available)."""
    from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

    runs: list[dict[str, Any]] = []
    state: str | None = None
    for event in events:
        if event["type"] == "MapStateEntered":
            state = str(_details(event).get("name"))
        if event["type"] != "MapRunStarted":
            continue
        arn = str(_details(event).get("mapRunArn"))
        run: dict[str, Any] = {"state": state, "mapRunArn": arn, "status": None, "itemCounts": None}
        try:
            described = target.client("stepfunctions").describe_map_run(mapRunArn=arn)
        except ClientError:
            pass
        else:
            run["status"] = described.get("status")
            run["itemCounts"] = {k: int(v) for k, v in (described.get("itemCounts") or {}).items()}
        runs.append(run)
    return runs
