"""Where the local stack's IAM enforcement meets moto: request hooks and signed clients.

`install()` (idempotent) makes moto refuse what AWS would refuse, using
`imagepipe.local.access` for the decisions:

- S3 requests (moto's `_authenticate_and_authorize_s3_action`, called for every bucket
  and object request) and every other API request (`BaseResponse.call_action`) signed by
  an enforced session are authorized; a refusal is answered with the error AWS gives for
  that service (`denied_response`);
- moto's Step Functions interpreter signs its service integrations (Lambda, SNS, SQS, the
  aws-sdk integrations, the Distributed Map's ItemReader and ResultWriter) with the
  state machine role's credentials instead of a fixed key;
- a Distributed Map is checked before it runs for the permissions AWS documents for it
  that moto's inline children never exercise: StartExecution of its own state machine,
  DescribeExecution/StopExecution on its child executions (in the ARN form AWS uses for
  the map's child execution type) and the ResultWriter's S3 actions. A refusal fails the
  Map state with `States.Runtime`, naming the missing permission.
"""

from __future__ import annotations

import importlib
import json
import logging
import pkgutil
import sys
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, Final
from xml.sax.saxutils import escape

from imagepipe.local import access

LOG: Final = logging.getLogger(__name__)
_MARK: Final = "_imagepipe_enforced"
_definitions: dict[str, str] = {}  # state machine ARN -> the definition deployed (not moto's copy)
_roles: dict[str, str] = {}  # state machine ARN -> the role it runs as

_JSON_DENIED: Final = {
    # service: (HTTP status, error code, JSON protocol content type)
    "stepfunctions": (400, "AccessDeniedException", "application/x-amz-json-1.0"),
    "dynamodb": (400, "AccessDeniedException", "application/x-amz-json-1.0"),
    "kms": (400, "AccessDeniedException", "application/x-amz-json-1.1"),
    "logs": (400, "AccessDeniedException", "application/x-amz-json-1.1"),
    "pipes": (403, "AccessDeniedException", "application/json"),
}


def register_state_machine(state_machine_arn: str, definition: str, role_arn: str) -> None:
    """A state machine of the stack: its definition as deployed (moto runs a locally
    adapted copy, see moto_compatible) and the role its integrations run as."""
    _definitions[state_machine_arn] = definition
    _roles[state_machine_arn] = role_arn


