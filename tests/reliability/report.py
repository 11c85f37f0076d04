"""Measure the reliability figures and write docs/reliability.md.

    python -m tests.reliability.report            # or: make reliability
    python -m tests.reliability.report --burst 100 --out /tmp/reliability.md

Runs what the tests in tests/reliability assert on, and writes down what it measured:
every corpus input through the imaging core (one process each, one at a time, so the
times are not shared), `imagepipe render` on representative files, the corpus uploaded
at once to the local stack, every fault scenario, a burst of uploads, and a redrive
after fixing a missing backup bucket. Times are this machine's and moto's, not AWS's:
they show where time goes and that nothing hangs, not what Lambda will take.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from infra.settings import PROJECT_DIR, load_stack_settings
from tests.reliability.core import HANG_SECONDS, Measured, run_core, worker_env
from tests.reliability.corpus import OK, Case, build_corpus, write_corpus
from tests.reliability.test_corpus_core import MEMORY_MARGIN
from tests.reliability.test_corpus_render_cli import REPRESENTATIVE
from tests.support import drive

OUT = PROJECT_DIR / "docs" / "reliability.md"


def _table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    for row in rows:
        cells = [str(c).replace("|", "\\|").replace("\n", " ") for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _s(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds < 100 else f"{seconds:.0f} s"


def _mb(value: float) -> str:
    return f"{value:.0f} MB"


# --------------------------------------------------------------------------------------
# Measuring


def measure_core(cases: list[Case], files: dict[str, Path]) -> list[Measured]:
    return run_core(cases, files, parallel=1)


def measure_render(files: dict[str, Path]) -> dict[str, Any]:
    out = Path(tempfile.mkdtemp(prefix="reliability-render-"))
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "imagepipe",
            "render",
            *(str(files[n]) for n in REPRESENTATIVE),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=HANG_SECONDS * 2,
        check=False,
        cwd=PROJECT_DIR,
        env=worker_env(),
    )
    lines = done.stdout.splitlines()
    return {
        "files": len(REPRESENTATIVE),
        "lines": len(lines),
        "rejected": sum(": rejected: " in line for line in lines),
        "rendered": sum(" -> " in line for line in lines),
        "tracebacks": (done.stdout + done.stderr).count("Traceback"),
        "exit": done.returncode,
        "seconds": time.perf_counter() - started,
    }


def measure_stack(
    cases: list[Case], files: dict[str, Path], burst: int
) -> tuple[Any, Any, Any, dict[str, Any]]:
    from imagepipe.local.stack import deploy_local
    from imagepipe.redrive import redrive
    from tests.reliability.stack_runs import (
        SCENARIOS,
        backup_bucket_missing,
        observe,
        run_burst,
        run_corpus,
        run_scenarios,
    )

    with deploy_local("dev") as stack:
        drive.pump(stack)
        corpus_run = run_corpus(stack, cases, files)
        scenario_runs = run_scenarios(stack, SCENARIOS)
        burst_run = run_burst(stack, burst) if burst else None

        drive.dlq_messages(stack)  # from here on, the queue holds only what the redrive sees
        from imagepipe.local import samples

        keys = [stack.upload_key(f"report-redrive/{n}.jpg") for n in range(5)]
        with backup_bucket_missing(stack):
            for n, key in enumerate(keys):
                drive.upload(stack, samples.jpeg(640, 480, seed=n), key)
            drive.pump(stack)
            depth = stack.queue_depth(stack.dead_letter_queue_url)
            failed = sum(1 for o in observe_without_draining(stack, keys) if o == "FAILED")
        started = time.perf_counter()
        report = redrive(
            stack.clients,
            dead_letter_queue_url=stack.dead_letter_queue_url,
            state_machine_arn=stack.state_machine_arn,
        )
        drive.wait(stack)
        seen = observe(stack, keys)
        recorded = [o.recorded for o in seen.values()]
        redrive_figures = {
            "uploads": len(keys),
            "failed": failed,
            "dead_letters": depth,
            "restarted": report.count("restarted"),
            "succeeded": sum(1 for o in seen.values() if o.status == "SUCCEEDED"),
            "left_in_dlq": stack.queue_depth(stack.dead_letter_queue_url),
            "recorded_processed": recorded.count("processed"),
            "seconds": time.perf_counter() - started,
        }
    return corpus_run, scenario_runs, burst_run, redrive_figures


def observe_without_draining(stack: Any, keys: list[str]) -> list[str]:
    """The last status of each key's executions (the DLQ left alone)."""
    status = {e.key: e.status for e in drive.executions(stack) if e.key in keys}
    return [status.get(k, "NOT STARTED") for k in keys]


