"""Fault injection for the local stack: make moto's services fail the way AWS fails.

Each injector is a context manager that makes the next `times` matching calls fail
(`times=None`: every call, a permanent fault) and yields a `Fault` that counts what it
raised. The faults are raised inside moto, behind the SDK: the caller's botocore sees
a real error response (status code, error code, message) and applies its own retry
policy, then the handler or the state machine applies theirs, as against AWS.

- `s3_error("get_object", "SlowDown", times=2, bucket=..., key=...)`: S3 API calls
  GetObject, PutObject, CopyObject or HeadObject answer with an S3 error (SlowDown and
  ServiceUnavailable: 503, InternalError: 500, AccessDenied: 403, ...). Patched on moto's
  S3 request handlers, one per API operation, rather than on `S3Backend`, whose
  `get_object` also serves HeadObject and the copy's read and whose `put_object` also
  writes the copy: a fault then counts API calls, as a caller sees them.
- `sns_publish_error("InternalError", times=1)`: SNS Publish fails (moto's SNS error
  model gives the status: InternalError 500, Throttled 429, KMSThrottling 400, ...).
- `stepfunctions_error("start_execution", "ThrottlingException")`: a Step Functions
  API call fails (the pipe's StartExecution, a redrive's).
- `dynamodb_error("put_item", "ProvisionedThroughputExceededException", key=...)`: a
  DynamoDB item call fails (the catalogue writes of the workflows' integrations).
- `lambda_error("resize-fn", "Lambda.ServiceException", times=1)`: the Lambda service
  fails the Invoke call, or (any other name) the function fails with that errorType;
  `inject_lambda_fault` is the same without the `with` block.

Faults are process-wide, as moto is: match them to one test's bucket and key (or topic
message text) when executions run side by side. Leaving the `with` block removes the
fault, and the patch once no fault uses it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from xml.sax.saxutils import escape

S3Operation = Literal["get_object", "put_object", "copy_object", "head_object"]

S3_STATUS: Final[Mapping[str, int]] = {
    "SlowDown": 503,
    "ServiceUnavailable": 503,
    "InternalError": 500,
    "RequestTimeout": 400,
    "AccessDenied": 403,
    "NoSuchBucket": 404,
    "NoSuchKey": 404,
}
"""The S3 error codes an injector knows, with the status S3 answers them with."""

Matcher = Callable[[Any, tuple[Any, ...], dict[str, Any]], bool]
"""(moto object the method is called on, positional args, keyword args) -> applies?"""


@dataclass
class Fault:
    """One injected fault: `code` on the next `times` calls `when` matches."""

    target: str
    """What fails, for people: "S3 GetObject", "SNS Publish", ..."""
    code: str
    times: int | None
    """None: every matching call fails (a permanent fault)."""
    make_error: Callable[[], Exception] = field(repr=False)
    when: Matcher | None = field(default=None, repr=False)
    raised: int = 0
    """Calls failed so far."""

    @property
    def permanent(self) -> bool:
        return self.times is None

    def _take(self, owner: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        if self.times is not None and self.raised >= self.times:
            return False
        if self.when is not None and not self.when(owner, args, kwargs):
            return False
        self.raised += 1
        return True


_lock = threading.RLock()
_faults: dict[tuple[type, str], list[Fault]] = {}
_originals: dict[tuple[type, str], Any] = {}


def _patch(cls: type, method: str) -> None:
    slot = (cls, method)
    if slot in _originals:
        return
    original = cls.__dict__[method]

    @functools.wraps(original)
    def failing(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _lock:
            fault = next((f for f in _faults.get(slot, []) if f._take(self, args, kwargs)), None)
        if fault is not None:
            raise fault.make_error()
        return original(self, *args, **kwargs)

    _originals[slot] = original
    setattr(cls, method, failing)


def _unpatch_unused() -> None:
    for slot in [s for s, faults in _faults.items() if not faults]:
        cls, method = slot
        setattr(cls, method, _originals.pop(slot))
        del _faults[slot]


@contextmanager
def inject(cls: type, method: str, fault: Fault) -> Iterator[Fault]:
    """Make `cls.method` (a moto class's own method) raise `fault`'s error while inside."""
    with _lock:
        _patch(cls, method)
        _faults.setdefault((cls, method), []).append(fault)
    try:
        yield fault
    finally:
        with _lock:
            _faults[(cls, method)].remove(fault)
            _unpatch_unused()


def clear() -> None:
    """Remove every injected fault (the `with` blocks' exits become no-ops)."""
    with _lock:
        for faults in _faults.values():
            faults.clear()
        _unpatch_unused()
    with _lambda_lock:
        _lambda_faults.clear()


def active() -> list[Fault]:
    with _lock:
        return [f for faults in _faults.values() for f in faults]


# --------------------------------------------------------------------------------------
# S3


def _s3_error(code: str, message: str) -> Exception:
    """An S3 error response (REST-XML `<Error>`), as moto's request dispatcher sends an
    HTTPException: its status, its headers, its body."""
    from werkzeug.exceptions import HTTPException

    status = S3_STATUS[code]
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        "<RequestId>injected</RequestId><HostId>injected</HostId></Error>"
    )

    class S3Fault(HTTPException):
        def __init__(self) -> None:
            super().__init__(description=body)
            self.code = status

        def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
            # botocore reads S3's request ids from these headers (Step Functions'
            # error cause quotes them).
            return [
                ("Content-Type", "application/xml"),
                ("x-amz-request-id", "INJECTED"),
                ("x-amz-id-2", "injected"),
            ]

        def get_body(self, *args: Any, **kwargs: Any) -> str:
            return body

    return S3Fault()


_S3_NAMES: Final[Mapping[str, str]] = {
    "get_object": "GetObject",
    "put_object": "PutObject",
    "copy_object": "CopyObject",
    "head_object": "HeadObject",
}


def _s3_request_target(handler: Any, operation: str, args: tuple[Any, ...]) -> tuple[str, str]:
    """Bucket and key of the request moto's S3 handler is serving (CopyObject: the
    destination)."""
    if operation == "head_object":  # head_object(bucket_name, query, key_name, headers)
        return str(args[0]), str(args[2])
    return str(handler.bucket_name), str(handler.parse_key_name())


@contextmanager
def s3_error(
    operation: S3Operation,
    code: str = "SlowDown",
    *,
    times: int | None = 1,
    bucket: str | None = None,
    key: str | None = None,
    key_contains: str | None = None,
    message: str = "",
) -> Iterator[Fault]:
    """Fail the next `times` S3 `operation` API calls; only those on `bucket`, on `key`,
    on keys containing `key_contains`, when given."""
    from moto.s3.responses import S3Response

    if code not in S3_STATUS:
        raise ValueError(f"unknown S3 error {code}; known: {sorted(S3_STATUS)}")
    if operation not in _S3_NAMES:
        raise ValueError(f"unknown S3 operation {operation}; known: {sorted(_S3_NAMES)}")
    text = message or f"injected {code} on {_S3_NAMES[operation]}"

    def when(handler: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        if bucket is None and key is None and key_contains is None:
            return True
        try:
            got_bucket, got_key = _s3_request_target(handler, operation, args)
        except Exception:  # not a request this fault can name: leave it alone
            return False
        return (
            (bucket is None or got_bucket == bucket)
            and (key is None or got_key == key)
            and (key_contains is None or key_contains in got_key)
        )

    fault = Fault(
        target=f"S3 {_S3_NAMES[operation]}",
        code=code,
        times=times,
        make_error=lambda: _s3_error(code, text),
        when=when,
    )
    with inject(S3Response, operation, fault):
        yield fault


# --------------------------------------------------------------------------------------
# SNS, Step Functions, Lambda


def _sns_error(code: str, message: str) -> Exception:
    """An SNS error as moto's SNS raises them: moto serializes it with SNS's error model,
    which gives the HTTP status (InternalError 500, Throttled 429, ...)."""
    from moto.sns.exceptions import SNSException

    return SNSException(code, message)


STEPFUNCTIONS_STATUS: Final[Mapping[str, int]] = {
    "ThrottlingException": 400,
    "ExecutionLimitExceeded": 400,
    "ServiceUnavailable": 503,
    "InternalServerError": 500,
}


def _stepfunctions_error(code: str, message: str) -> Exception:
    """A Step Functions (JSON protocol) error, as moto's Step Functions raises them."""
    from moto.core.exceptions import AWSError

    return AWSError(message, exception_type=code, status=STEPFUNCTIONS_STATUS.get(code, 400))


@contextmanager
def sns_publish_error(
    code: str = "InternalError",
    *,
    times: int | None = 1,
    contains: str | None = None,
    message: str = "",
) -> Iterator[Fault]:
    """Fail the next `times` SNS Publish calls (whose message contains `contains`)."""
    from moto.sns.models import SNSBackend

    text = message or f"injected {code} on Publish"

    def when(backend: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        published = kwargs.get("message", args[0] if args else "")
        return contains is None or contains in str(published)

    fault = Fault("SNS Publish", code, times, lambda: _sns_error(code, text), when)
    with inject(SNSBackend, "publish", fault):
        yield fault


@contextmanager
def stepfunctions_error(
    operation: str = "start_execution",
    code: str = "ThrottlingException",
    *,
    times: int | None = 1,
    message: str = "",
) -> Iterator[Fault]:
    """Fail the next `times` Step Functions `operation` calls (moto's interpreter backend,
    the one the local stack runs)."""
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    text = message or f"injected {code} on {operation}"
    fault = Fault(
        f"Step Functions {operation}", code, times, lambda: _stepfunctions_error(code, text)
    )
    with inject(StepFunctionsParserBackend, operation, fault):
        yield fault


# -- DynamoDB --------------------------------------------------------------------------

# DynamoDB errors a fault can imitate: code -> HTTP status (JSON protocol: botocore reads
# the code from __type, the status decides whether Step Functions sees a 4xx or 5xx).
DYNAMODB_STATUS: Final[Mapping[str, int]] = {
    "ProvisionedThroughputExceededException": 400,
    "ThrottlingException": 400,
    "RequestLimitExceeded": 400,
    "InternalServerError": 500,
}
DynamoDBOperation = Literal["put_item", "update_item", "get_item", "query"]


def _dynamodb_error(code: str, message: str) -> Exception:
    from moto.dynamodb.exceptions import DynamodbException

    error = DynamodbException("com.amazonaws.dynamodb.v20120810#" + code, message)
    error.code = DYNAMODB_STATUS[code]
    return error


def _dynamodb_item_key(operation: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The catalogue key (its "key" attribute) an item request is about, if it has one."""
    found = kwargs.get("item_attrs" if operation == "put_item" else "key")
    if found is None and len(args) > 1 and operation in {"put_item", "update_item", "get_item"}:
        found = args[1]
    value = (found or {}).get("key") if isinstance(found, Mapping) else None
    return value.get("S") if isinstance(value, Mapping) else None


@contextmanager
def dynamodb_error(
    operation: DynamoDBOperation,
    code: str = "ProvisionedThroughputExceededException",
    *,
    times: int | None = 1,
    key: str | None = None,
    message: str = "",
) -> Iterator[Fault]:
    """Fail the next `times` DynamoDB `operation` calls (on the item whose "key" is `key`,
    when given), as a throttled or failing table answers the workflow's integrations."""
    from moto.dynamodb.models import DynamoDBBackend

    if code not in DYNAMODB_STATUS:
        raise ValueError(f"unknown DynamoDB error {code}; known: {sorted(DYNAMODB_STATUS)}")
    text = message or f"injected {code} on {operation}"

    def when(backend: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        return key is None or _dynamodb_item_key(operation, args, kwargs) == key

    fault = Fault(f"DynamoDB {operation}", code, times, lambda: _dynamodb_error(code, text), when)
    with inject(DynamoDBBackend, operation, fault):
        yield fault


# -- Lambda ----------------------------------------------------------------------------

# Lambda service errors a fault can imitate: API error code -> HTTP status.
LAMBDA_SERVICE_ERRORS: Final = {
    "ServiceException": 500,
    "AWSLambdaException": 500,
    "TooManyRequestsException": 429,
    "ResourceNotReadyException": 502,
}
_MARK: Final = "_imagepipe_fault_hook"


@dataclass
class LambdaFault:
    """Fail the next `remaining` invocations of `function` with `error_type`."""

    function: str
    error_type: str
    remaining: int
    message: str = "injected fault"

    @property
    def is_service_error(self) -> bool:
        return self.error_type.startswith("Lambda.")


_lambda_faults: list[LambdaFault] = []
_lambda_lock = threading.Lock()


def _take_lambda_fault(function_name: str, *, service: bool) -> LambdaFault | None:
    with _lambda_lock:
        for fault in _lambda_faults:
            if (
                fault.function == function_name
                and fault.remaining > 0
                and fault.is_service_error == service
            ):
                fault.remaining -= 1
                return fault
    return None


def _lambda_service_error(fault: LambdaFault) -> Exception:
    from moto.core.exceptions import JsonRESTError

    code = fault.error_type.removeprefix("Lambda.")
    error: Exception = JsonRESTError(code, fault.message)
    error.code = LAMBDA_SERVICE_ERRORS[code]  # type: ignore[attr-defined]  # the HTTP status
    return error


def _hook_lambda() -> None:
    """Put the fault checks in front of the local runtime's Invoke and handlers.

    Invoke: moto's LambdaFunction.invoke (the local runtime's, once installed) raises the
    service error before anything runs. Handler: the handler the runtime loads raises
    an exception of the fault's errorType, which the runtime reports as Lambda does.
    Re-applied on each injection: closing a local stack gives moto its own invoke back.
    """
    from moto.awslambda.models import LambdaFunction

    from imagepipe.local import lambda_runtime

    current_invoke: Any = LambdaFunction.invoke
    if not getattr(current_invoke, _MARK, False):

        def invoke(fn: Any, body: Any, request_headers: Any, response_headers: Any) -> Any:
            fault = _take_lambda_fault(fn.function_name, service=True)
            if fault is not None:
                raise _lambda_service_error(fault)
            return current_invoke(fn, body, request_headers, response_headers)

        setattr(invoke, _MARK, True)
        function_class: Any = LambdaFunction
        function_class.invoke = invoke
    current_load: Any = lambda_runtime.load_handler
    if not getattr(current_load, _MARK, False):

        def load_handler(fn: Any) -> Any:
            handler = current_load(fn)

            def faulty(event: Any, context: Any) -> Any:
                fault = _take_lambda_fault(fn.function_name, service=False)
                if fault is not None:
                    error_class: type[Exception] = type(fault.error_type, (Exception,), {})
                    raise error_class(fault.message)
                return handler(event, context)

            return faulty

        setattr(load_handler, _MARK, True)
        runtime: Any = lambda_runtime
        runtime.load_handler = load_handler


def inject_lambda_fault(
    function: str, error_type: str = "Lambda.ServiceException", times: int = 1, message: str = ""
) -> LambdaFault:
    """Make the next `times` invocations of `function` (name or ARN) fail.

    `Lambda.<Code>` (Code in LAMBDA_SERVICE_ERRORS) fails the Invoke API call itself, as
    when the Lambda service has a problem; any other name fails the function with that
    errorType. `clear()` forgets every pending fault.
    """
    name = function.split(":function:")[-1].split(":")[0]
    code = error_type.removeprefix("Lambda.")
    if error_type.startswith("Lambda.") and code not in LAMBDA_SERVICE_ERRORS:
        raise ValueError(
            f"unknown Lambda service error {error_type}; known: {sorted(LAMBDA_SERVICE_ERRORS)}"
        )
    _hook_lambda()
    fault = LambdaFault(name, error_type, times, message or f"injected {error_type}")
    with _lambda_lock:
        _lambda_faults.append(fault)
    return fault


@contextmanager
def lambda_error(
    function: str, error_type: str = "Lambda.ServiceException", *, times: int = 1
) -> Iterator[LambdaFault]:
    """Fail the next `times` invocations of `function` (name or ARN): `Lambda.<Code>` as
    the Lambda service fails, any other name as the function fails."""
    fault = inject_lambda_fault(function, error_type, times)
    try:
        yield fault
    finally:
        fault.remaining = 0  # spent: no longer applies
