"""IAM enforced in the local stack: each call is made as the principal that makes it on AWS.

On AWS a Lambda function calls S3 with its execution role's credentials, a state machine's
integrations run as its role, and a pipe reads its queue and starts executions as its
role. Locally the same happens:

- `session_for(role_arn, service=..., source_arn=...)` checks the role's trust policy for
  that service principal (with `aws:SourceAccount` and `aws:SourceArn`, as the service
  sends them) and assumes the role in moto's STS, which hands out credentials;
- the Lambda runtime puts those credentials in the function's environment (as Lambda
  does), the pipe poller and moto's Step Functions interpreter sign with them;
- moto's request handling (hooked by imagepipe.local.moto_patches) maps a request signed
  with such credentials to the IAM authorizations AWS makes for it (`s3_checks`,
  `api_checks`), each evaluated by `authorize` with `imagepipe.local.iam` against the
  role's policies and the target's resource policy (bucket, queue, topic, KMS key).

Requests signed with any other credentials (the deployer, the CLI, the tests) are the
account's administrator and are not checked, as for a person with admin rights.
`aws:SecureTransport` is true: the local endpoint stands in for AWS's HTTPS endpoints
(the SDKs use TLS), so the buckets' TLS-only deny is evaluated but does not apply.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import unquote, urlparse
from xml.etree import ElementTree

from imagepipe.local.iam import Decision, Request, evaluate, trust_allows

LOG: Final = logging.getLogger(__name__)
PARTITION: Final = "aws"
# ListObjects parameters: a bucket GET with any other is a sub-resource (policy, tagging...).
_LIST_PARAMETERS: Final = frozenset(
    {"list-type", "prefix", "delimiter", "max-keys", "continuation-token", "start-after"}
    | {"encoding-type", "fetch-owner", "marker"}
)


class AccessDeniedError(RuntimeError):
    """A principal may not do what it tried (raised where no AWS response carries it)."""


@dataclass(frozen=True)
class Session:
    """Credentials of one assumed role, as STS hands them out."""

    role_arn: str
    session_arn: str
    access_key_id: str
    secret_access_key: str
    session_token: str

    @property
    def account(self) -> str:
        return self.role_arn.split(":")[4]

    def environment(self) -> dict[str, str]:
        """What Lambda puts in a function's environment for its execution role."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }


@dataclass
class _State:
    sessions: dict[str, Session] = field(default_factory=dict)  # by access key id
    by_principal: dict[tuple[str, str, str], Session] = field(default_factory=dict)
    denials: list[str] = field(default_factory=list)  # what was refused, for people
    decisions: Counter[tuple[str, str, bool]] = field(default_factory=Counter)


_state = _State()
_lock = threading.RLock()


def denials() -> list[str]:
    """Every refusal so far, as AWS would word it (newest last)."""
    with _lock:
        return list(_state.denials)


# -- principals ------------------------------------------------------------------------


def _iam_backend(account: str) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account][PARTITION]


def session_for(role_arn: str, *, service: str, source_arn: str, region: str) -> Session:
    """Credentials for `service` acting as `role_arn` on behalf of `source_arn`.

    Raises AccessDeniedError when the role's trust policy does not let that service
    assume it for that source (the role would be unusable on AWS too).
    """
    key = (role_arn, service, source_arn)
    with _lock:
        if key in _state.by_principal:
            return _state.by_principal[key]
        account = role_arn.split(":")[4]
        role = _iam_backend(account).get_role_by_arn(role_arn)
        context = {"aws:SourceAccount": account, "aws:SourceArn": source_arn}
        if not trust_allows(role.assume_role_policy_document, service, context):
            raise AccessDeniedError(
                f"{service} is not authorized to perform sts:AssumeRole on {role_arn} "
                f"for {source_arn}: the role's trust policy does not allow it"
            )
        from moto.sts.models import sts_backends

        assumed = sts_backends[account][PARTITION].assume_role(
            region_name=region,
            role_session_name=service.split(".")[0] + "-" + uuid.uuid4().hex[:12],
            role_arn=role_arn,
            policy="",
            duration=43200,
            external_id="",
        )
        session = Session(
            role_arn=role_arn,
            session_arn=f"arn:aws:sts::{account}:assumed-role/{role.name}/{assumed.session_name}",
            access_key_id=assumed.access_key.access_key_id,
            secret_access_key=assumed.access_key.secret_access_key,
            session_token=assumed.session_token,
        )
        _state.sessions[session.access_key_id] = session
        _state.by_principal[key] = session
        return session


