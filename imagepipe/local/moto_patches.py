"""Every change the local stack makes to moto, in one place; `install()` applies them all
(idempotent). Each is a wrapper of a moto function, named by the `@_wraps` above it.

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

import contextlib
import functools
import importlib
import inspect
import itertools
import json
import logging
import pkgutil
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final, TypeVar
from urllib.parse import unquote

from moto.core.errors import COMMON_ERROR_CODES
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.core.utils import iso_8601_datetime_with_milliseconds

from imagepipe.local import access, s3_post
from imagepipe.local.iam import Decision, service_allowed

LOG: Final = logging.getLogger(__name__)
_MARK: Final = "_imagepipe_patched"
# state machine ARN -> (the definition deployed, not moto's copy; the role it runs as)
_machines: dict[str, tuple[str, str]] = {}

# moto's ASL grammar takes only decimals for these numbers, where AWS takes any number.
_DECIMAL_FIELDS: Final = frozenset({"ToleratedFailurePercentage"})  # BackoffRate: moto takes 2

_Wrapper = TypeVar("_Wrapper", bound=Callable[..., Any])
# What install() patches: (owner, attribute, wrapper), registered by _wraps.
_PATCHES: list[tuple[str, str, Callable[..., Any]]] = []
_ASL: Final = "moto.stepfunctions.parser.asl"
_AWS_SDK: Final = f"{_ASL}.component.state.exec.state_task.service.state_task_service_aws_sdk"
_EXECUTION_WORKER: Final = "moto.stepfunctions.parser.backend.execution_worker:ExecutionWorker"
_ITEM_READER: Final = (
    f"{_ASL}.component.state.exec.state_map.item_reader.eval.resource_eval_s3:ResourceEvalS3"
)


def _patch(owner: Any, name: str, wrapper: Callable[..., Any]) -> None:
    """Replace `owner.name` by a function that calls `wrapper(original, *args, **kwargs)`,
    once: a second call finds it marked."""
    original = getattr(owner, name)
    if getattr(original, _MARK, False):
        return

    @functools.wraps(original)  # inspect.getsource and a debugger show moto's
    def replacement(*args: Any, **kwargs: Any) -> Any:
        return wrapper(original, *args, **kwargs)

    setattr(replacement, _MARK, True)
    static = isinstance(inspect.getattr_static(owner, name), staticmethod)
    setattr(owner, name, staticmethod(replacement) if static else replacement)


def _wraps(owner: str, *names: str) -> Callable[[_Wrapper], _Wrapper]:
    """Register the decorated function as the wrapper (see _patch) of each of `names` in
    `owner` (a module or "module:Class", as pkgutil.resolve_name takes it); install()
    applies them."""

    def register(wrapper: _Wrapper) -> _Wrapper:
        _PATCHES.extend((owner, name, wrapper) for name in names)
        return wrapper

    return register


# -- fixes ---------------------------------------------------------------------------------


@_wraps("moto.s3.models:FakeBucket", "get_permission")
def bucket_policies_evaluate_like_iam(_moto: Any, bucket: Any, action: str, resource: str) -> Any:
    """moto checks object requests of unchecked callers (the deployer, the tests) against
    the bucket policy with its own evaluator, which ignores condition operators it does
    not know (Bool) and denies where a Deny statement's condition fails: the buckets'
    TLS-only policy (`Deny s3:* if Bool aws:SecureTransport is false`) then refused every
    write. imagepipe.local.iam decides instead, as AWS does for a request over TLS (what
    the SDKs make on AWS), for any principal as moto's did.
    """
    from moto.iam.access_control import PermissionResult

    results = {
        Decision.ALLOW: PermissionResult.PERMITTED,
        Decision.IMPLICIT_DENY: PermissionResult.NEUTRAL,
        Decision.EXPLICIT_DENY: PermissionResult.DENIED,
    }
    context = {"aws:SecureTransport": "true"}
    return results[service_allowed(bucket.policy, None, action, resource, context)]


@_wraps(_ITEM_READER, "_handle_list_objects_v2")
def item_reader_lists_every_object(
    _moto: Any, env: Any, resource_runtime_part: Any, state_credentials: Any
) -> None:
    """A Distributed Map's `s3:listObjectsV2` ItemReader reads every object under the
    prefix, as Step Functions does, none when there is none. moto reads one page's
    `Contents`: a backfill of an empty prefix failed (S3 leaves the key out; KeyError)
    and one of more than 1,000 objects skipped the rest. The client is moto's, signed as
    the state machine's role, so each page is still authorized as s3:ListBucket.
    https://docs.aws.amazon.com/step-functions/latest/dg/input-output-itemreader.html
    """
    client = pkgutil.resolve_name(_ITEM_READER)._get_s3_client(
        resource_runtime_part=resource_runtime_part, state_credentials=state_credentials
    )
    pages = client.get_paginator("list_objects_v2").paginate(**env.stack.pop())
    env.stack.append([item for page in pages for item in page.get("Contents", [])])


@_wraps(f"{_AWS_SDK}:StateTaskServiceAwsSdk", "_eval_service_task")
def sdk_integrations_like_step_functions(
    original: Any, task: Any, *args: Any, normalised_parameters: Any, **kw: Any
) -> Any:
    """Make moto's `arn:aws:states:::aws-sdk:s3:*` tasks behave like Step Functions'.

    - CopySource: Step Functions (Java SDK) sends it verbatim, so a state machine passes
      it URL-encoded (`bucket/uploads/a%20photo.jpg`); moto calls boto3, which encodes
      it again, and the copy then looks for a key with '%20' in it. Decoding it first
      lets boto3's encoding produce exactly the header Step Functions sends.
    - Error names: Step Functions names S3 errors `S3.<Exception>` (what Retry/Catch
      match, e.g. `S3.S3Exception`); moto knows no name for s3 and writes `s3.` (install
      names it).

    The caller passes the parameters by keyword: moto's names are kept.
    """
    copy_source = normalised_parameters.get("CopySource")
    if task._get_boto_service_name() == "s3" and isinstance(copy_source, str):
        normalised_parameters["CopySource"] = unquote(copy_source)
    return original(task, *args, normalised_parameters=normalised_parameters, **kw)


@_wraps("moto.s3.models:S3Backend", "put_object")
def one_event_per_multipart_upload(original: Any, *args: Any, **kwargs: Any) -> Any:
    """S3 sends one event for a multipart upload: ObjectCreated:CompleteMultipartUpload.

    moto's CompleteMultipartUpload stores the object through its own PutObject, which
    sends ObjectCreated:Put, and then sends CompleteMultipartUpload as well: every upload
    over the SDKs' multipart threshold (8 MB) started two executions locally. The object
    is now stored without the Put event.
    """
    if kwargs.get("multipart") is not None:  # what CompleteMultipartUpload passes
        kwargs["disable_notification"] = True
    return original(*args, **kwargs)


_sequencers = itertools.count(time.time_ns())  # next() is atomic: no lock needed


@_wraps("moto.s3.notifications", "_get_s3_event")
def events_carry_sequencer_and_version(
    original: Any, event_name: str, bucket: Any, key: Any, notification_id: str
) -> Any:
    """S3 event records name the object's `sequencer` (a hex string that grows with each
    PUT or DELETE of a key) and its `versionId` in a versioned bucket; moto's queue
    notifications carry neither, and the workflow's duplicate check compares sequencers.
    Each event now gets a sequencer from a process-wide counter (hex, growing, of varying
    length like S3's; it starts at the clock in nanoseconds, so a later process's are
    greater) and the version id when the key has one.
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
    """
    found = original(event_name, bucket, key, notification_id)
    described = found["Records"][0]["s3"]["object"]
    described["sequencer"] = format(next(_sequencers), "X")
    version = getattr(key, "version_id", None)
    if version and version != "null":
        described["versionId"] = version
    return found


@_wraps(_EXECUTION_WORKER, "_get_evaluation_environment")
def execution_start_time_is_a_string(original: Any, worker: Any) -> Any:
    """`$$.Execution.StartTime` is an ISO 8601 string in Step Functions; moto's context
    object holds a datetime, which a DynamoDB integration task then fails to serialize.
    https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html
    """
    env = original(worker)
    execution = env.states.context_object.context_object_data["Execution"]
    if isinstance(execution.get("StartTime"), datetime):  # moto's are all in UTC
        execution["StartTime"] = iso_8601_datetime_with_milliseconds(execution["StartTime"])
    return env


_dynamodb_lock = threading.RLock()
_ITEM_OPERATIONS: Final = ("put_item", "get_item", "query", "scan", "update_item", "delete_item")


@_wraps("moto.dynamodb.models:DynamoDBBackend", *_ITEM_OPERATIONS)
def dynamodb_one_request_at_a_time(original: Any, *args: Any, **kwargs: Any) -> Any:
    """DynamoDB answers concurrent requests; moto's tables are plain dicts.

    A Query or Scan iterating a table while another thread's PutItem adds to it can fail
    inside moto ("dictionary changed size during iteration"), which AWS never does. With
    hundreds of executions at once (the 500-upload burst) the catalogue's writes and its
    content-hash Query overlap, so each item operation holds one lock.
    """
    with _dynamodb_lock:
        return original(*args, **kwargs)


_parse_lock = threading.Lock()


@functools.lru_cache(maxsize=64)
def _parse_tree(definition: str) -> Any:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    return AmazonStateLanguageParser.parse(definition)[1]


@_wraps(_EXECUTION_WORKER, "_get_evaluation_entrypoint")
def executions_parse_each_definition_once(_moto: Any, worker: Any) -> Any:
    """moto parses a state machine's definition with its ANTLR grammar at the start of
    every execution: a quarter of the local stack's time in a burst of uploads. The parse
    tree of a definition text is kept (it is only read afterwards) and each execution
    still gets its own evaluation components from moto's Preprocessor, as before. A
    definition with syntax errors goes to moto's parser each time, which raises.
    """
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    # Held while parsing: a burst starts many executions of a definition at once,
    # and each would otherwise parse it before the first one has finished.
    with _parse_lock:
        parsed = _parse_tree(worker._evaluation_details.state_machine_details.definition)
    return Preprocessor().visit(parsed)


# Keyed by the module's own parser (they import different ones) and the path.
@_wraps(f"{_ASL}.utils.json_path", "parse")
@_wraps(f"{_ASL}.component.common.path.result_path", "parse")
@functools.lru_cache(maxsize=1024)
def json_paths_parsed_once(parse: Any, path: str) -> Any:
    """moto's interpreter builds a new jsonpath_ng parser (its LALR tables included) for
    every path it reads or writes, in every state of every execution. A path's parsed
    expression is kept by its text instead; an expression is only evaluated, never
    changed, so executions in other threads can share it.
    """
    return parse(path)


def moto_compatible(definition: str) -> tuple[str, list[str]]:
    """A state machine definition moto's interpreter accepts, and what had to change
    (the text unchanged, and no changes, when moto takes it as it is):

    - an integer where moto's grammar takes only a decimal (ToleratedFailurePercentage:
      `5` -> `5.0`);
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
    _machines[state_machine_arn] = (definition, role_arn)


