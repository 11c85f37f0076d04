"""How long one execution of a definition can run, at worst, read from the definition.

An Express execution stops at 5 minutes without running any Catch: the upload is lost
with no dead letter (https://docs.aws.amazon.com/step-functions/latest/dg/choosing-workflow-type.html).
Settings refuse a Lambda timeout that could get there, so the bound must hold for every
path: it is the longest path through the state graph, where

- a task makes every attempt its retriers allow (1 + the sum of their MaxAttempts: each
  retrier counts its own attempts) and waits the longest backoff before each retry
  (min(IntervalSeconds x BackoffRate^(n-1), MaxDelaySeconds); full jitter only shortens);
- a Lambda attempt runs up to the function's timeout; any other call (S3, SNS, SQS, all
  request/response) up to SERVICE_CALL_SECONDS, an allowance rather than a bound;
- an inline Map runs its items in waves of MaxConcurrency, each wave as long as one item.

The retry numbers are read from the definition files, the one place they are written.
Pure: no Pulumi, so settings can call it before any resource exists.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

from infra import asl

EXPRESS_LIMIT_SECONDS: Final = 300
SERVICE_CALL_SECONDS: Final = 2.0
LAMBDA_INVOKE: Final = "arn:aws:states:::lambda:invoke"


@dataclass(frozen=True)
class Workload:
    """What the definition leaves to configuration."""

    lambda_timeout_seconds: float
    map_items: int
    """Items an inline Map iterates (one per rendition)."""
    map_max_concurrency: int
    """The value of a MaxConcurrency placeholder."""


def retry_waits(retriers: Sequence[Mapping[str, Any]]) -> tuple[int, float]:
    """(retries, seconds waited before them) when every retrier is used up."""
    retries, waited = 0, 0.0
    for retrier in retriers:
        attempts = int(retrier.get("MaxAttempts", 3))
        interval = float(retrier.get("IntervalSeconds", 1))
        rate = float(retrier.get("BackoffRate", 2.0))
        cap = float(retrier.get("MaxDelaySeconds", math.inf))
        retries += attempts
        waited += sum(min(interval * rate**n, cap) for n in range(attempts))
    return retries, waited


def _concurrency(state: Mapping[str, Any], workload: Workload) -> int:
    value = state.get("MaxConcurrency", 0)
    if not isinstance(value, int):  # a ${placeholder}, filled from settings
        value = workload.map_max_concurrency
    return value or workload.map_items  # 0: no bound


def _attempt_seconds(state: Mapping[str, Any], workload: Workload) -> float:
    """One attempt of a state, before its retries."""
    kind = state["Type"]
    if kind == "Task":
        if state.get("Resource") == LAMBDA_INVOKE:
            return workload.lambda_timeout_seconds
        return float(state.get("TimeoutSeconds", SERVICE_CALL_SECONDS))
    if kind == "Map" and state["ItemProcessor"]["ProcessorConfig"].get("Mode") != "DISTRIBUTED":
        waves = math.ceil(workload.map_items / _concurrency(state, workload))
        return waves * longest_seconds(state["ItemProcessor"], workload)
    if kind == "Wait":
        return float(state.get("Seconds", 0))
    return 0.0  # Pass, Choice, Succeed, Fail: no time of their own


def state_seconds(state: Mapping[str, Any], workload: Workload) -> float:
    """A state's worst case: every attempt at its longest, every backoff at its cap."""
    retries, waited = retry_waits(state.get("Retry", []))
    return (1 + retries) * _attempt_seconds(state, workload) + waited


def _successors(state: Mapping[str, Any]) -> list[str]:
    found = [state[k] for k in ("Next", "Default") if k in state]
    return found + [rule["Next"] for rule in state.get("Catch", []) + state.get("Choices", [])]


def longest_seconds(machine: Mapping[str, Any], workload: Workload) -> float:
    """The longest path from StartAt to an end, in seconds (the graphs are acyclic)."""
    states = machine["States"]

    @cache
    def from_state(name: str) -> float:
        state = states[name]
        after = [from_state(n) for n in _successors(state)]
        return state_seconds(state, workload) + max(after, default=0.0)

    return from_state(machine["StartAt"])


def definition_seconds(path: Path, workload: Workload) -> float:
    """The worst case of one execution of the definition file at `path`."""
    return longest_seconds(json.loads(path.read_text(encoding="utf-8")), workload)


def children_seconds(path: Path, workload: Workload) -> float:
    """The worst case of one child execution started by the Distributed Maps in `path`
    (the longest, if several): each child is its own execution, with its own limit."""
    return max(
        (longest_seconds(state["ItemProcessor"], workload) for state in asl.distributed_maps(path)),
        default=0.0,
    )


def child_execution_type(path: Path, workload: Workload) -> str:
    """EXPRESS for the children of `path`'s Distributed Maps when their worst case fits in
    Express's 5 minutes (cheaper per item), STANDARD otherwise: a timed-out Express child
    skips every Catch, so its object would get no dead letter."""
    fits = children_seconds(path, workload) <= EXPRESS_LIMIT_SECONDS
    return "EXPRESS" if fits else "STANDARD"


def longest_lambda_timeout(path: Path, workload: Workload, limit: float) -> int:
    """The longest whole-second Lambda timeout that keeps `path` within `limit` (0: none)."""
    best = 0
    for seconds in range(1, int(limit) + 1):
        candidate = Workload(seconds, workload.map_items, workload.map_max_concurrency)
        if definition_seconds(path, candidate) > limit:
            break
        best = seconds
    return best