def _role_policies(role_arn: str) -> list[Any]:
    """The role's identity policies: inline and attached managed (default version)."""
    backend = _iam_backend(role_arn.split(":")[4])
    name = role_arn.split("/")[-1]
    documents: list[Any] = [
        backend.get_role_policy(name, p)[1] for p in backend.list_role_policies(name)
    ]
    attached, _ = backend.list_attached_role_policies(name)
    for policy in attached:
        default = next(v for v in policy.versions if v.is_default)
        documents.append(default.document)
    return documents


def session_of(headers: Mapping[str, Any], query: Mapping[str, Any]) -> Session | None:
    """The enforced session that signed a request, if any (header or presigned query)."""
    authorization = str(headers.get("Authorization") or headers.get("authorization") or "")
    credential = ""
    if "Credential=" in authorization:
        credential = authorization.split("Credential=", 1)[1].split("/", 1)[0]
    elif query.get("X-Amz-Credential"):
        value = query["X-Amz-Credential"]
        credential = str(value[0] if isinstance(value, list) else value).split("/", 1)[0]
    with _lock:
        return _state.sessions.get(credential)


# -- what AWS authorizes for a request -------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One authorization: an IAM action on a resource ARN, with its condition keys."""

    action: str
    resource: str
    context: Mapping[str, Any] = field(default_factory=dict)


def _object_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def _one(query: Mapping[str, Any], name: str) -> str | None:
    value = query.get(name)
    if isinstance(value, list):
        return str(value[0]) if value else None
    return None if value is None else str(value)


def _copy_checks(
    arn: str, headers: Mapping[str, Any], source_tagged: Callable[[str, str], bool]
) -> list[Check]:
    """CopyObject/UploadPartCopy into `arn` read the source (`headers` in lower case);
    copying its tags, or replacing them, needs the tagging actions."""
    source = unquote(str(headers.get("x-amz-copy-source")))
    path, _, version = source.lstrip("/").partition("?versionId=")
    bucket, _, key = path.partition("/")
    source_arn = _object_arn(bucket, key)
    checks = [Check("s3:GetObjectVersion" if version else "s3:GetObject", source_arn)]
    directive = str(headers.get("x-amz-tagging-directive") or "COPY").upper()
    if directive == "COPY" and source_tagged(bucket, key):
        checks += [Check("s3:GetObjectTagging", source_arn), Check("s3:PutObjectTagging", arn)]
    elif directive == "REPLACE" and headers.get("x-amz-tagging"):
        checks.append(Check("s3:PutObjectTagging", arn))
    return checks


def _deleted_keys(body: bytes) -> list[str]:
    """The keys of a DeleteObjects request body."""
    root = ElementTree.fromstring(body or b"<Delete/>")  # noqa: S314 - our own SDK's request
    return [e.text or "" for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "Key"]


def s3_checks(
    method: str,
    bucket: str | None,
    key: str | None,
    query: Mapping[str, Any],
    headers: Mapping[str, Any],
    body: bytes = b"",
    source_tagged: Callable[[str, str], bool] = lambda b, k: False,
) -> list[Check] | None:
    """The IAM authorizations AWS makes for one S3 request (None: not modelled here).

    From the S3 API reference's "Permissions" section of each operation.
    """
    if not bucket:
        return None
    if key:
        return _key_checks(method, bucket, key, query, headers, source_tagged)
    bucket_arn = f"arn:aws:s3:::{bucket}"
    if method in ("GET", "HEAD") and not ({"versions", "uploads"} & set(query)):
        if set(query) - _LIST_PARAMETERS:
            return None  # a bucket sub-resource: not used by roles
        context = {"s3:prefix": _one(query, "prefix") or ""}
        return [Check("s3:ListBucket", bucket_arn, context)]
    if method == "POST" and "delete" in query:
        return [Check("s3:DeleteObject", _object_arn(bucket, k)) for k in _deleted_keys(body)]
    return None


