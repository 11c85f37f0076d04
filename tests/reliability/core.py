"""Run corpus cases through the imaging core, each in its own process with a time bound.

A process per input keeps one input's memory out of the next one's figure and lets a
hang be killed (`subprocess.run(timeout=...)`); the worker reports its own work time
and peak RSS (see tests.reliability.worker).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from infra.settings import PROJECT_DIR, Settings, load_stack_settings
from tests.reliability.corpus import Case

HANG_SECONDS: Final = 60.0
"""A generous bound: no input takes more than a few seconds; this only catches hangs."""


@dataclass(frozen=True)
class Measured:
    """What one input became in the core, and what it cost."""

    case: Case
    outcome: str
    """"ok", a reason code, "error" (a traceback) or "timeout"."""
    detail: str
    """The rejection message, the error with its traceback, or the renditions made."""
    seconds: float
    """Work time in the worker (Inspect's checks and every rendition)."""
    wall_seconds: float
    """The whole subprocess, interpreter start included."""
    peak_rss_mb: float
    baseline_rss_mb: float
    size: int

    @property
    def accepted(self) -> bool:
        return self.outcome in self.case.expect


def limits_of(settings: Settings) -> dict[str, Any]:
    return {
        "renditions": [r.to_dict() for r in settings.renditions],
        "max_input_bytes": settings.max_input_bytes,
        "max_input_pixels": settings.max_input_pixels,
    }


def worker_env() -> dict[str, str]:
    paths = [str(PROJECT_DIR), str(PROJECT_DIR / "functions")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def run_one(case: Case, path: Path, limits: dict[str, Any], timeout: float) -> Measured:
    started = time.perf_counter()
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "tests.reliability.worker", str(path), json.dumps(limits)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=PROJECT_DIR,
            env=worker_env(),
        )
    except subprocess.TimeoutExpired:
        wall = time.perf_counter() - started
        return Measured(case, "timeout", f"killed after {timeout:.0f}s", wall, wall, 0, 0, 0)
    wall = time.perf_counter() - started
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        detail = f"worker exited {completed.returncode}: {completed.stderr[-2000:]}"
        return Measured(case, "error", detail, wall, wall, 0, 0, 0)
    result = json.loads(lines[-1])
    if result["outcome"] == "ok":
        outcome = "ok"
        detail = ", ".join(f"{r['key']} {r['width']}x{r['height']}" for r in result["renditions"])
    elif result["outcome"] == "rejected":
        outcome, detail = result["reason"], result["message"]
    else:
        outcome, detail = "error", result["traceback"]
    if completed.stderr.strip():
        detail += f"\nstderr: {completed.stderr[-2000:]}"
    return Measured(
        case=case,
        outcome=outcome,
        detail=detail,
        seconds=result["seconds"],
        wall_seconds=wall,
        peak_rss_mb=result["peak_rss_mb"],
        baseline_rss_mb=result["baseline_rss_mb"],
        size=result["bytes"],
    )


def run_core(
    cases: Iterable[Case],
    paths: dict[str, Path],
    *,
    settings: Settings | None = None,
    parallel: int = 2,
    timeout: float = HANG_SECONDS,
) -> list[Measured]:
    """Every case through the core, `parallel` processes at a time, in case order."""
    limits = limits_of(settings or load_stack_settings("dev"))
    cases = list(cases)
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        return list(pool.map(lambda c: run_one(c, paths[c.name], _with(limits, c), timeout),
                             cases))  # fmt: skip


def _with(limits: dict[str, Any], case: Case) -> dict[str, Any]:
    """The limits plus the case's own renditions, if it has any."""
    if not case.renditions:
        return limits
    return {**limits, "renditions": [*limits["renditions"], *case.renditions]}