def denied_response(
    service: str, message: str, action: str = ""
) -> tuple[int, dict[str, str], str]:
    """The response AWS gives a caller that is not authorized, per service protocol.

    SNS answers a publisher its topic's KMS key refuses with KMSAccessDenied (400), any
    other refusal with AuthorizationError (403).
    """
    request_id = str(uuid.uuid4())
    if service == "sns":
        status, code = (
            (400, "KMSAccessDenied")
            if action.startswith("kms:")
            else (
                403,
                "AuthorizationError",
            )
        )
        body = (
            '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error>'
            f"<Type>Sender</Type><Code>{code}</Code><Message>{escape(message)}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return status, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, body
    if service == "sqs":
        # SQS speaks JSON but keeps its query-protocol error codes (awsQueryCompatible).
        body = json.dumps(
            {"__type": "com.amazon.coral.service#AccessDeniedException", "message": message}
        )
        headers = {
            "Content-Type": "application/x-amz-json-1.0",
            "x-amzn-query-error": "AccessDenied;Sender",
            "x-amzn-RequestId": request_id,
        }
        return 403, headers, body
    if service == "cloudfront":  # REST-XML
        body = (
            '<ErrorResponse xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Error>'
            f"<Type>Sender</Type><Code>AccessDenied</Code><Message>{escape(message)}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return 403, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, body
    if service == "lambda":
        body = json.dumps({"Type": "User", "message": message})
        headers = {"x-amzn-ErrorType": "AccessDeniedException", "x-amzn-RequestId": request_id}
        return 403, {**headers, "Content-Type": "application/json"}, body
    status, code, content_type = _JSON_DENIED.get(
        service, (403, "AccessDeniedException", "application/x-amz-json-1.1")
    )
    body = json.dumps({"__type": code, "message": message})
    return status, {"Content-Type": content_type, "x-amzn-RequestId": request_id}, body


def _s3_source_tagged(account: str) -> Any:
    def tagged(bucket: str, key: str) -> bool:
        from moto.s3.models import s3_backends

        backend = s3_backends[account][access.PARTITION]
        try:
            found = backend.get_object(bucket, key)
        except Exception:  # a missing source fails the copy itself, not its tags
            return False
        return bool(found is not None and backend.get_object_tagging(found).get("Tags"))

    return tagged


def _missing_key(account: str, bucket: str, key: str) -> bool:
    from moto.s3.models import s3_backends

    try:
        found = s3_backends[account][access.PARTITION].get_object(bucket, key)
    except Exception:
        return True
    return found is None


def _authorize_s3(response: Any, bucket_name: str | None, key_name: str | None) -> None:
    """Refuse an S3 request of an enforced session that its policies do not allow."""
    # moto adds its own entries (BucketName, Action) to the parsed query string.
    query = {
        k: v
        for k, v in (getattr(response, "querystring", {}) or {}).items()
        if k not in ("BucketName", "Action")
    }
    session = access._session_of(response.headers, query)
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
    ) and _missing_key(session.account, bucket_name, key_name):
        listing = access.Check("s3:ListBucket", f"arn:aws:s3:::{bucket_name}")
        if access.authorize(session, [listing], region) is not None:
            raise S3AccessDeniedError()


def _refuse_unmodelled(session: access.Session, what: str) -> None:
    message = (
        f"the local stack does not model the permissions AWS checks for {what} "
        f"(made as {session.role_arn}): teach imagepipe/local/access.py, refusing meanwhile"
    )
    LOG.warning("%s", message)


def _install_s3_hook() -> None:
    from moto.s3.responses import S3Response

    original = S3Response._authenticate_and_authorize_s3_action
    if getattr(original, _MARK, False):
        return

    def authorize(self: Any, bucket_name: str | None = None, key_name: str | None = None) -> None:
        _authorize_s3(self, bucket_name, key_name)
        original(self, bucket_name=bucket_name, key_name=key_name)

    setattr(authorize, _MARK, True)
    response_class: Any = S3Response
    response_class._authenticate_and_authorize_s3_action = authorize


def _install_api_hook() -> None:
    from moto.core.responses import BaseResponse

    original = BaseResponse.call_action
    if getattr(original, _MARK, False):
        return

    def call_action(self: Any) -> Any:
        session = access._session_of(self.headers, dict(self.querystring or {}))
        if session is not None:
            service = str(self.boto3_service_name)
            operation = str(self._get_action())
            checks = access.api_checks(
                service,
                operation,
                self._get_param,
                str(getattr(self, "path", "") or ""),
                str(self.region),
                session.account,
            )
            if checks is None:
                _refuse_unmodelled(session, f"{service}:{operation}")
                return denied_response(service, f"{operation} is not modelled locally")
            refusal = access.authorize(session, checks, str(self.region))
            if refusal is not None:
                return denied_response(service, refusal.message, refusal.check.action)
        return original(self)

    setattr(call_action, _MARK, True)
    response_class: Any = BaseResponse
    response_class.call_action = call_action


# -- moto's Step Functions interpreter ----------------------------------------------------


def _state_machine_of(role_arn: str) -> str | None:
    """The deployed state machine that runs as `role_arn` (each has a role of its own)."""
    return next((arn for arn, role in _roles.items() if role == role_arn), None)


def _signed_boto_client_for(original: Any) -> Any:
    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        role_arn = getattr(state_credentials, "role_arn", None)
        machine = _state_machine_of(role_arn) if role_arn else None
        # Only the stack's own state machines (registered when deployed) run as their
        # role; one a test made directly in moto keeps moto's behaviour.
        if not role_arn or machine is None or not access.enabled():
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
        return boto3.client(
            service_name=service,
            region_name=region,
            aws_access_key_id=session.access_key_id,
            aws_secret_access_key=session.secret_access_key,
            aws_session_token=session.session_token,
            config=Config(
                parameter_validation=False, retries={"max_attempts": 0, "total_max_attempts": 1}
            ),
            **kwargs,
        )

    setattr(boto_client_for, _MARK, True)
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


def _install_interpreter_credentials() -> None:
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for
    if getattr(original, _MARK, False):
        return
    patched = _signed_boto_client_for(original)
    modules = list(_interpreter_modules())
    for module in [*modules, *[m for n, m in sys.modules.items() if n.startswith("moto.")]]:
        if getattr(module, "boto_client_for", None) is original:
            module.boto_client_for = patched


# -- Distributed Map ------------------------------------------------------------------------


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
    """The permissions AWS documents for running this Distributed Map state.

    https://docs.aws.amazon.com/step-functions/latest/dg/iam-policies-eg-dist-map.html
    """
    processor = state.get("ItemProcessor") or {}
    config = processor.get("ProcessorConfig") or {}
    if config.get("Mode") != "DISTRIBUTED":
        return []
    _, _, _, region, account, _, name = state_machine_arn.split(":", 6)
    label = state.get("Label") or uuid.uuid4().hex[:8]
    child = f"{name}/{label}:{uuid.uuid4()}"
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
        key = (
            f"{prefix}/{uuid.uuid4()}/manifest.json" if prefix else f"{uuid.uuid4()}/manifest.json"
        )
        arn = f"arn:aws:s3:::{writer['Bucket']}/{key}"
        checks += [
            access.Check(action, arn)
            for action in (
                "s3:PutObject",
                "s3:GetObject",
                "s3:ListMultipartUploadParts",
                "s3:AbortMultipartUpload",
            )
        ]
    return checks


def _install_distributed_map_check() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap

    original = StateMap._eval_execution
    if getattr(original, _MARK, False):
        return

    def _eval_execution(self: Any, env: Any) -> None:
        if access.enabled():
            _check_distributed_map(self.name, env)
        original(self, env)

    setattr(_eval_execution, _MARK, True)
    state_class: Any = StateMap
    state_class._eval_execution = _eval_execution


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


def install() -> None:
    """Enforce IAM for enforced sessions in moto (idempotent)."""
    _install_s3_hook()
    _install_api_hook()
    _install_interpreter_credentials()
    _install_distributed_map_check()
