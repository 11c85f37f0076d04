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


_lock = threading.RLock()
_sessions: dict[str, Session] = {}  # by access key id
_by_principal: dict[tuple[str, str, str], Session] = {}  # by (role, service, source ARN)


# -- principals ------------------------------------------------------------------------


def _role(role_arn: str) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[role_arn.split(":")[4]][PARTITION].get_role_by_arn(role_arn)


def session_for(role_arn: str, *, service: str, source_arn: str, region: str) -> Session:
    """Credentials for `service` acting as `role_arn` on behalf of `source_arn`.

    Raises AccessDeniedError when the role's trust policy does not let that service
    assume it for that source (the role would be unusable on AWS too).
    """
    key = (role_arn, service, source_arn)
    with _lock:
        if key in _by_principal:
            return _by_principal[key]
        account = role_arn.split(":")[4]
        context = {"aws:SourceAccount": account, "aws:SourceArn": source_arn}
        if not trust_allows(_role(role_arn).assume_role_policy_document, service, context):
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
            role_arn,
            assumed.arn,
            assumed.access_key.access_key_id,
            assumed.access_key.secret_access_key,
            assumed.session_token,
        )
        _sessions[session.access_key_id] = _by_principal[key] = session
        return session


def _role_policies(role_arn: str) -> list[Any]:
    """The role's identity policies: inline and attached managed (default version)."""
    role = _role(role_arn)
    managed = [
        next(v.document for v in policy.versions if v.is_default)
        for policy in role.managed_policies.values()
    ]
    return [*role.policies.values(), *managed]


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
        return _sessions.get(credential)


# -- what AWS authorizes for a request -------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One authorization: an IAM action on a resource ARN, with its condition keys."""

    action: str
    resource: str
    context: Mapping[str, Any] = field(default_factory=dict)


def _object_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


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
        return _key_checks(method, _object_arn(bucket, key), query, headers, source_tagged)
    if method in ("GET", "HEAD") and not set(query) - _LIST_PARAMETERS:
        prefix = query.get("prefix") or [""]
        context = {"s3:prefix": str(prefix[0] if isinstance(prefix, list) else prefix)}
        return [Check("s3:ListBucket", f"arn:aws:s3:::{bucket}", context)]
    if method == "POST" and "delete" in query:
        root = ElementTree.fromstring(body or b"<Delete/>")  # noqa: S314 - our own SDK's request
        keys = [e.text or "" for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "Key"]
        return [Check("s3:DeleteObject", _object_arn(bucket, k)) for k in keys]
    return None  # a bucket sub-resource: not used by roles


def _key_checks(
    method: str,
    arn: str,
    query: Mapping[str, Any],
    headers: Mapping[str, Any],
    source_tagged: Callable[[str, str], bool],
) -> list[Check] | None:
    """An object request's action, from moto's own table of them (a HEAD is a GET, by
    its query parameters), and for a PutObject what it copies or tags."""
    from moto.s3.responses import ACTION_MAP

    actions = ACTION_MAP["KEY"].get("GET" if method == "HEAD" else method, {})
    action = next((a for q, a in actions.items() if q in query), actions.get("DEFAULT"))
    if action is None:
        return None
    checks = [Check(f"s3:{action}", arn)]
    lowered = {str(k).lower(): v for k, v in headers.items()}
    if method == "PUT" and action == "PutObject":
        if "x-amz-copy-source" in lowered:
            checks += _copy_checks(arn, lowered, source_tagged)
        elif lowered.get("x-amz-tagging"):
            checks.append(Check("s3:PutObjectTagging", arn))
    return checks


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
    service: str, operation: str, param: Callable[[str], Any], region: str, account: str
) -> list[Check] | None:
    """The IAM authorizations AWS makes for one call of a JSON, query or REST API (None:
    not modelled here). `param` reads a request parameter by its API name (moto's, parsed
    with the service's model: from the body, the query or the path)."""
    if service == "sts" and operation == "GetCallerIdentity":
        return []  # needs no permission
    if service == "sqs" and param("QueueUrl"):
        action = _SQS_ACTIONS.get(operation, operation)
        return [Check(f"sqs:{action}", _queue_arn(param("QueueUrl"), region))]
    if service == "sns" and operation == "Publish":
        return [Check("sns:Publish", str(param("TopicArn") or param("TargetArn")))]
    if service == "lambda" and operation in ("Invoke", "InvokeAsync"):
        name = str(param("FunctionName"))
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
    if service == "cloudfront" and operation == "CreateInvalidation":
        # A distribution's ARN has no region.
        arn = f"arn:aws:cloudfront::{account}:distribution/{param('DistributionId')}"
        return [Check(f"cloudfront:{operation}", arn)]
    return None


# -- resource policies -------------------------------------------------------------------


def _resource_policy(check: Check) -> Any:
    """The resource policy that applies to a check (None: the resource has none)."""
    from moto.kms.models import kms_backends
    from moto.s3.models import s3_backends
    from moto.sns.models import sns_backends
    from moto.sqs.models import sqs_backends

    service = check.action.split(":", 1)[0]
    arn = check.resource
    try:
        if service == "s3":
            bucket = arn.split(":::", 1)[1].split("/", 1)[0]
            account = s3_backends.bucket_accounts.get(bucket, (PARTITION, ""))[1]
            return s3_backends[account][PARTITION].get_bucket(bucket).policy
        _, _, _, region, account, name = arn.split(":", 5)
        if service == "sqs":
            return sqs_backends[account][region].queues[name].policy
        if service == "sns":
            return sns_backends[account][region].topics[arn].policy
        if service == "kms":  # a key named other than by its ARN has no policy here
            return kms_backends[account][region].describe_key(arn).policy
    except (LookupError, ValueError, AttributeError) as err:
        LOG.debug("no resource policy for %s: %s", arn, err)
    return None


def _implied(check: Check, session: Session, region: str) -> list[Check]:
    """Authorizations AWS makes on the caller's behalf: publishing to an encrypted topic
    needs a data key from the topic's KMS key, as the caller."""
    from moto.kms.models import kms_backends
    from moto.sns.models import sns_backends

    if check.action != "sns:Publish":
        return []
    topics = sns_backends[session.account][check.resource.split(":")[3]].topics
    key_id = getattr(topics.get(check.resource), "kms_master_key_id", "")
    if not key_id:
        return []
    if not key_id.startswith("arn:aws:kms:"):
        key_id = kms_backends[session.account][region].describe_key(key_id).arn
    # https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#sns-what-permissions-for-sse
    return [Check("kms:GenerateDataKey", key_id), Check("kms:Decrypt", key_id)]


@dataclass(frozen=True)
class Refusal:
    """Why AWS refuses a request: the authorization that failed, in AWS's words."""

    check: Check
    message: str


def authorize(session: Session, checks: list[Check], region: str) -> Refusal | None:
    """None when every check (and what it implies) is allowed, else the first refusal."""
    pending = [*checks, *(c for check in checks for c in _implied(check, session, region))]
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
        # A KMS key's policy must allow (iam.evaluate): a missing one allows nothing.
        key_policy = check.action.startswith("kms:")
        decision = evaluate(request, identity, _resource_policy(check), key_policy=key_policy)
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
            LOG.info("denied: %s", message)  # one line per refusal, for people (and tests)
            return Refusal(check, message)
    return None
