"""Run Lambda functions in this process: moto's Lambda without Docker, with real handlers.

`install()` replaces `moto.awslambda.models.LambdaFunction.invoke`. An invocation imports
the handler from the function's own code zip with the function's environment (and its
role's credentials) set during the import, each function with a fresh copy of the modules
in its zip, the host's modules of the same names put back afterwards. So handlers must
read configuration at import time: environment variables are not set while a handler runs
(threads share os.environ), and an import made at call time resolves to the host's module.
The host's Pillow and Powertools stand in for the function's layer, built for Lambda's
platform. The handler gets a context like Lambda's and its answer is the Invoke API's
(an exception: `X-Amz-Function-Error: Unhandled` and Lambda's error payload); what it
printed or logged goes to its CloudWatch log group in moto, one stream per invocation.
Not emulated: the timeout, memory limits, X-Ray. In server mode the handlers' boto3
clients find moto through AWS_ENDPOINT_URL (imagepipe.local.serve).
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from unittest.mock import patch

import boto3  # type: ignore[import-untyped, unused-ignore]
from moto.awslambda.models import LambdaFunction

from imagepipe.local import access

LOG: Final = logging.getLogger(__name__)

Handler = Callable[[Any, Any], Any]

_lock = threading.RLock()  # guards imports (sys.modules, sys.path, os.environ) and state
_handlers: dict[tuple[str, str, str], Handler] = {}
# Each function's extracted code goes in one folder, removed by uninstall(). mkdtemp makes
# it: a fresh name only this user can enter, not a name others can guess and make first in
# a shared /tmp (whoever owned that folder could swap the code this process imports).
_code_root: Path | None = None
_log_groups: dict[str, str] = {}
_current = threading.local()  # the invocation log buffer of the running handler, per thread
_original_invoke: Any = None


def set_log_group(function_name: str, log_group: str) -> None:
    """Where the function logs (its LoggingConfig, which moto does not keep)."""
    _log_groups[function_name] = log_group


@dataclass
class LambdaContext:
    """The parts of Lambda's context object handlers and Powertools use."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline: float  # time.monotonic() when the function's timeout is up
    function_version: str = "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


class _Output:
    """sys.stdout/sys.stderr while installed: what is written goes to the running
    invocation's log buffer (per thread), else to `fallback`, which is also the stream for
    everything else (flush, isatty, encoding...). Also set while function code is
    imported, as loggers created then (Powertools' Logger) keep the stream they found."""

    def __init__(self, fallback: Any) -> None:
        self.fallback = fallback

    def write(self, text: str) -> int:
        buffer: list[str] | None = getattr(_current, "buffer", None)
        if buffer is not None:
            buffer.append(text)
            return len(text)
        return int(self.fallback.write(text))

    def writelines(self, lines: Iterable[str]) -> None:
        self.write("".join(lines))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fallback, name)


_streams: dict[str, _Output] = {}  # "stdout", "stderr": ours, while installed


def _import_handler(fn: Any, environment: dict[str, str]) -> Handler:
    """Extract the code of moto function `fn` and import its handler with `environment`
    set, leaving the host's modules as they were."""
    global _code_root
    if _code_root is None:  # under _lock, as load_handler calls it
        _code_root = Path(tempfile.mkdtemp(prefix="imagepipe-lambda-"))
    code_dir = Path(tempfile.mkdtemp(prefix=f"{fn.function_name}-", dir=_code_root))
    with zipfile.ZipFile(io.BytesIO(fn.code_bytes)) as zf:
        zf.extractall(code_dir)
    module_name, _, attribute = fn.handler.rpartition(".")
    names = {p.name.removesuffix(".py") for p in code_dir.iterdir() if p.name != "__pycache__"}

    def take_ours() -> dict[str, Any]:
        """Take the modules named like the function's out of sys.modules."""
        ours = [k for k in sys.modules if k.split(".", 1)[0] in names]
        return {k: sys.modules.pop(k) for k in ours}

    saved_modules = take_ours()
    # boto3's default session caches the credentials it found first: the handler's clients
    # must find the ones in `environment` (its role's), not the host's.
    with (
        patch.object(sys, "path", [str(code_dir), *sys.path]),
        patch.dict(os.environ, environment),
        # Stand-ins over the streams live now, not over those live at install(): while this
        # import runs on a worker thread, the host's other threads write through them too
        # (a test's capture, which replaced the streams after install, may have closed those).
        patch.object(sys, "stdout", _Output(sys.stdout)),
        patch.object(sys, "stderr", _Output(sys.stderr)),
        patch.object(boto3, "DEFAULT_SESSION", None),
    ):
        importlib.invalidate_caches()
        try:
            handler: Handler = getattr(importlib.import_module(module_name), attribute)
            return handler
        finally:
            take_ours()
            sys.modules.update(saved_modules)


