"""Name the AWS errors worth retrying, so the state machine can retry exactly those.

An S3 error raised inside a Lambda reaches Step Functions as errorType "ClientError",
whatever its cause; retrying on that would also retry AccessDenied and NoSuchKey.
Handlers run their work inside `transient_aws_errors()`, which re-raises throttling,
5xx and connection failures (after botocore's own retries) as TransientError, the
errorType the state machine's Retry names.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from botocore.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    ClientError,
    ConnectionError,
    HTTPClientError,
)

RETRYABLE_CODES: Final = frozenset(
    {
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
        "RequestTimeout",
        "RequestTimeoutException",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
    }
)


class TransientError(Exception):
    """A failure that may pass if tried again later (throttling, 5xx, network)."""


def is_transient(error: BaseException) -> bool:
    if isinstance(error, ConnectionError | HTTPClientError):
        return True
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return details.get("Code") in RETRYABLE_CODES or int(status or 0) >= 500
    return False


@contextmanager
def transient_aws_errors() -> Iterator[None]:
    """Re-raise retryable AWS errors as TransientError; let everything else through."""
    try:
        yield
    except (ClientError, ConnectionError, HTTPClientError) as error:
        if is_transient(error):
            raise TransientError(f"{type(error).__name__}: {error}") from error
        raise