def _key_checks(
    method: str,
    bucket: str,
    key: str,
    query: Mapping[str, Any],
    headers: Mapping[str, Any],
    source_tagged: Callable[[str, str], bool],
) -> list[Check] | None:
    arn = _object_arn(bucket, key)
    lowered = {str(k).lower(): v for k, v in headers.items()}
    if method in ("GET", "HEAD"):
        if "tagging" in query:
            return [Check("s3:GetObjectTagging", arn)]
        if "uploadId" in query:
            return [Check("s3:ListMultipartUploadParts", arn)]
        return [Check("s3:GetObjectVersion" if "versionId" in query else "s3:GetObject", arn)]
    if method == "PUT":
        if "tagging" in query:
            return [Check("s3:PutObjectTagging", arn)]
        checks = [Check("s3:PutObject", arn)]
        if "x-amz-copy-source" in lowered:
            checks += _copy_checks(arn, lowered, source_tagged)
        elif lowered.get("x-amz-tagging"):
            checks.append(Check("s3:PutObjectTagging", arn))
        return checks
    if method == "POST" and ("uploads" in query or "uploadId" in query):
        return [Check("s3:PutObject", arn)]
    if method == "DELETE":
        if "uploadId" in query:
            return [Check("s3:AbortMultipartUpload", arn)]
        return [Check("s3:DeleteObjectVersion" if "versionId" in query else "s3:DeleteObject", arn)]
    return None


_SQS_ACTIONS: Final = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


def _queue_arn(url: str, region: str) -> str:
    parts = [p for p in urlparse(url).path.split("/") if p]
    return f"arn:aws:sqs:{region}:{parts[-2]}:{parts[-1]}"


def _table_arn(param: Callable[[str], Any], region: str, account: str) -> str:
    """The resource a DynamoDB call is authorized on: the table, or for a Query or Scan
    of an index, the index (`table/<name>/index/<index>`).
    https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html"""
    table = str(param("TableName"))
    arn = (
        table if table.startswith("arn:") else f"arn:aws:dynamodb:{region}:{account}:table/{table}"
    )
    index = param("IndexName")
    return f"{arn}/index/{index}" if index else arn


def api_checks(
    service: str, operation: str, param: Callable[[str], Any], path: str, region: str, account: str
) -> list[Check] | None:
    """The IAM authorizations AWS makes for one call of a JSON or query API (None: not
    modelled here). `param` reads a request parameter by its API name."""
    if service == "sts" and operation == "GetCallerIdentity":
        return []  # needs no permission
    if service == "sqs" and param("QueueUrl"):
        action = _SQS_ACTIONS.get(operation, operation)
        return [Check(f"sqs:{action}", _queue_arn(param("QueueUrl"), region))]
    if service == "sns" and operation == "Publish":
        return [Check("sns:Publish", str(param("TopicArn") or param("TargetArn")))]
    if service == "lambda" and operation in ("Invoke", "InvokeAsync"):
        name = unquote(path.split("/functions/", 1)[1].split("/", 1)[0])
        if not name.startswith("arn:"):
            name = f"arn:aws:lambda:{region}:{account}:function:{name}"
        qualifier = param("Qualifier")
        arn = f"{name}:{qualifier}" if qualifier and name.count(":") == 6 else name
        return [Check("lambda:InvokeFunction", arn)]
    if service == "stepfunctions":
        arn = param("stateMachineArn") or param("executionArn") or param("mapRunArn")
        if arn:
            return [Check(f"states:{operation}", str(arn))]
    if service == "kms" and param("KeyId"):
        return [Check(f"kms:{operation}", str(param("KeyId")))]
    if service == "dynamodb" and param("TableName"):
        return [Check(f"dynamodb:{operation}", _table_arn(param, region, account))]
    if service == "cloudfront" and operation == "CreateInvalidation" and "/distribution/" in path:
        # POST /2020-05-31/distribution/<id>/invalidation; a distribution's ARN has no region.
        distribution = unquote(path.split("/distribution/", 1)[1].split("/", 1)[0])
        return [
            Check(
                f"cloudfront:{operation}",
                f"arn:aws:cloudfront::{account}:distribution/{distribution}",
            )
        ]
    return None


# -- resource policies -------------------------------------------------------------------


