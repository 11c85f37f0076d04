"""Corrections to moto where it differs from AWS in a way the pipeline's resources hit.

Each fix is small, idempotent, says what AWS does, and is checked by
tests/integration/test_local_runtime.py so an upgrade of moto that moves or fixes the
patched code is noticed. Where moto's code is right but its grammar narrower than AWS's
(state machine definitions), the definition is adapted instead (`moto_compatible`),
locally only.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Final

_MARK: Final = "_imagepipe_fixed"

# moto's ASL grammar takes only decimals for these numbers, where AWS takes any number.
_DECIMAL_FIELDS: Final = frozenset({"BackoffRate", "ToleratedFailurePercentage"})


def conditions_evaluate_like_iam() -> None:
    """Two IAM rules moto gets wrong, which together made the buckets refuse every write.

    The buckets' TLS-only policy says `Deny s3:* if Bool aws:SecureTransport is false`.
    In AWS a condition on a key the request context does not have is false (unless the
    operator ends in IfExists), and a statement whose condition is false does not apply.
    moto ignores operators it does not know (Bool) and keys it has no value for, so the
    condition held; and it answers DENIED for a statement whose condition fails, even a
    Deny statement. The fixes: a missing key fails the condition, and a statement whose
    condition fails is neutral. moto has no request context for aws:SecureTransport, so
    the statement is neutral, as it is in AWS for a request made over TLS.
    """
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult
    from moto.iam.policy_conditions import TrustCondition

    original_verify = TrustCondition.verify_condition
    if not getattr(original_verify, _MARK, False):

        def verify_condition(self: Any, actual_values: list[str]) -> bool:
            missing = len(actual_values) < len(self.context_keys)
            if missing and not str(self._condition).endswith("IfExists"):
                return False
            return bool(original_verify(self, actual_values))

        setattr(verify_condition, _MARK, True)
        condition_class: Any = TrustCondition
        condition_class.verify_condition = verify_condition

    original = IAMPolicyStatement.is_action_permitted
    if not getattr(original, _MARK, False):

        def is_action_permitted(
            self: Any,
            action: str,
            resource: str = "*",
            principal: str | None = None,
            incoming_condition_values: dict[str, str] | None = None,
        ) -> Any:
            result = original(self, action, resource, principal, incoming_condition_values)
            if (
                result == PermissionResult.DENIED
                and self._statement.get("Condition")
                and not self._check_conditions(incoming_condition_values)
            ):
                return PermissionResult.NEUTRAL
            return result

        setattr(is_action_permitted, _MARK, True)
        statement_class: Any = IAMPolicyStatement
        statement_class.is_action_permitted = is_action_permitted


def sdk_integrations_like_step_functions() -> None:
    """Make moto's `arn:aws:states:::aws-sdk:s3:*` tasks behave like Step Functions'.

    - CopySource: Step Functions (Java SDK) sends it verbatim, so a state machine passes
      it URL-encoded (`bucket/uploads/a%20photo.jpg`); moto calls boto3, which encodes
      it again, and the copy then looks for a key with '%20' in it. Decoding it first
      lets boto3's encoding produce exactly the header Step Functions sends.
    - Error names: Step Functions names S3 errors `S3.<Exception>` (what Retry/Catch
      match, e.g. `S3.S3Exception`); moto knows no name for s3 and writes `s3.`.
    """
    from urllib.parse import unquote

    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk as aws_sdk,
    )

    aws_sdk._SERVICE_ERROR_NAMES.setdefault("s3", "S3")
    task: Any = aws_sdk.StateTaskServiceAwsSdk
    original = task._eval_service_task
    if getattr(original, _MARK, False):
        return

    def _eval_service_task(
        self: Any,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: dict[str, Any],
        state_credentials: Any,
    ) -> Any:
        copy_source = normalised_parameters.get("CopySource")
        if self._get_boto_service_name() == "s3" and isinstance(copy_source, str):
            normalised_parameters["CopySource"] = unquote(copy_source)
        return original(self, env, resource_runtime_part, normalised_parameters, state_credentials)

    setattr(_eval_service_task, _MARK, True)
    task._eval_service_task = _eval_service_task


def one_event_per_multipart_upload() -> None:
    """S3 sends one event for a multipart upload: ObjectCreated:CompleteMultipartUpload.

    moto's CompleteMultipartUpload stores the object through its own PutObject, which
    sends ObjectCreated:Put, and then sends CompleteMultipartUpload as well: every upload
    over the SDKs' multipart threshold (8 MB) started two executions locally. The object
    is now stored without the Put event; the CompleteMultipartUpload event is moto's own.
    """
    from moto.s3.models import S3Backend

    original_complete = S3Backend.complete_multipart_upload
    if getattr(original_complete, _MARK, False):
        return
    original_put = S3Backend.put_object
    completing = threading.local()  # per thread: other uploads keep their events

    def put_object(self: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(completing, "active", False):
            kwargs["disable_notification"] = True
        return original_put(self, *args, **kwargs)

    def complete_multipart_upload(self: Any, *args: Any, **kwargs: Any) -> Any:
        completing.active = True
        try:
            return original_complete(self, *args, **kwargs)
        finally:
            completing.active = False

    setattr(complete_multipart_upload, _MARK, True)
    backend: Any = S3Backend
    backend.put_object = put_object
    backend.complete_multipart_upload = complete_multipart_upload


def events_carry_sequencer_and_version() -> None:
    """S3 event records name the object's `sequencer` (a hex string that grows with each
    PUT or DELETE of a key) and its `versionId` in a versioned bucket; moto's queue
    notifications carry neither, and the workflow's duplicate check compares sequencers.
    Each event now gets a sequencer from a process-wide counter (hex, growing, of varying
    length like S3's) and the version id when the key has one.
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
    """
    from moto.s3 import notifications

    original = notifications._get_s3_event
    if getattr(original, _MARK, False):
        return
    lock = threading.Lock()
    counter = [time.time_ns()]

    def _get_s3_event(event_name: str, bucket: Any, key: Any, notification_id: str) -> Any:
        event = original(event_name, bucket, key, notification_id)
        with lock:
            counter[0] = max(counter[0] + 1, time.time_ns())
            sequencer = format(counter[0], "X")
        described = event["Records"][0]["s3"]["object"]
        described["sequencer"] = sequencer
        version = getattr(key, "version_id", None)
        if version and version != "null":
            described["versionId"] = version
        return event

    setattr(_get_s3_event, _MARK, True)
    module: Any = notifications
    module._get_s3_event = _get_s3_event


def execution_start_time_is_a_string() -> None:
    """`$$.Execution.StartTime` is an ISO 8601 string in Step Functions; moto's context
    object holds a datetime, which a DynamoDB integration task then fails to serialize
    ("Object of type datetime is not JSON serializable"). It is now the string AWS gives.
    https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html
    """
    from datetime import UTC, datetime

    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    original = ExecutionWorker._get_evaluation_environment
    if getattr(original, _MARK, False):
        return

    def _get_evaluation_environment(self: Any) -> Any:
        env = original(self)
        execution = env.states.context_object.context_object_data["Execution"]
        start = execution.get("StartTime")
        if isinstance(start, datetime):
            moment = start if start.tzinfo else start.replace(tzinfo=UTC)
            execution["StartTime"] = (
                moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            )
        return env

    setattr(_get_evaluation_environment, _MARK, True)
    worker: Any = ExecutionWorker
    worker._get_evaluation_environment = _get_evaluation_environment


def dynamodb_one_request_at_a_time() -> None:
    """DynamoDB answers concurrent requests; moto's tables are plain dicts.

    A Query or Scan iterating a table while another thread's PutItem adds to it can fail
    inside moto ("dictionary changed size during iteration"), which AWS never does. With
    hundreds of executions at once (the 500-upload burst) the catalogue's writes and its
    content-hash Query overlap, so each item operation holds one lock.
    """
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    backend: Any = DynamoDBBackend
    for name in ("put_item", "get_item", "query", "scan", "update_item", "delete_item"):
        original = getattr(DynamoDBBackend, name)
        if getattr(original, _MARK, False):
            continue

        def locked(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return _original(self, *args, **kwargs)

        setattr(locked, _MARK, True)
        setattr(backend, name, locked)


def apply() -> None:
    """Apply every fix (idempotent)."""
    execution_start_time_is_a_string()
    conditions_evaluate_like_iam()
    sdk_integrations_like_step_functions()
    one_event_per_multipart_upload()
    dynamodb_one_request_at_a_time()
    events_carry_sequencer_and_version()


def moto_compatible(definition: str) -> tuple[str, list[str]]:
    """A state machine definition moto's interpreter accepts, and what had to change.

    Local-only, logged, and as small as moto allows: the definitions deployed to AWS are
    untouched. Returns the text unchanged (and no changes) when moto takes it as it is.
    - an integer in a field moto's grammar parses only as a decimal (`2` -> `2.0`):
      the same value;
    - a Distributed Map's `ExecutionType: EXPRESS` -> `STANDARD`: moto's interpreter
      runs only STANDARD child workflows. Locally the children are STANDARD executions.
    """
    document = json.loads(definition)
    changes: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                where = f"{path}.{key}" if path else key
                if key in _DECIMAL_FIELDS and type(value) is int:
                    node[key] = float(value)
                    changes.append(f"{where}: {value} -> {float(value)} (same value)")
                elif key == "ExecutionType" and value == "EXPRESS":
                    node[key] = "STANDARD"
                    changes.append(f"{where}: EXPRESS -> STANDARD (moto runs no EXPRESS children)")
                else:
                    walk(value, where)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{path}[{index}]")

    walk(document, "")
    if not changes:
        return definition, []
    return json.dumps(document, indent=2, ensure_ascii=False), changes