def _lambda_environment(fn: Any) -> dict[str, str]:
    """What Lambda sets (minus LAMBDA_TASK_ROOT: Powertools would start X-Ray), the
    function's own variables, and its execution role's credentials, assumed as Lambda
    assumes it (imagepipe.local.access)."""
    session = access.session_for(
        fn.role, service="lambda.amazonaws.com", source_arn=fn.function_arn, region=fn.region
    )
    return {
        "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_REGION": fn.region,
        "AWS_DEFAULT_REGION": fn.region,
        "_HANDLER": fn.handler,
        **{k: str(v) for k, v in (fn.environment_vars or {}).items()},
        "AWS_ACCESS_KEY_ID": session.access_key_id,
        "AWS_SECRET_ACCESS_KEY": session.secret_access_key,
        "AWS_SESSION_TOKEN": session.session_token,
    }


def load_handler(fn: Any) -> Handler:
    """The handler of moto function `fn`, imported once per function and code version."""
    environment = _lambda_environment(fn)
    key = (fn.function_arn, fn.code_sha_256, json.dumps(environment, sort_keys=True))
    with _lock:
        if key not in _handlers:
            _handlers[key] = _import_handler(fn, environment)
        return _handlers[key]


def _write_logs(fn: Any, context: LambdaContext, text: str) -> None:
    group, stream, now = context.log_group_name, context.log_stream_name, int(time.time() * 1000)
    # Never empty: the START and END lines are in it.
    events = [{"timestamp": now, "message": line} for line in text.splitlines() if line.strip()]
    try:
        fn.logs_backend.ensure_log_group(group)
        fn.logs_backend.create_log_stream(group, stream)
        fn.logs_backend.put_log_events(group, stream, events)
    except Exception:  # logging must never fail an invocation
        LOG.exception("could not write the logs of %s", fn.function_name)


def run(fn: Any, event: Any) -> tuple[Any, bool]:
    """Invoke moto function `fn` with `event` in this process: (payload, failed)."""
    request_id = str(uuid.uuid4())
    day = time.strftime("%Y/%m/%d", time.gmtime())
    context = LambdaContext(
        function_name=fn.function_name,
        invoked_function_arn=fn.function_arn,
        memory_limit_in_mb=int(fn.memory_size),
        aws_request_id=request_id,
        log_group_name=_log_groups.get(fn.function_name, f"/aws/lambda/{fn.function_name}"),
        log_stream_name=f"{day}/[$LATEST]{request_id.replace('-', '')}",
        deadline=time.monotonic() + int(fn.timeout),
    )
    lines: list[str] = [f"START RequestId: {request_id} Version: $LATEST\n"]
    outer: list[str] | None = getattr(_current, "buffer", None)  # a function invoking another
    _current.buffer = lines
    try:
        payload, failed = load_handler(fn)(event, context), False
    except Exception as err:
        payload = {
            "errorMessage": str(err),
            "errorType": type(err).__name__,
            "requestId": request_id,
            "stackTrace": traceback.format_tb(err.__traceback__),
        }
        failed = True
        lines.append(json.dumps({"level": "ERROR", **payload}) + "\n")
    finally:
        _current.buffer = outer
    lines.append(f"END RequestId: {request_id}\n")
    _write_logs(fn, context, "".join(lines))
    return payload, failed


def _invoke(fn: Any, body: Any, request_headers: Any, response_headers: Any) -> bytes:
    """Replacement for LambdaFunction.invoke: the Lambda Invoke API's behaviour."""
    event = json.loads(body) if body else {}
    # A dict or moto's request headers (case-insensitive), as moto's own invoke reads them.
    invocation_type = request_headers.get("x-amz-invocation-type", "RequestResponse")
    if invocation_type == "Event":  # asynchronous: the caller gets 202 at once
        threading.Thread(target=run, args=(fn, event), daemon=True).start()
    if invocation_type in ("Event", "DryRun"):
        return b""
    payload, failed = run(fn, event)
    if failed:
        response_headers["x-amz-function-error"] = "Unhandled"
    response_headers["x-amz-executed-version"] = "$LATEST"
    return json.dumps(payload).encode("utf-8")


def install() -> None:
    """Route moto's Lambda invocations to this runtime (idempotent)."""
    global _original_invoke
    with _lock:
        if _original_invoke is None:
            _original_invoke = LambdaFunction.invoke  # it runs a Docker container
            LambdaFunction.invoke = _invoke  # type: ignore[method-assign, assignment]
        for name in ("stdout", "stderr"):
            if not isinstance(getattr(sys, name), _Output):
                _streams[name] = _Output(getattr(sys, name))
                setattr(sys, name, _streams[name])


def uninstall() -> None:
    """Give moto its own invoke back and forget loaded handlers."""
    global _original_invoke, _code_root
    with _lock:
        if _original_invoke is not None:
            LambdaFunction.invoke = _original_invoke  # type: ignore[method-assign]
            _original_invoke = None
        for name, stream in _streams.items():
            # Only if nobody replaced it since (pytest's capture, rich's Live...).
            if getattr(sys, name) is stream:
                setattr(sys, name, stream.fallback)
        _streams.clear()
        _handlers.clear()
        if _code_root is not None:
            shutil.rmtree(_code_root, ignore_errors=True)
            _code_root = None
