"""Every change the local stack makes to moto, in one place; `install()` applies them all
(idempotent).

- Fixes where moto differs from AWS in a way the pipeline's resources hit. Each says what
  AWS does, and tests/integration/test_local_runtime.py notices when a moto upgrade moves
  or fixes the patched code.
- IAM enforcement: requests signed by an enforced session (imagepipe.local.access) are
  authorized before moto handles them, and refused with the error AWS gives; moto's Step
  Functions interpreter signs its integrations with the state machine role's
  credentials; a Distributed Map is checked for the permissions AWS documents for it
  that moto's inline children never exercise (a refusal fails the Map state with
  `States.Runtime`).
- Where moto's grammar is narrower than AWS's, the state machine definition is adapted
  instead (`moto_compatible`), locally only.
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import pkgutil
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import unquote
from xml.sax.saxutils import escape

from imagepipe.local import access, s3_post

LOG: Final = logging.getLogger(__name__)
_MARK: Final = "_imagepipe_patched"
_definitions: dict[str, str] = {}  # state machine ARN -> the definition deployed (not moto's copy)
_roles: dict[str, str] = {}  # state machine ARN -> the role it runs as

# moto's ASL grammar takes only decimals for these numbers, where AWS takes any number.
_DECIMAL_FIELDS: Final = frozenset({"BackoffRate", "ToleratedFailurePercentage"})
_JSON_DENIED: Final = {  # service: (HTTP status, JSON protocol content type)
    "stepfunctions": (400, "application/x-amz-json-1.0"),
    "dynamodb": (400, "application/x-amz-json-1.0"),
    "kms": (400, "application/x-amz-json-1.1"),
    "logs": (400, "application/x-amz-json-1.1"),
    "pipes": (403, "application/json"),
}


def _patch(owner: Any, name: str, make: Callable[[Any], Callable[..., Any]]) -> None:
    """Replace `owner.name` by `make(original)`, once: a second call finds it marked."""
    original = getattr(owner, name)
    if not getattr(original, _MARK, False):
        replacement = make(original)
        setattr(replacement, _MARK, True)
        setattr(owner, name, replacement)


# -- fixes ---------------------------------------------------------------------------------


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

    def verify(original: Any) -> Callable[..., bool]:
        def verify_condition(self: Any, actual_values: list[str]) -> bool:
            missing = len(actual_values) < len(self.context_keys)
            if missing and not str(self._condition).endswith("IfExists"):
                return False
            return bool(original(self, actual_values))

        return verify_condition

    def permitted(original: Any) -> Callable[..., Any]:
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

        return is_action_permitted

    _patch(TrustCondition, "verify_condition", verify)
    _patch(IAMPolicyStatement, "is_action_permitted", permitted)


def sdk_integrations_like_step_functions() -> None:
    """Make moto's `arn:aws:states:::aws-sdk:s3:*` tasks behave like Step Functions'.

    - CopySource: Step Functions (Java SDK) sends it verbatim, so a state machine passes
      it URL-encoded (`bucket/uploads/a%20photo.jpg`); moto calls boto3, which encodes
      it again, and the copy then looks for a key with '%20' in it. Decoding it first
      lets boto3's encoding produce exactly the header Step Functions sends.
    - Error names: Step Functions names S3 errors `S3.<Exception>` (what Retry/Catch
      match, e.g. `S3.S3Exception`); moto knows no name for s3 and writes `s3.`.
    """
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk as aws_sdk,
    )

    aws_sdk._SERVICE_ERROR_NAMES.setdefault("s3", "S3")

    def evaluate(original: Any) -> Callable[..., Any]:
        # The caller passes these by keyword: moto's names are kept.
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
            return original(
                self, env, resource_runtime_part, normalised_parameters, state_credentials
            )

        return _eval_service_task

    _patch(aws_sdk.StateTaskServiceAwsSdk, "_eval_service_task", evaluate)


def one_event_per_multipart_upload() -> None:
    """S3 sends one event for a multipart upload: ObjectCreated:CompleteMultipartUpload.

    moto's CompleteMultipartUpload stores the object through its own PutObject, which
    sends ObjectCreated:Put, and then sends CompleteMultipartUpload as well: every upload
    over the SDKs' multipart threshold (8 MB) started two executions locally. The object
    is now stored without the Put event.
    """
    from moto.s3.models import S3Backend

    completing = threading.local()  # per thread: other uploads keep their events

    def put(original: Any) -> Callable[..., Any]:
        def put_object(self: Any, *args: Any, **kwargs: Any) -> Any:
            if getattr(completing, "active", False):
                kwargs["disable_notification"] = True
            return original(self, *args, **kwargs)

        return put_object

    def complete(original: Any) -> Callable[..., Any]:
        def complete_multipart_upload(self: Any, *args: Any, **kwargs: Any) -> Any:
            completing.active = True
            try:
                return original(self, *args, **kwargs)
            finally:
                completing.active = False

        return complete_multipart_upload

    _patch(S3Backend, "put_object", put)
    _patch(S3Backend, "complete_multipart_upload", complete)


def events_carry_sequencer_and_version() -> None:
    """S3 event records name the object's `sequencer` (a hex string that grows with each
    PUT or DELETE of a key) and its `versionId` in a versioned bucket; moto's queue
    notifications carry neither, and the workflow's duplicate check compares sequencers.
    Each event now gets a sequencer from a process-wide counter (hex, growing, of varying
    length like S3's) and the version id when the key has one.
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
    """
    from moto.s3 import notifications

    lock = threading.Lock()
    counter = [time.time_ns()]

    def event(original: Any) -> Callable[..., Any]:
        def _get_s3_event(event_name: str, bucket: Any, key: Any, notification_id: str) -> Any:
            found = original(event_name, bucket, key, notification_id)
            with lock:
                counter[0] = max(counter[0] + 1, time.time_ns())
                sequencer = format(counter[0], "X")
            described = found["Records"][0]["s3"]["object"]
            described["sequencer"] = sequencer
            version = getattr(key, "version_id", None)
            if version and version != "null":
                described["versionId"] = version
            return found

        return _get_s3_event

    _patch(notifications, "_get_s3_event", event)


def execution_start_time_is_a_string() -> None:
    """`$$.Execution.StartTime` is an ISO 8601 string in Step Functions; moto's context
    object holds a datetime, which a DynamoDB integration task then fails to serialize.
    https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html
    """
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    def environment(original: Any) -> Callable[..., Any]:
        def _get_evaluation_environment(self: Any) -> Any:
            env = original(self)
            execution = env.states.context_object.context_object_data["Execution"]
            start = execution.get("StartTime")
            if isinstance(start, datetime):
                moment = start if start.tzinfo else start.replace(tzinfo=UTC)
                text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
                execution["StartTime"] = text.replace("+00:00", "Z")
            return env

        return _get_evaluation_environment

    _patch(ExecutionWorker, "_get_evaluation_environment", environment)


def dynamodb_one_request_at_a_time() -> None:
    """DynamoDB answers concurrent requests; moto's tables are plain dicts.

    A Query or Scan iterating a table while another thread's PutItem adds to it can fail
    inside moto ("dictionary changed size during iteration"), which AWS never does. With
    hundreds of executions at once (the 500-upload burst) the catalogue's writes and its
    content-hash Query overlap, so each item operation holds one lock.
    """
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()

    def locked(original: Any) -> Callable[..., Any]:
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            with lock:
                return original(self, *args, **kwargs)

        return call

    for name in ("put_item", "get_item", "query", "scan", "update_item", "delete_item"):
        _patch(DynamoDBBackend, name, locked)


def executions_parse_each_definition_once() -> None:
    """moto parses a state machine's definition with its ANTLR grammar at the start of
    every execution: a quarter of the local stack's time in a burst of uploads. The parse
    tree of a definition text is kept (it is only read afterwards) and each execution
    still gets its own evaluation components from moto's Preprocessor, as before. A
    definition with syntax errors goes to moto's parser each time, which raises.
    """
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    trees: dict[str, Any] = {}
    lock = threading.Lock()

    def entrypoint(original: Any) -> Callable[..., Any]:
        def _get_evaluation_entrypoint(self: Any) -> Any:
            definition = self._evaluation_details.state_machine_details.definition
            # Held while parsing: a burst starts many executions of a definition at once,
            # and each would otherwise parse it before the first one has finished.
            with lock:
                tree = trees.get(definition)
                if tree is None:
                    tree = trees[definition] = AmazonStateLanguageParser.parse(definition)[1]
            return Preprocessor().visit(tree)

        return _get_evaluation_entrypoint

    _patch(ExecutionWorker, "_get_evaluation_entrypoint", entrypoint)


def json_paths_parsed_once() -> None:
    """moto's interpreter builds a new jsonpath_ng parser (its LALR tables included) for
    every path it reads or writes, in every state of every execution. A path's parsed
    expression is kept by its text instead; an expression is only evaluated, never
    changed, so executions in other threads can share it.
    """
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    for module in (json_path, result_path):
        _patch(module, "parse", functools.lru_cache(maxsize=1024))


def moto_compatible(definition: str) -> tuple[str, list[str]]:
    """A state machine definition moto's interpreter accepts, and what had to change
    (the text unchanged, and no changes, when moto takes it as it is):

    - an integer in a field moto's grammar parses only as a decimal (`2` -> `2.0`);
    - a Distributed Map's `ExecutionType: EXPRESS` -> `STANDARD`: moto's interpreter
      runs only STANDARD child workflows.
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


# -- IAM enforcement -----------------------------------------------------------------------


def register_state_machine(state_machine_arn: str, definition: str, role_arn: str) -> None:
    """A state machine of the stack: its definition as deployed (moto runs a locally
    adapted copy, see moto_compatible) and the role its integrations run as."""
    _definitions[state_machine_arn] = definition
    _roles[state_machine_arn] = role_arn


def _xml_error(namespace: str, code: str, message: str, request_id: str) -> str:
    return (
        f'<ErrorResponse xmlns="http://{namespace}"><Error><Type>Sender</Type>'
        f"<Code>{code}</Code><Message>{escape(message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )


def denied_response(
    service: str, message: str, action: str = ""
) -> tuple[int, dict[str, str], str]:
    """The response AWS gives a caller that is not authorized, per service protocol.
    SNS answers a publisher its topic's KMS key refuses with KMSAccessDenied (400)."""
    request_id = str(uuid.uuid4())
    headers = {"x-amzn-RequestId": request_id}
    if service in ("sns", "cloudfront"):  # the query and REST-XML protocols
        status, code = 403, "AccessDenied"
        namespace = "cloudfront.amazonaws.com/doc/2020-05-31/"
        if service == "sns":
            namespace = "sns.amazonaws.com/doc/2010-03-31/"
            kms = action.startswith("kms:")
            status, code = (400, "KMSAccessDenied") if kms else (403, "AuthorizationError")
        body = _xml_error(namespace, code, message, request_id)
        return status, {"Content-Type": "text/xml", **headers}, body
    if service == "sqs":  # SQS speaks JSON but keeps its query-protocol error codes
        body = json.dumps(
            {"__type": "com.amazon.coral.service#AccessDeniedException", "message": message}
        )
        headers |= {"x-amzn-query-error": "AccessDenied;Sender"}
        return 403, {"Content-Type": "application/x-amz-json-1.0", **headers}, body
    if service == "lambda":
        headers |= {"x-amzn-ErrorType": "AccessDeniedException"}
        body = json.dumps({"Type": "User", "message": message})
        return 403, {**headers, "Content-Type": "application/json"}, body
    status, content_type = _JSON_DENIED.get(service, (403, "application/x-amz-json-1.1"))
    body = json.dumps({"__type": "AccessDeniedException", "message": message})
    return status, {"Content-Type": content_type, **headers}, body


def _s3_object(account: str, bucket: str, key: str) -> Any:
    """moto's object (None if it does not exist), read behind the API."""
    from moto.s3.models import s3_backends

    try:
        return s3_backends[account][access.PARTITION].get_object(bucket, key)
    except Exception:  # a missing bucket or key
        return None


def _s3_source_tagged(account: str) -> Callable[[str, str], bool]:
    def tagged(bucket: str, key: str) -> bool:
        from moto.s3.models import s3_backends

        found = _s3_object(account, bucket, key)  # a missing source fails the copy itself
        backend = s3_backends[account][access.PARTITION]
        return bool(found is not None and backend.get_object_tagging(found).get("Tags"))

    return tagged


def _authorize_s3(response: Any, bucket_name: str | None, key_name: str | None) -> None:
    """Refuse an S3 request of an enforced session that its policies do not allow."""
    # moto adds its own entries (BucketName, Action) to the parsed query string.
    query = {
        k: v
        for k, v in (getattr(response, "querystring", {}) or {}).items()
        if k not in ("BucketName", "Action")
    }
    session = access.session_of(response.headers, query)
    if session is None:
        return
    from moto.s3.exceptions import S3AccessDeniedError

    method = str(response.method).upper()
    body = getattr(response, "raw_body", b"") or b""
    checks = access.s3_checks(
        method,
        bucket_name,
        key_name,
        query,
        dict(response.headers),
        body if isinstance(body, bytes) else str(body).encode(),
        _s3_source_tagged(session.account),
    )
    if checks is None:
        _refuse_unmodelled(session, f"S3 {method} on {bucket_name}/{key_name or ''} {query}")
        raise S3AccessDeniedError()
    region = str(getattr(response, "region", "us-east-1"))
    if access.authorize(session, checks, region) is not None:
        raise S3AccessDeniedError()
    # A missing key is 404 only for a caller that may list the bucket; else 403 (S3 API
    # reference, GetObject/HeadObject "Permissions").
    reads = {"s3:GetObject", "s3:GetObjectVersion"}
    if (
        key_name
        and bucket_name
        and {c.action for c in checks} <= reads
        and method in ("GET", "HEAD")
        and _s3_object(session.account, bucket_name, key_name) is None
    ):
        listing = access.Check("s3:ListBucket", f"arn:aws:s3:::{bucket_name}")
        if access.authorize(session, [listing], region) is not None:
            raise S3AccessDeniedError()


def _refuse_unmodelled(session: access.Session, what: str) -> None:
    LOG.warning(
        "the local stack does not model the permissions AWS checks for %s (made as %s): "
        "teach imagepipe/local/access.py, refusing meanwhile",
        what,
        session.role_arn,
    )


def _s3_hook(original: Any) -> Callable[..., None]:
    def authorize(self: Any, bucket_name: str | None = None, key_name: str | None = None) -> None:
        _authorize_s3(self, bucket_name, key_name)
        original(self, bucket_name=bucket_name, key_name=key_name)

    return authorize


def _api_hook(original: Any) -> Callable[..., Any]:
    def call_action(self: Any) -> Any:
        session = access.session_of(self.headers, dict(self.querystring or {}))
        if session is None:
            return original(self)
        service, operation = str(self.boto3_service_name), str(self._get_action())
        region, path = str(self.region), str(getattr(self, "path", "") or "")
        checks = access.api_checks(
            service, operation, self._get_param, path, region, session.account
        )
        if checks is None:
            _refuse_unmodelled(session, f"{service}:{operation}")
            return denied_response(service, f"{operation} is not modelled locally")
        refusal = access.authorize(session, checks, region)
        if refusal is not None:
            return denied_response(service, refusal.message, refusal.check.action)
        return original(self)

    return call_action


def _signed_boto_client_for(original: Any) -> Callable[..., Any]:
    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        role_arn = getattr(state_credentials, "role_arn", None)
        machine = next((arn for arn, role in _roles.items() if role == role_arn), None)
        # Only the stack's own state machines (registered when deployed) run as their
        # role; one a test made directly in moto keeps moto's behaviour.
        if not role_arn or machine is None:
            return original(region, service, state_credentials)
        session = access.session_for(
            role_arn, service="states.amazonaws.com", source_arn=machine, region=region
        )
        import boto3  # type: ignore[import-untyped, unused-ignore]
        from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]
        from moto.core.models import botocore_stubber
        from moto.settings import moto_server_port

        kwargs: dict[str, Any] = {}
        if not botocore_stubber.enabled:
            kwargs["endpoint_url"] = f"http://localhost:{moto_server_port()}"
        # A client per task cost more than the call it made (loading the service model,
        # the endpoint rules): one per role session, service, region and endpoint is
        # kept; botocore clients are thread safe, and a new session is a new key.
        key = (region, service, session.access_key_id, kwargs.get("endpoint_url"))
        # Held while creating: the executions of a burst ask for the same client at once.
        with clients_lock:
            client = clients.get(key)
            if client is None:
                if len(clients) >= 64:  # those of stacks closed since (sessions are new)
                    clients.clear()
                client = clients[key] = boto3.client(
                    service_name=service,
                    region_name=region,
                    aws_access_key_id=session.access_key_id,
                    aws_secret_access_key=session.secret_access_key,
                    aws_session_token=session.session_token,
                    config=Config(
                        parameter_validation=False,
                        retries={"max_attempts": 0, "total_max_attempts": 1},
                    ),
                    **kwargs,
                )
        return client

    clients: dict[tuple[str, str, str, str | None], Any] = {}
    clients_lock = threading.Lock()
    return boto_client_for


def _interpreter_modules() -> Iterator[Any]:
    import moto.stepfunctions.parser.asl as asl

    for info in pkgutil.walk_packages(asl.__path__, asl.__name__ + "."):
        if ".antlr" in info.name:
            continue
        try:
            yield importlib.import_module(info.name)
        except Exception as err:  # an optional integration whose imports fail
            LOG.debug("not patching %s: %s", info.name, err)


def _sign_interpreter_calls() -> None:
    """Every interpreter module imported `boto_client_for` by name: replace each copy."""
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for
    if getattr(original, _MARK, False):
        return
    patched = _signed_boto_client_for(original)
    setattr(patched, _MARK, True)
    modules = list(_interpreter_modules())
    for module in [*modules, *[m for n, m in sys.modules.items() if n.startswith("moto.")]]:
        if getattr(module, "boto_client_for", None) is original:
            module.boto_client_for = patched


def _find_state(node: Any, name: str) -> Mapping[str, Any] | None:
    if isinstance(node, dict):
        states = node.get("States")
        if isinstance(states, dict) and isinstance(states.get(name), dict):
            found: Mapping[str, Any] = states[name]
            return found
        for value in node.values():
            hit = _find_state(value, name)
            if hit is not None:
                return hit
    return None


def distributed_map_checks(state_machine_arn: str, state: Mapping[str, Any]) -> list[access.Check]:
    """The permissions AWS documents for running this Distributed Map state: StartExecution
    of its own state machine, DescribeExecution/StopExecution on its child executions (in
    the ARN form of the children's type) and the ResultWriter's S3 actions.
    https://docs.aws.amazon.com/step-functions/latest/dg/iam-policies-eg-dist-map.html
    """
    config = (state.get("ItemProcessor") or {}).get("ProcessorConfig") or {}
    if config.get("Mode") != "DISTRIBUTED":
        return []
    _, _, _, region, account, _, name = state_machine_arn.split(":", 6)
    child = f"{name}/{state.get('Label') or uuid.uuid4().hex[:8]}:{uuid.uuid4()}"
    if config.get("ExecutionType") == "EXPRESS":
        child_arn = f"arn:aws:states:{region}:{account}:express:{child}:{uuid.uuid4()}"
    else:
        child_arn = f"arn:aws:states:{region}:{account}:execution:{child}"
    checks = [
        access.Check("states:StartExecution", state_machine_arn),
        access.Check("states:DescribeExecution", child_arn),
        access.Check("states:StopExecution", child_arn),
    ]
    writer = (state.get("ResultWriter") or {}).get("Parameters") or {}
    if "Bucket" in writer:
        prefix = str(writer.get("Prefix", "")).strip("/")
        folder = f"{prefix}/" if prefix else ""
        arn = f"arn:aws:s3:::{writer['Bucket']}/{folder}{uuid.uuid4()}/manifest.json"
        actions = ("PutObject", "GetObject", "ListMultipartUploadParts", "AbortMultipartUpload")
        checks += [access.Check(f"s3:{action}", arn) for action in actions]
    return checks


def _check_distributed_map(state_name: str, env: Any) -> None:
    role_arn = env.aws_execution_details.role_arn
    state_machine_arn = env.states.context_object.context_object_data["StateMachine"]["Id"]
    definition = _definitions.get(state_machine_arn)
    if definition is None:
        return
    state = _find_state(json.loads(definition), state_name)
    checks = distributed_map_checks(state_machine_arn, state or {})
    if not checks:
        return
    region = state_machine_arn.split(":")[3]
    session = access.session_for(
        role_arn, service="states.amazonaws.com", source_arn=state_machine_arn, region=region
    )
    refusal = access.authorize(session, checks, region)
    if refusal is not None:
        raise access.AccessDeniedError(f"AccessDeniedException: {refusal.message}")


def _map_hook(original: Any) -> Callable[..., None]:
    def _eval_execution(self: Any, env: Any) -> None:
        _check_distributed_map(self.name, env)
        original(self, env)

    return _eval_execution


def _enforce_iam() -> None:
    from moto.core.responses import BaseResponse
    from moto.s3.responses import S3Response
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap

    _patch(S3Response, "_authenticate_and_authorize_s3_action", _s3_hook)
    # A browser-based upload (presigned POST): its policy, signature and signer (s3_post).
    _patch(S3Response, "_bucket_response_post", s3_post.hook)
    _patch(BaseResponse, "call_action", _api_hook)
    _sign_interpreter_calls()
    _patch(StateMap, "_eval_execution", _map_hook)


def install() -> None:
    """Apply every fix and the IAM enforcement (idempotent)."""
    execution_start_time_is_a_string()
    conditions_evaluate_like_iam()
    sdk_integrations_like_step_functions()
    one_event_per_multipart_upload()
    dynamodb_one_request_at_a_time()
    events_carry_sequencer_and_version()
    executions_parse_each_definition_once()
    json_paths_parsed_once()
    _enforce_iam()
