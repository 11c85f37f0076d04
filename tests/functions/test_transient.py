"""Retryable AWS errors get a name the state machine's Retry can match."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from imagefn.transient import TransientError, is_transient, transient_aws_errors
from infra.asl import DEFINITION_FILE


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "GetObject",
    )


@pytest.mark.parametrize(
    "error",
    [
        client_error("SlowDown", 503),
        client_error("InternalError", 500),
        client_error("Whatever", 502),
        client_error("ThrottlingException", 400),
        EndpointConnectionError(endpoint_url="https://s3"),
        ReadTimeoutError(endpoint_url="https://s3"),
    ],
)
def test_transient_errors_are_renamed(error: Exception) -> None:
    assert is_transient(error)
    with pytest.raises(TransientError) as caught, transient_aws_errors():
        raise error
    assert caught.value.__cause__ is error


@pytest.mark.parametrize(
    "error", [client_error("AccessDenied", 403), client_error("NoSuchKey", 404), ValueError("x")]
)
def test_permanent_errors_pass_through(error: Exception) -> None:
    assert not is_transient(error)
    with pytest.raises(type(error)), transient_aws_errors():
        raise error


def test_the_state_machine_retries_transient_errors_of_both_functions() -> None:
    states = json.loads(DEFINITION_FILE.read_text())["States"]
    resize = states["Make renditions"]["ItemProcessor"]["States"]["Resize"]
    for task in (states["Inspect upload"], resize):
        retried = {e for r in task["Retry"] for e in r["ErrorEquals"]}
        assert {"TransientError", "Lambda.ServiceException"} <= retried
        assert "ImageRejected" not in retried
