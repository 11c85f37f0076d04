"""Part 4 (pricing): per-image usage from the measurements, and what it costs.

Lambda durations are modelled from the CPU time measured in part 1, not from the local
stack (which runs handlers in this process, on moto, where S3 takes no time):

  duration = CPU time x max(1, VCPU_MB / memory) + S3 time + HANDLER_OVERHEAD_MS

Lambda gives a function CPU in proportion to its memory, one full vCPU at 1,769 MB, and
the resize code is single-threaded, so below 1,769 MB it runs that much slower and above
it no faster. How fast one Lambda vCPU (Graviton for arm64) is against one core of this
machine is unknown: the model assumes 1:1, i.e. the measured local CPU time is the
assumption. S3 time uses the latency and throughput below, also assumptions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from .prices import PRICES, Prices, Usage, cost_per_image

VCPU_MB: Final = 1769  # memory at which a function gets one full vCPU
S3_LATENCY_MS: Final = 20.0  # per request, to first byte / acknowledgement
S3_MB_PER_S: Final = 90.0  # one stream, in-region
S3_COPY_MB_PER_S: Final = 200.0  # server-side copy (Express duration only)
STATE_OVERHEAD_MS: Final = 20.0  # per state transition (Express duration only)
SNS_PUBLISH_MS: Final = 20.0
HANDLER_OVERHEAD_MS: Final = 5.0  # parsing, Powertools logging and metric, per invocation
PLATFORM_LOG_BYTES: Final = 400  # START, END, REPORT (+ X-Ray) lines per invocation
ASSUMPTIONS: Final = (
    f"one Lambda vCPU = one core of this machine; CPU share = min(1, memory / {VCPU_MB} MB)",
    f"S3: {S3_LATENCY_MS:.0f} ms per request + {S3_MB_PER_S:.0f} MB/s; server-side copy "
    f"{S3_COPY_MB_PER_S:.0f} MB/s",
    f"{HANDLER_OVERHEAD_MS:.0f} ms handler overhead per invocation; "
    f"{PLATFORM_LOG_BYTES} bytes of Lambda platform log lines per invocation",
    f"Express duration: {STATE_OVERHEAD_MS:.0f} ms per state transition, "
    f"{SNS_PUBLISH_MS:.0f} ms for the SNS publish, the Map's waves as scheduled below",
    "no retries, no cold starts (INIT is billed too: see the cold start section)",
)


@dataclass(frozen=True)
class Measured:
    """What the benchmark measured for one input, as the cost model needs it."""

    source_bytes: int
    validate_cpu_ms: float  # the inspect Lambda's decode check
    render_cpu_ms: Mapping[str, float]  # rendition -> project render CPU time
    output_bytes: Mapping[str, int]  # rendition -> bytes written


@dataclass(frozen=True)
class Counts:
    """Per image, from the local stack's run (part 4, counting)."""

    transitions: float
    s3_put_class: float
    s3_get_class: float
    sns_publishes: float
    sqs_requests: float
    pipes_requests: float
    lambda_log_bytes_per_invocation: float
    history_bytes: float  # logged by an Express workflow at level ALL


def _s3_ms(size_bytes: float) -> float:
    return S3_LATENCY_MS + size_bytes / 1e6 / S3_MB_PER_S * 1000


def cpu_factor(memory_mb: int) -> float:
    return max(1.0, VCPU_MB / memory_mb)


@dataclass(frozen=True)
class Durations:
    inspect_ms: float
    resize_ms: dict[str, float]
    execution_ms: float  # the whole workflow, start to end


def durations(
    measured: Measured, memory_mb: int, concurrency: int, transitions: float
) -> Durations:
    factor = cpu_factor(memory_mb)
    inspect = (
        measured.validate_cpu_ms * factor
        + S3_LATENCY_MS  # HEAD
        + _s3_ms(measured.source_bytes)  # GET
        + HANDLER_OVERHEAD_MS
    )
    resize = {
        name: cpu * factor
        + _s3_ms(measured.source_bytes)
        + _s3_ms(measured.output_bytes[name])
        + HANDLER_OVERHEAD_MS
        for name, cpu in measured.render_cpu_ms.items()
    }
    # The Map starts up to `concurrency` iterations, each next one when a slot frees.
    slots = [0.0] * max(1, concurrency)
    for ms in resize.values():
        slots[slots.index(min(slots))] += ms
    copy = S3_LATENCY_MS + measured.source_bytes / 1e6 / S3_COPY_MB_PER_S * 1000
    execution = inspect + copy + max(slots) + SNS_PUBLISH_MS + transitions * STATE_OVERHEAD_MS
    return Durations(inspect, resize, execution)


def usage(
    measured: Measured,
    counts: Counts,
    *,
    memory_mb: int,
    architecture: str,
    concurrency: int,
    workflow: str,
) -> tuple[Usage, Durations]:
    d = durations(measured, memory_mb, concurrency, counts.transitions)
    invocations = 1 + len(d.resize_ms)
    log_bytes = invocations * (counts.lambda_log_bytes_per_invocation + PLATFORM_LOG_BYTES)
    if workflow == "EXPRESS":
        log_bytes += counts.history_bytes  # level ALL with execution data
    return (
        Usage(
            lambda_durations_ms=(d.inspect_ms, *d.resize_ms.values()),
            lambda_memory_mb=memory_mb,
            architecture=architecture,
            state_transitions=counts.transitions,
            express_duration_ms=d.execution_ms,
            s3_put_class=counts.s3_put_class,
            s3_get_class=counts.s3_get_class,
            sns_publishes=counts.sns_publishes,
            sqs_requests=counts.sqs_requests,
            pipes_requests=counts.pipes_requests,
            log_bytes=log_bytes,
            traces=1,
        ),
        d,
    )


@dataclass(frozen=True)
class Priced:
    workflow: str
    memory_mb: int
    architecture: str
    breakdown: dict[str, float]  # per image
    durations: Durations

    @property
    def per_thousand(self) -> float:
        return sum(self.breakdown.values()) * 1000


def price(
    measured: Measured,
    counts: Counts,
    *,
    memory_mb: int,
    architecture: str,
    concurrency: int,
    workflows: Sequence[str] = ("STANDARD", "EXPRESS"),
    prices: Prices = PRICES,
) -> list[Priced]:
    out: list[Priced] = []
    for workflow in workflows:
        u, d = usage(
            measured,
            counts,
            memory_mb=memory_mb,
            architecture=architecture,
            concurrency=concurrency,
            workflow=workflow,
        )
        out.append(
            Priced(workflow, memory_mb, architecture, cost_per_image(u, workflow, prices), d)
        )
    return out