def _machine_session(machine: str) -> access.Session:
    """The credentials a state machine's integrations run with: its role, assumed by
    Step Functions for that state machine."""
    role_arn, region = _machines[machine][1], machine.split(":")[3]
    return access.session_for(
        role_arn, service="states.amazonaws.com", source_arn=machine, region=region
    )


class _AccessDenied(ServiceException):
    """A refusal, serialized by moto in the protocol of the service that refuses (moto
    looks an error's shape up in the service its module names, if in moto: moto.core's
    ServiceException itself would name no service)."""


# service: (error code, HTTP status) AWS answers a caller it does not authorize; others
# answer AccessDeniedException, 400.
_DENIED: Final = {
    "sns": ("AuthorizationError", 403),
    "sqs": ("AccessDenied", 403),  # with its query-protocol code (x-amzn-query-error)
    "cloudfront": ("AccessDenied", 403),
    "lambda": ("AccessDeniedException", 403),
    "pipes": ("AccessDeniedException", 403),
}


@_wraps("moto.s3.responses:S3Response", "_authenticate_and_authorize_s3_action")
def _authorize_s3(
    original: Any, response: Any, bucket_name: str | None = None, key_name: str | None = None
) -> Any:
    """Refuse an S3 request of an enforced session that its policies do not allow, before
    moto's own authorization (`original`)."""
    # moto adds its own entries (BucketName, Action) to the parsed query string.
    query = {k: v for k, v in response.querystring.items() if k not in ("BucketName", "Action")}
    session = access.session_of(response.headers, query)
    if session is None:
        return original(response, bucket_name, key_name)
    from moto.s3.exceptions import S3AccessDeniedError
    from moto.s3.models import s3_backends

    backend = s3_backends[session.account][access.PARTITION]

    def stored(bucket: str, key: str) -> Any:
        """moto's object (None if it does not exist), read behind the API."""
        with contextlib.suppress(Exception):  # a missing bucket
            return backend.get_object(bucket, key)
        return None

    def tagged(bucket: str, key: str) -> bool:  # a missing source fails the copy itself
        found = stored(bucket, key)
        return bool(found is not None and backend.get_object_tagging(found).get("Tags"))

    method = str(response.method).upper()
    body = response.raw_body  # a form field's text for a form upload
    body = body if isinstance(body, bytes) else str(body).encode()
    checks = access.s3_checks(
        method, bucket_name, key_name, query, dict(response.headers), body, tagged
    )
    region = str(response.region)
    what = f"S3 {method} on {bucket_name}/{key_name or ''} {query}"
    if _refusal(session, checks, what, region) is not None:
        raise S3AccessDeniedError()
    # A missing key is 404 only for a caller that may list the bucket; else 403 (S3 API
    # reference, GetObject/HeadObject "Permissions"). Only an object GET or HEAD is just reads.
    reading = {c.action for c in checks or []} <= {"s3:GetObject", "s3:GetObjectVersion"}
    if checks and reading and stored(str(bucket_name), str(key_name)) is None:
        listing = access.Check("s3:ListBucket", f"arn:aws:s3:::{bucket_name}")
        if access.authorize(session, [listing], region) is not None:
            raise S3AccessDeniedError()
    return original(response, bucket_name, key_name)