# --------------------------------------------------------------------------------------
# Writing


def write(
    out: Path,
    measured: list[Measured],
    render: dict[str, Any],
    corpus_run: Any,
    scenario_runs: Any,
    burst_run: Any,
    redrive_figures: dict[str, Any],
    elapsed: float,
) -> None:
    import moto
    import PIL

    settings = load_stack_settings("dev")
    memory = settings.lambda_memory_mb
    by_time = max(measured, key=lambda m: m.seconds)
    by_wall = max(measured, key=lambda m: m.wall_seconds)
    by_rss = max(measured, key=lambda m: m.peak_rss_mb)
    baseline = min(m.baseline_rss_mb for m in measured)
    outcomes = Counter(m.outcome for m in measured)
    unexpected = [m for m in measured if not m.accepted]
    today = datetime.date.today().isoformat()

    lines = [
        "# Reliability: nothing lost",
        "",
        "Generated by `python -m tests.reliability.report` (`make reliability`); do not edit",
        f"by hand. Measured {today} on {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, Pillow {PIL.__version__}, moto {moto.__version__}; "
        f"the whole run took {_s(elapsed)}.",
        "",
        "The tests in `tests/reliability/` assert what this page measures, without timed",
        "assertions (only 60 s hang guards per input). Times are this machine's and the",
        "emulator's: they show that nothing hangs and where the time goes, not what Lambda",
        "will take.",
        "",
        "## Summary",
        "",
        *_table(
            ["what", "figure"],
            [
                [
                    "bad and odd inputs tried",
                    f"{len(measured)} generated files, "
                    f"{len({m.case.group for m in measured})} kinds",
                ],
                [
                    "outcomes in the imaging core",
                    ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())),
                ],
                [
                    "tracebacks, hangs, unexpected outcomes",
                    f"{outcomes.get('error', 0)}, {outcomes.get('timeout', 0)}, {len(unexpected)}",
                ],
                [
                    "worst-case work time per input",
                    f"{_s(by_time.seconds)} ({by_time.case.name}: {by_time.case.description})",
                ],
                [
                    "worst-case process time per input (interpreter start included)",
                    f"{_s(by_wall.wall_seconds)} ({by_wall.case.name})",
                ],
                [
                    "worst-case peak RSS per input",
                    f"{_mb(by_rss.peak_rss_mb)} ({by_rss.case.name}); baseline "
                    f"{_mb(baseline)}; Lambda memory {memory} MB, limit asserted "
                    f"{MEMORY_MARGIN:.0%} = {_mb(MEMORY_MARGIN * memory)}",
                ],
                ["corpus uploaded at once to the local stack", _stack_summary(corpus_run)],
                ["faults injected", _fault_summary(scenario_runs)],
                ["burst", _burst_summary(burst_run)],
                [
                    "redrive after fixing a missing backup bucket",
                    f"{redrive_figures['failed']}/{redrive_figures['uploads']} failed and "
                    f"dead-lettered; after the fix {redrive_figures['restarted']} restarted, "
                    f"{redrive_figures['succeeded']} succeeded, "
                    f"{redrive_figures['left_in_dlq']} left in the DLQ "
                    f"({_s(redrive_figures['seconds'])})",
                ],
            ],
        ),
        "",
        "## Bad input at scale",
        "",
        "Each input runs in its own process (`tests/reliability/worker.py`), one at a time:",
        "what Inspect does (byte size, the header of the first 64 KiB, a full validation",
        "decode), then Resize for each of the dev stack's renditions. *Work* is that part;",
        "*peak RSS* the process's VmHWM, interpreter, boto3 and Powertools included",
        f"(baseline {_mb(baseline)}).",
        "",
        *_table(
            ["input", "kind", "what it is", "bytes", "outcome", "work", "peak RSS"],
            [
                [
                    m.case.name,
                    m.case.group,
                    m.case.description,
                    f"{m.size:,}",
                    m.outcome + ("" if m.accepted else " (UNEXPECTED)"),
                    _s(m.seconds),
                    _mb(m.peak_rss_mb),
                ]
                for m in measured
            ],
        ),
        "",
        "Worst case per kind:",
        "",
        *_table(
            ["kind", "inputs", "outcomes", "worst work", "worst peak RSS"],
            [
                [
                    group,
                    len(ms),
                    ", ".join(
                        f"{k} {v}" for k, v in sorted(Counter(m.outcome for m in ms).items())
                    ),
                    _s(max(m.seconds for m in ms)),
                    _mb(max(m.peak_rss_mb for m in ms)),
                ]
                for group, ms in _groups(measured)
            ],
        ),
        "",
        f"`imagepipe render` on {render['files']} representative files in one process: "
        f"{render['lines']} lines ({render['rendered']} rendered, {render['rejected']} "
        f"rejected with their reason), exit status {render['exit']}, "
        f"{render['tracebacks']} tracebacks, {_s(render['seconds'])}.",
        "",
        "YCCK: Pillow cannot write it, so `corpus.ycck_jpeg` encodes the YCC of the",
        "inverted C, M, Y channels plus K as a 4-channel JPEG and patches the Adobe APP14",
        "transform byte from 0 to 2; libjpeg decodes it back to the original CMYK (the",
        "test checks it), so the YCCK path is really exercised.",
        "",
        "## Faults on the local stack",
        "",
        "Injected inside moto with `imagepipe.local.faults` (S3 and SNS errors on the",
        "first N calls or on every call, limited to one upload's keys; Lambda service",
        "errors per function). *Failed attempts* are the TaskFailed events in the",
        "execution's history, after botocore's own retries inside the handlers (3",
        "attempts); *retry delays* are the waits between a failed attempt and the next",
        "(Retry: 1 s interval, backoff 2, full jitter).",
        "",
        *_table(
            [
                "scenario",
                "fault",
                "calls failed",
                "failed attempts seen by the state machine",
                "retry delays",
                "execution",
                "dead letter",
                "took",
            ],
            [_scenario_row(r) for r in scenario_runs],
        ),
        "",
    ]
    xfails = [r for r in scenario_runs if r.scenario.xfail]
    if xfails:
        lines += ["Known gaps (the tests mark them xfail):", ""]
        lines += [f"- {r.scenario.name}: {r.scenario.xfail}." for r in xfails]
        lines += [""]
    if burst_run is not None:
        lines += [
            "## A burst of uploads",
            "",
            *_table(
                [
                    "uploads",
                    "images",
                    "not images",
                    "processed",
                    "rejected",
                    "failed",
                    "unaccounted",
                    "dead letters",
                    "duplicate notifications",
                    "executions",
                    "ingest queue after",
                    "upload time",
                    "time to drain",
                ],
                [
                    [
                        burst_run.uploads,
                        burst_run.good,
                        burst_run.bad,
                        burst_run.processed,
                        burst_run.rejected,
                        burst_run.failed,
                        len(burst_run.unaccounted),
                        burst_run.dead_lettered,
                        burst_run.duplicate_notifications,
                        burst_run.executions,
                        burst_run.ingest_depth,
                        _s(burst_run.upload_seconds),
                        _s(burst_run.drain_seconds),
                    ]
                ],
            ),
            "",
        ]
    lines += [
        "## Redrive",
        "",
        f"{redrive_figures['uploads']} uploads while the backup bucket was missing: "
        f"{redrive_figures['failed']} FAILED executions, {redrive_figures['dead_letters']} "
        "dead letters. The bucket created again, `imagepipe redrive` restarted "
        f"{redrive_figures['restarted']} (StartExecution with the original input), "
        f"{redrive_figures['succeeded']} succeeded and "
        f"{redrive_figures['recorded_processed']} are recorded `processed` in the catalogue "
        "(their `failed` records let the same events through again), "
        f"{redrive_figures['left_in_dlq']} messages left in the queue; "
        f"{_s(redrive_figures['seconds'])} from the redrive to the last rendition.",
        "",
    ]
    lines += [
        "## What these figures do not show",
        "",
        "- AWS itself. moto's Step Functions interpreter makes its service integrations'",
        "  SDK calls with no retries of their own, so every S3 CopyObject and SNS Publish",
        "  failure reaches the state machine's Retry; AWS may retry some inside the",
        "  integration. Error names (`S3.S3Exception`, `S3.NoSuchBucketException`,",
        "  `SNS.InternalErrorException`) are the interpreter's, which follows AWS's.",
        "- Lambda's limits. The local runtime enforces no timeout and no memory size;",
        "  memory is measured per input in its own process instead, against the",
        "  configured size with margin.",
        "- RedriveExecution. `imagepipe redrive` starts a new execution with the original",
        "  input: each dead-lettered execution caught its error and ended in a Fail state,",
        "  where RedriveExecution would resume, redoing nothing. moto does not implement",
        "  RedriveExecution either.",
        "",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))


