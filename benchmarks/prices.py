"""The one price table, and the pure arithmetic from usage to dollars.

Public list prices for us-east-1 (US East, N. Virginia), on-demand, first pricing tier,
free tiers ignored, as known on PRICES_AS_OF. They were not fetched by this code and
must be checked against each service's AWS pricing page before anyone quotes them.
The dev stack deploys to eu-west-1, whose prices for these items are the same or a few
percent higher.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

PRICES_AS_OF: Final = "2025-06-01"
REGION: Final = "us-east-1"


@dataclass(frozen=True)
class Prices:
    """USD per unit."""

    lambda_gb_second: Mapping[str, float]  # by architecture
    lambda_request: float
    sfn_standard_transition: float
    sfn_express_request: float
    sfn_express_gb_second: float
    sfn_express_memory_step_mb: int  # Express bills memory in 64 MB steps
    sfn_express_duration_step_ms: int  # and duration in 100 ms steps
    s3_put_class: float  # PUT, COPY, POST, LIST
    s3_get_class: float  # GET, HEAD, SELECT and the rest
    sns_publish: float
    sqs_request: float  # standard queue, per 64 KB chunk
    pipes_request: float  # EventBridge Pipes, per 64 KB chunk of event
    logs_ingest_gb: float  # CloudWatch Logs standard ingestion
    xray_trace: float  # X-Ray, per trace recorded


PRICES: Final = Prices(
    lambda_gb_second={"arm64": 0.0000133334, "x86_64": 0.0000166667},
    lambda_request=0.20 / 1_000_000,
    sfn_standard_transition=0.025 / 1_000,
    sfn_express_request=1.00 / 1_000_000,
    sfn_express_gb_second=0.00001667,
    sfn_express_memory_step_mb=64,
    sfn_express_duration_step_ms=100,
    s3_put_class=0.005 / 1_000,
    s3_get_class=0.0004 / 1_000,
    sns_publish=0.50 / 1_000_000,
    sqs_request=0.40 / 1_000_000,
    pipes_request=0.40 / 1_000_000,
    logs_ingest_gb=0.50,
    xray_trace=5.00 / 1_000_000,
)


@dataclass(frozen=True)
class Usage:
    """What one image costs in billable units."""

    lambda_durations_ms: tuple[float, ...]  # one entry per invocation
    lambda_memory_mb: int
    architecture: str
    state_transitions: float  # Standard
    express_duration_ms: float  # Express: the execution's duration
    s3_put_class: float
    s3_get_class: float
    sns_publishes: float
    sqs_requests: float
    pipes_requests: float
    log_bytes: float
    traces: float
    express_memory_mb: int = 64  # what the execution uses; billed in 64 MB steps

    @property
    def lambda_invocations(self) -> int:
        return len(self.lambda_durations_ms)


def lambda_gb_seconds(durations_ms: tuple[float, ...], memory_mb: int) -> float:
    """Billed GB-seconds: each duration rounded up to the millisecond, memory MB / 1024."""
    billed_ms = sum(math.ceil(d) for d in durations_ms)
    return billed_ms / 1000 * memory_mb / 1024


def express_gb_seconds(duration_ms: float, memory_mb: int, prices: Prices = PRICES) -> float:
    """Billed GB-seconds of one Express execution (100 ms and 64 MB steps)."""
    step_ms = prices.sfn_express_duration_step_ms
    step_mb = prices.sfn_express_memory_step_mb
    billed_ms = max(1, math.ceil(duration_ms / step_ms)) * step_ms
    billed_mb = max(1, math.ceil(memory_mb / step_mb)) * step_mb
    return billed_ms / 1000 * billed_mb / 1024


def cost_per_image(usage: Usage, workflow: str, prices: Prices = PRICES) -> dict[str, float]:
    """USD per image, by line item. ``workflow``: "STANDARD" or "EXPRESS"."""
    if workflow not in ("STANDARD", "EXPRESS"):
        raise ValueError(f"workflow must be STANDARD or EXPRESS, got {workflow!r}")
    if workflow == "STANDARD":
        orchestration = {
            "Step Functions transitions": usage.state_transitions * prices.sfn_standard_transition
        }
    else:
        orchestration = {
            "Step Functions Express requests": prices.sfn_express_request,
            "Step Functions Express duration": express_gb_seconds(
                usage.express_duration_ms, usage.express_memory_mb, prices
            )
            * prices.sfn_express_gb_second,
        }
    return {
        **orchestration,
        "Lambda requests": usage.lambda_invocations * prices.lambda_request,
        "Lambda duration": lambda_gb_seconds(usage.lambda_durations_ms, usage.lambda_memory_mb)
        * prices.lambda_gb_second[usage.architecture],
        "S3 PUT/COPY": usage.s3_put_class * prices.s3_put_class,
        "S3 GET/HEAD": usage.s3_get_class * prices.s3_get_class,
        "SNS publishes": usage.sns_publishes * prices.sns_publish,
        "SQS requests": usage.sqs_requests * prices.sqs_request,
        "EventBridge Pipes": usage.pipes_requests * prices.pipes_request,
        "CloudWatch Logs ingestion": usage.log_bytes / 1e9 * prices.logs_ingest_gb,
        "X-Ray traces": usage.traces * prices.xray_trace,
    }


def per_thousand(breakdown: Mapping[str, float]) -> float:
    """Total USD for 1,000 images."""
    return sum(breakdown.values()) * 1000