def _refusal(
    session: access.Session, checks: list[access.Check] | None, what: str, region: str
) -> access.Refusal | None:
    """access.authorize, and a refusal of a request whose checks are not modelled (None)."""
    if checks is not None:
        return access.authorize(session, checks, region)
    LOG.warning(
        "the local stack does not model the permissions AWS checks for %s (made as %s): "
        "teach imagepipe/local/access.py, refusing meanwhile",
        what,
        session.role_arn,
    )
    return access.Refusal(access.Check("", ""), f"{what} is not modelled locally")


@_wraps("moto.core.responses:BaseResponse", "call_action")
def _api_hook(original: Any, self: Any) -> Any:
    """Refuse an API request of an enforced session that its policies do not allow, with
    the response AWS gives, in the service's protocol."""
    session = access.session_of(self.headers, self.querystring)
    if session is None:
        return original(self)
    service, operation = str(self.boto3_service_name), str(self._get_action())
    region = str(self.region)
    checks = access.api_checks(service, operation, self._get_param, region, session.account)
    refusal = _refusal(session, checks, f"{service}:{operation}", region)
    if refusal is None:
        return original(self)
    code, status = _DENIED.get(service, ("AccessDeniedException", 400))
    # SNS answers a publisher its topic's KMS key refuses with KMSAccessDenied (400).
    if service == "sns" and refusal.check.action.startswith("kms:"):
        code, status = "KMSAccessDenied", 400
    _, headers, body = self.serialized(ActionResult(_AccessDenied(code, refusal.message)))
    return status, *self._enrich_response(headers, body)  # with a request id, as AWS


