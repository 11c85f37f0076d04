"""The cost arithmetic of the benchmarks (benchmarks/prices.py): counts and prices in, USD out."""

from __future__ import annotations

import dataclasses

import pytest

from benchmarks.prices import (
    PRICES,
    Usage,
    cost_per_image,
    express_gb_seconds,
    lambda_gb_seconds,
    per_thousand,
)

# Round prices, so the expected numbers can be worked out by hand.
ROUND = dataclasses.replace(
    PRICES,
    lambda_gb_second={"arm64": 0.00001, "x86_64": 0.00002},
    lambda_request=0.000001,
    sfn_standard_transition=0.00002,
    sfn_express_request=0.000001,
    sfn_express_gb_second=0.00001,
    s3_put_class=0.000005,
    s3_get_class=0.0000004,
    sns_publish=0.0000005,
    sqs_request=0.0000004,
    pipes_request=0.0000004,
    logs_ingest_gb=0.5,
    xray_trace=0.000005,
)

USAGE = Usage(
    lambda_durations_ms=(100.0, 250.4, 649.1),  # billed 100 + 251 + 650 = 1001 ms
    lambda_memory_mb=2048,
    architecture="arm64",
    state_transitions=7,
    express_duration_ms=1234.0,  # billed 1300 ms
    s3_put_class=4,
    s3_get_class=5,
    sns_publishes=1,
    sqs_requests=3,
    pipes_requests=1,
    log_bytes=2_000,
    traces=1,
)


def test_lambda_gb_seconds_round_each_duration_up_to_the_millisecond() -> None:
    assert lambda_gb_seconds((100.0, 250.4, 649.1), 2048) == pytest.approx(1.001 * 2)
    assert lambda_gb_seconds((0.2,), 1024) == pytest.approx(0.001)
    assert lambda_gb_seconds((), 1024) == 0


def test_express_bills_100_ms_and_64_mb_steps() -> None:
    assert express_gb_seconds(1234.0, 64) == pytest.approx(1.3 * 64 / 1024)
    assert express_gb_seconds(1234.0, 65) == pytest.approx(1.3 * 128 / 1024)
    assert express_gb_seconds(10.0, 1) == pytest.approx(0.1 * 64 / 1024)


def test_standard_cost_by_line_item() -> None:
    cost = cost_per_image(USAGE, "STANDARD", ROUND)
    assert cost == pytest.approx(
        {
            "Step Functions transitions": 7 * 0.00002,
            "Lambda requests": 3 * 0.000001,
            "Lambda duration": 1.001 * 2 * 0.00001,
            "S3 PUT/COPY": 4 * 0.000005,
            "S3 GET/HEAD": 5 * 0.0000004,
            "SNS publishes": 0.0000005,
            "SQS requests": 3 * 0.0000004,
            "EventBridge Pipes": 0.0000004,
            "CloudWatch Logs ingestion": 2_000 / 1e9 * 0.5,
            "X-Ray traces": 0.000005,
        }
    )
    assert per_thousand(cost) == pytest.approx(sum(cost.values()) * 1000)


def test_express_replaces_transitions_with_requests_and_duration() -> None:
    standard = cost_per_image(USAGE, "STANDARD", ROUND)
    express = cost_per_image(USAGE, "EXPRESS", ROUND)
    assert "Step Functions transitions" not in express
    assert express["Step Functions Express requests"] == pytest.approx(0.000001)
    assert express["Step Functions Express duration"] == pytest.approx(1.3 * 0.0625 * 0.00001)
    shared = set(standard) - {"Step Functions transitions"}
    assert {k: express[k] for k in shared} == pytest.approx({k: standard[k] for k in shared})


def test_architecture_picks_the_lambda_price() -> None:
    x86 = dataclasses.replace(USAGE, architecture="x86_64")
    arm = cost_per_image(USAGE, "STANDARD", ROUND)["Lambda duration"]
    assert cost_per_image(x86, "STANDARD", ROUND)["Lambda duration"] == pytest.approx(2 * arm)


def test_unknown_workflow_is_refused() -> None:
    with pytest.raises(ValueError, match="STANDARD or EXPRESS"):
        cost_per_image(USAGE, "LEGACY", ROUND)


def test_the_price_table_is_per_unit_usd() -> None:
    # Guards against a price entered per 1,000 or per million by mistake.
    assert PRICES.lambda_request == pytest.approx(0.20 / 1e6)
    assert PRICES.sfn_standard_transition == pytest.approx(0.025 / 1e3)
    assert PRICES.s3_put_class == pytest.approx(0.005 / 1e3)
    assert PRICES.lambda_gb_second["arm64"] < PRICES.lambda_gb_second["x86_64"]
