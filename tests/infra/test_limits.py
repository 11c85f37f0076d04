"""Settings refuse, before any resource exists, what AWS would refuse or break on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra import asl, durations, environment
from infra.settings import ConfigError, settings_from_mapping

# --- Express workflows: the 5-minute limit ------------------------------------------------


def test_a_retrier_used_up_waits_its_capped_backoffs() -> None:
    retriers = [
        {"MaxAttempts": 4, "IntervalSeconds": 1, "BackoffRate": 2.0, "MaxDelaySeconds": 5},
        {"MaxAttempts": 2, "IntervalSeconds": 3, "BackoffRate": 1.0},
    ]
    assert durations.retry_waits(retriers) == (6, 1 + 2 + 4 + 5 + 3 + 3)


def test_the_worst_case_is_the_longest_path_with_every_retry() -> None:
    machine = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": durations.LAMBDA_INVOKE,
                "Retry": [{"ErrorEquals": ["X"], "MaxAttempts": 2, "IntervalSeconds": 1}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Slow"}],
                "Next": "Each",
            },
            "Each": {
                "Type": "Map",
                "MaxConcurrency": "${MapMaxConcurrency}",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "One",
                    "States": {
                        "One": {"Type": "Task", "Resource": durations.LAMBDA_INVOKE, "End": True}
                    },
                },
                "End": True,
            },
            "Slow": {"Type": "Wait", "Seconds": 100, "End": True},
        },
    }
    workload = durations.Workload(10, map_items=5, map_max_concurrency=2)
    # Call: 3 attempts of 10 s + waits of 1 and 2; then the longer of the Map (3 waves
    # of 10 s) and the Wait (100 s).
    assert durations.longest_seconds(machine, workload) == 3 * 10 + 1 + 2 + 100


def test_the_retries_are_read_from_the_definition_file(tmp_path: Path) -> None:
    """No second copy of the retry policy: change the file, the worst case follows."""
    workload = durations.Workload(5, map_items=3, map_max_concurrency=10)
    before = durations.definition_seconds(asl.DEFINITION_FILE, workload)
    machine = json.loads(asl.DEFINITION_FILE.read_text())
    machine["States"]["Inspect upload"]["Retry"][1]["MaxAttempts"] += 1
    changed = tmp_path / "pipeline.asl.json"
    changed.write_text(json.dumps(machine))
    # One more attempt of 5 s, and one more backoff (1 x 2^3 s).
    assert durations.definition_seconds(changed, workload) == before + 5 + 8


def shipped_worst_case(settings: Any) -> float:
    """The longest worst case of the workflows `settings` deploys as Express."""
    files = [asl.DEFINITION_FILE] + ([asl.REMOVAL_FILE] if settings.delete_derivatives else [])
    return max(durations.definition_seconds(p, settings.workload) for p in files)


@pytest.mark.parametrize("timeout", [3, 7, 30, None])
@pytest.mark.parametrize("delete_derivatives", [False, True])
def test_express_is_refused_for_every_timeout_with_the_shipped_retries(
    timeout: int | None, delete_derivatives: bool
) -> None:
    """With the catalogue writes and delivery steps, the upload workflow's retries alone
    pass Express's 5 minutes even at a 1 s Lambda timeout: STANDARD is required."""
    values: dict[str, Any] = {"deleteDerivatives": delete_derivatives}
    if timeout is not None:
        values["lambdaTimeoutSeconds"] = timeout
    standard = settings_from_mapping(values)
    assert (
        durations.definition_seconds(
            asl.DEFINITION_FILE, durations.Workload(1, 3, standard.map_max_concurrency)
        )
        > durations.EXPRESS_LIMIT_SECONDS
    )
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(values | {"workflowType": "EXPRESS"})
    message = str(caught.value)
    assert message.startswith("imagepipeline:workflowType: EXPRESS is refused"), message
    assert f"{shipped_worst_case(standard):.0f} s" in message, message
    assert f"{durations.EXPRESS_LIMIT_SECONDS} s" in message, message
    assert "workflowType STANDARD" in message and "no dead letter" in message, message
    assert "\n" not in message


def test_standard_takes_any_timeout() -> None:
    assert settings_from_mapping({"workflowType": "STANDARD", "lambdaTimeoutSeconds": 900})