@functools.lru_cache(maxsize=64)  # those of stacks closed since age out (sessions are new)
def _client(service: str, region: str, session: access.Session, endpoint: str | None) -> Any:
    """A client per task cost more than the call it made (loading the service model, the
    endpoint rules): one per role session, service, region and endpoint is kept; botocore
    clients are thread safe, and a new session is a new key."""
    import boto3  # type: ignore[import-untyped, unused-ignore]
    from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]

    return boto3.client(
        service_name=service,
        region_name=region,
        aws_access_key_id=session.access_key_id,
        aws_secret_access_key=session.secret_access_key,
        aws_session_token=session.session_token,
        endpoint_url=endpoint,
        config=Config(
            parameter_validation=False, retries={"max_attempts": 0, "total_max_attempts": 1}
        ),
    )


_client_lock = threading.Lock()  # held while creating: a burst's executions ask at once


def _boto_client_for(
    original: Any, region: str, service: str, state_credentials: Any = None
) -> Any:
    from moto.core.models import botocore_stubber
    from moto.settings import moto_server_port

    role_arn = getattr(state_credentials, "role_arn", None)
    machine = next((arn for arn, (_, role) in _machines.items() if role == role_arn), None)
    # Only the stack's own state machines (registered when deployed) run as their
    # role; one a test made directly in moto keeps moto's behaviour.
    if machine is None:
        return original(region, service, state_credentials)
    endpoint = None if botocore_stubber.enabled else f"http://localhost:{moto_server_port()}"
    with _client_lock:
        return _client(service, region, _machine_session(machine), endpoint)