def _groups(measured: list[Measured]) -> list[tuple[str, list[Measured]]]:
    groups: dict[str, list[Measured]] = {}
    for m in measured:
        groups.setdefault(m.case.group, []).append(m)
    return list(groups.items())


def _stack_summary(run: Any) -> str:
    observed = run.observed.values()
    outcomes = Counter(o.outcome for o in observed)
    rendered = outcomes.pop(OK, 0)
    accounted = Counter(o.accounted for o in observed)
    executions = sum(len(o.executions) for o in observed)
    letters = sum(len(o.dead_letters) for o in observed)
    return (
        f"{run.uploads} uploads, {executions} executions: {rendered} with every rendition, "
        f"{sum(outcomes.values())} rejected with their reason "
        f"({', '.join(f'{k} {v}' for k, v in sorted(outcomes.items()))}); in the catalogue "
        f"{accounted['processed']} processed + {accounted['rejected']} rejected + "
        f"{accounted['failed']} failed, {accounted[None]} unaccounted; {letters} dead "
        f"letters; ingest queue {run.ingest_depth} after; {_s(run.seconds)}"
    )


def _fault_summary(runs: Any) -> str:
    passed = [r for r in runs if r.observed.status == r.scenario.expect]
    transient = [r for r in runs if r.scenario.expect == "SUCCEEDED"]
    permanent = [r for r in runs if r.scenario.expect == "FAILED"]
    return (
        f"{len(runs)} scenarios ({len(transient)} transient, {len(permanent)} permanent), "
        f"{sum(r.raised or 0 for r in runs)} failed calls injected; {len(passed)} ended as "
        f"expected (transient: SUCCEEDED, nothing dead-lettered; permanent: FAILED, one "
        f"dead letter each)"
        + (f"; {len(runs) - len(passed)} did not (see below)" if len(passed) != len(runs) else "")
    )