def _resource_policy(check: Check, region: str) -> tuple[Any, bool]:
    """The resource policy that applies to a check (and whether it is a key policy)."""
    service = check.action.split(":", 1)[0]
    arn = check.resource
    try:
        if service == "s3":
            from moto.s3.models import s3_backends

            bucket = arn.split(":::", 1)[1].split("/", 1)[0]
            account = s3_backends.bucket_accounts.get(bucket, (PARTITION, ""))[1]
            policy = s3_backends[account][PARTITION].get_bucket(bucket).policy
            return (policy.decode() if isinstance(policy, bytes) else policy), False
        if service == "sqs":
            from moto.sqs.models import sqs_backends

            _, _, _, queue_region, account, name = arn.split(":", 5)
            return sqs_backends[account][queue_region].queues[name].policy, False
        if service == "sns":
            from moto.sns.models import sns_backends

            topic_region, account = arn.split(":")[3], arn.split(":")[4]
            return sns_backends[account][topic_region].topics[arn].policy, False
        if service == "kms":
            return _key(arn, region).policy, True
    except (KeyError, LookupError, AttributeError) as err:
        LOG.debug("no resource policy for %s: %s", arn, err)
    return None, service == "kms"


def _key(key_id: str, region: str) -> Any:
    from moto.kms.models import kms_backends

    account = key_id.split(":")[4] if key_id.startswith("arn:") else ""
    region = key_id.split(":")[3] if key_id.startswith("arn:") else region
    backends = kms_backends[account][region] if account else None
    if backends is None:
        raise KeyError(key_id)
    return backends.describe_key(key_id)


def _implied(check: Check, session: Session, region: str) -> list[Check]:
    """Authorizations AWS makes on the caller's behalf: publishing to an encrypted topic
    needs a data key from the topic's KMS key, as the caller."""
    if check.action != "sns:Publish":
        return []
    try:
        from moto.sns.models import sns_backends

        topic = sns_backends[session.account][check.resource.split(":")[3]].topics[check.resource]
    except KeyError:
        return []
    key_id = getattr(topic, "kms_master_key_id", "")
    if not key_id:
        return []
    key_arn = key_id if key_id.startswith("arn:aws:kms:") else ""
    if not key_arn:
        from moto.kms.models import kms_backends

        key_arn = kms_backends[session.account][region].describe_key(key_id).arn
    # https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#sns-what-permissions-for-sse
    return [Check("kms:GenerateDataKey", key_arn), Check("kms:Decrypt", key_arn)]


@dataclass(frozen=True)
class Refusal:
    """Why AWS refuses a request: the authorization that failed, in AWS's words."""

    check: Check
    message: str


def authorize(session: Session, checks: list[Check], region: str) -> Refusal | None:
    """None when every check (and what it implies) is allowed, else the first refusal."""
    pending = list(checks)
    for check in checks:
        pending += _implied(check, session, region)
    identity = _role_policies(session.role_arn)
    for check in pending:
        context = {
            "aws:SecureTransport": "true",
            "aws:PrincipalArn": session.role_arn,
            "aws:PrincipalAccount": session.account,
            "aws:RequestedRegion": region,
            **check.context,
        }
        request = Request(
            session.role_arn, session.session_arn, check.action, check.resource, context
        )
        policy, key_policy = _resource_policy(check, region)
        decision = evaluate(request, identity, policy, key_policy=key_policy)
        with _lock:
            _state.decisions[(session.role_arn, check.action, decision.allowed)] += 1
        if not decision.allowed:
            why = (
                "an explicit deny in a policy"
                if decision is Decision.EXPLICIT_DENY
                else "no policy allows it"
            )
            message = (
                f"User: {session.session_arn} is not authorized to perform: {check.action} "
                f"on resource: {check.resource} because {why}"
            )
            with _lock:
                _state.denials.append(message)
            LOG.info("denied: %s", message)
            return Refusal(check, message)
    return None


def decisions() -> dict[tuple[str, str, bool], int]:
    """How often each (role ARN, action, allowed) was decided: proof that calls were checked."""
    with _lock:
        return dict(_state.decisions)


def reset() -> None:
    """Forget every session and refusal (a new emulator has new credentials)."""
    with _lock:
        _state.sessions.clear()
        _state.by_principal.clear()
        _state.denials.clear()
        _state.decisions.clear()