def _sign_interpreter_calls() -> None:
    """Every interpreter module imported `boto_client_for` by name: replace each copy,
    once all of them are imported (but an optional integration whose imports fail). Again,
    only the imports run (a few ms): each copy is then ours, which _patch leaves."""
    import moto.stepfunctions.parser.asl as asl

    original = pkgutil.resolve_name(f"{_ASL}.utils.boto_client:boto_client_for")
    for info in pkgutil.walk_packages(asl.__path__, asl.__name__ + "."):
        if ".antlr" not in info.name:
            with contextlib.suppress(Exception):
                importlib.import_module(info.name)
    for module in [m for name, m in list(sys.modules.items()) if name.startswith("moto.")]:
        if getattr(module, "boto_client_for", None) is original:
            _patch(module, "boto_client_for", _boto_client_for)


def _find_state(node: Any, name: str) -> Any:
    """The state `name` anywhere in a definition (in a Map's processor, a Parallel's branch)."""
    if isinstance(node, dict) and isinstance(node.get("States"), dict) and name in node["States"]:
        return node["States"][name]
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    return next((s for child in children if (s := _find_state(child, name)) is not None), None)


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
    child_arn = f"arn:aws:states:{region}:{account}:execution:{child}"
    if config.get("ExecutionType") == "EXPRESS":  # express:<machine>/<label>:<run>:<id>
        child_arn = f"arn:aws:states:{region}:{account}:express:{child}:{uuid.uuid4()}"
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


@_wraps(f"{_ASL}.component.state.exec.state_map.state_map:StateMap", "_eval_execution")
def _check_distributed_map(original: Any, state: Any, env: Any) -> Any:
    machine = env.states.context_object.context_object_data["StateMachine"]["Id"]
    if machine in _machines:
        found = _find_state(json.loads(_machines[machine][0]), state.name)
        checks = distributed_map_checks(machine, found or {})
        region = machine.split(":")[3]
        if checks and (refusal := access.authorize(_machine_session(machine), checks, region)):
            raise access.AccessDeniedError(f"AccessDeniedException: {refusal.message}")
    return original(state, env)


# A browser-based upload (presigned POST): its policy, signature and signer (s3_post).
_wraps("moto.s3.responses:S3Response", "_bucket_response_post")(s3_post.hook)


def install() -> None:
    """Apply every fix and the IAM enforcement (idempotent)."""
    for owner, name, wrapper in _PATCHES:
        _patch(pkgutil.resolve_name(owner), name, wrapper)
    # Step Functions' name for S3 errors (see sdk_integrations_like_step_functions).
    pkgutil.resolve_name(_AWS_SDK)._SERVICE_ERROR_NAMES.setdefault("s3", "S3")
    # AWS's common errors, which moto warns of where a service's model has no shape for them.
    COMMON_ERROR_CODES.extend({"AccessDenied", "AccessDeniedException"} - set(COMMON_ERROR_CODES))
    _sign_interpreter_calls()