def short_definition(tmp_path: Path) -> Path:
    """A workflow short enough for Express at some timeouts: one Lambda task with one
    retrier, then a Map of one Lambda task per rendition."""
    lambda_task = {"Type": "Task", "Resource": durations.LAMBDA_INVOKE}
    machine = {
        "StartAt": "Inspect",
        "States": {
            "Inspect": lambda_task
            | {"Retry": [{"ErrorEquals": ["X"], "MaxAttempts": 1}], "Next": "Each"},
            "Each": {
                "Type": "Map",
                "MaxConcurrency": "${MapMaxConcurrency}",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Resize",
                    "States": {"Resize": lambda_task | {"End": True}},
                },
                "End": True,
            },
        },
    }
    path = tmp_path / "pipeline.asl.json"
    path.write_text(json.dumps(machine))
    return path


def test_express_would_take_a_timeout_a_shorter_workflow_fits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rule itself: a workflow whose worst case can fit names the longest timeout."""
    monkeypatch.setattr(asl, "DEFINITION_FILE", short_definition(tmp_path))
    workload = durations.Workload(100, 3, 10)
    longest = durations.longest_lambda_timeout(asl.DEFINITION_FILE, workload, 300)
    assert longest == 99  # 2 attempts of Inspect, 1 s between, 1 wave of Resize: 3 x 99 + 1
    assert settings_from_mapping({"workflowType": "EXPRESS", "lambdaTimeoutSeconds": longest})
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping({"workflowType": "EXPRESS", "lambdaTimeoutSeconds": longest + 1})
    message = str(caught.value)
    assert message.startswith("imagepipeline:lambdaTimeoutSeconds: "), message
    assert f"use at most {longest}" in message, message


def test_express_counts_renditions_beyond_the_map_concurrency_as_waves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(asl, "DEFINITION_FILE", short_definition(tmp_path))
    renditions = [{"name": f"r{i}", "width": 10, "height": 10} for i in range(4)]
    values = {"workflowType": "EXPRESS", "lambdaTimeoutSeconds": 60, "renditions": renditions}
    assert settings_from_mapping(values)  # 2 + 1 wave of 60 s
    with pytest.raises(ConfigError, match="lambdaTimeoutSeconds"):
        settings_from_mapping(values | {"mapMaxConcurrency": 1})  # 2 + 4 waves


def test_the_removal_workflow_is_checked_too() -> None:
    """Its own worst case: the longest timeout that fits, and one second more does not."""
    workload = durations.Workload(60, 3, 10)
    longest = durations.longest_lambda_timeout(asl.REMOVAL_FILE, workload, 300)
    assert longest > 0
    fits = durations.Workload(longest, 3, 10)
    assert durations.definition_seconds(asl.REMOVAL_FILE, fits) <= 300
    past = durations.Workload(longest + 1, 3, 10)
    assert durations.definition_seconds(asl.REMOVAL_FILE, past) > 300


# --- Lambda environment: 4 KB for all of a function's variables ----------------------------


def many_renditions(count: int, name_length: int = 20) -> list[dict[str, Any]]:
    return [
        {"name": f"{i:03d}".ljust(name_length, "x"), "width": 100 + i, "height": 100}
        for i in range(count)
    ]


def test_too_many_renditions_for_a_lambda_environment_are_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping({"renditions": many_renditions(40)})
    message = str(caught.value)
    assert message.startswith("imagepipeline:renditions: "), message
    assert "4096" in message and "Inspect" in message, message


def test_the_size_is_measured_on_the_environment_the_program_deploys(deploy_with: Any) -> None:
    """The check and the program build the variables with one function: what the check
    measured is what the functions get, and a stack near the limit deploys."""
    settings = settings_from_mapping({"renditions": many_renditions(28)})
    deployed = deploy_with(settings)
    for kind in ("inspect", "resize", "manifest"):
        fn = deployed.one("aws:lambda/function:Function", f"-{kind}")
        variables = fn.inputs["environment"]["variables"]
        assert (
            variables
            == environment.environments(
                settings, variables["DESTINATION_BUCKET"], "https://d111111abcdef8.cloudfront.net"
            )[kind]
        )
        assert environment.size_bytes(variables) <= environment.LIMIT_BYTES


def test_size_is_the_compact_json_lambda_measures() -> None:
    assert environment.size_bytes({"A": "1", "B": 'x"y'}) == len('{"A":"1","B":"x\\"y"}')