def _burst_summary(run: Any) -> str:
    if run is None:
        return "not run"
    total = run.processed + run.rejected + run.failed
    return (
        f"{run.uploads} uploads, in the catalogue: {run.processed} processed + "
        f"{run.rejected} rejected + {run.failed} failed = {total}; {len(run.unaccounted)} "
        f"unaccounted, {run.duplicate_notifications} duplicate notifications, "
        f"{run.dead_lettered} dead letters, ingest queue {run.ingest_depth} after; drained "
        f"in {_s(run.drain_seconds)}"
    )


def _scenario_row(run: Any) -> list[Any]:
    execution = run.execution
    failures = Counter(run.task_failures)
    letter = run.observed.dead_letters[0] if run.observed.dead_letters else None
    if run.raised is None:
        times = "n/a"
    elif run.times is None:
        times = f"{run.raised} (every call)"
    else:
        times = f"{run.raised} of {run.times}"
    return [
        run.scenario.name,
        run.scenario.fault,
        times,
        ", ".join(f"{k} x{v}" for k, v in failures.items()) or "none",
        ", ".join(f"{d:.1f}" for d in run.retry_delays) or "-",
        (execution.status if execution else "none")
        + (
            ""
            if run.observed.status == run.scenario.expect
            else f" (expected {run.scenario.expect})"
        ),
        f"{letter.kind}: {letter.body.get('error')}" if letter else "-",
        _s(execution.seconds) if execution and execution.seconds is not None else "-",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.report")
    parser.add_argument("--out", type=Path, default=OUT, help=f"default: {OUT}")
    parser.add_argument("--burst", type=int, default=500, help="uploads in the burst (0: skip)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)  # moto's and the handlers' chatter
    started = time.perf_counter()
    cases = build_corpus()
    files = write_corpus(Path(tempfile.mkdtemp(prefix="reliability-corpus-")), cases)
    print(f"core: {len(cases)} inputs, one process each...", file=sys.stderr, flush=True)
    measured = measure_core(cases, files)
    print("imagepipe render...", file=sys.stderr, flush=True)
    render = measure_render(files)
    print("local stack: corpus, faults, burst, redrive...", file=sys.stderr, flush=True)
    corpus_run, scenario_runs, burst_run, redrive_figures = measure_stack(cases, files, args.burst)
    write(
        args.out,
        measured,
        render,
        corpus_run,
        scenario_runs,
        burst_run,
        redrive_figures,
        time.perf_counter() - started,
    )
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
