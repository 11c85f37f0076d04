"""Guardrail rules as pure functions over resources: nothing here needs the Pulumi CLI.

A rule reads resources the way the Pulumi engine hands them to a policy pack: a type token,
a logical name and camelCase properties. Resource rules look at one resource at a time;
stack rules look at all of them, to relate a bucket to its bucket-level resources (public
access block, ownership controls, encryption, policy) and a watched bucket to the IAM
policies that could write into it.

Values the engine does not know yet (on a first preview: ARNs, generated names, documents
built from them) arrive as UNKNOWN. A check that needs one is skipped rather than failed;
it runs for real on `pulumi up`, when stack rules see every output.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final

from infra.iam import WILDCARD_RESOURCE_ACTIONS


class Unknown(enum.Enum):
    """A value the engine cannot know yet (a computed output during preview)."""

    UNKNOWN = "unknown"


UNKNOWN: Final = Unknown.UNKNOWN

BUCKET_TYPES: Final = frozenset({"aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"})
PUBLIC_ACCESS_BLOCK: Final = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OWNERSHIP_CONTROLS: Final = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
ENCRYPTION_TYPES: Final = frozenset(
    {
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
    }
)
BUCKET_POLICY: Final = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_NOTIFICATION: Final = "aws:s3/bucketNotification:BucketNotification"
QUEUE: Final = "aws:sqs/queue:Queue"
TOPIC: Final = "aws:sns/topic:Topic"
ROLE: Final = "aws:iam/role:Role"
ROLE_POLICY: Final = "aws:iam/rolePolicy:RolePolicy"
IAM_POLICY: Final = "aws:iam/policy:Policy"
FUNCTION: Final = "aws:lambda/function:Function"
STATE_MACHINE: Final = "aws:sfn/stateMachine:StateMachine"
LOG_GROUP: Final = "aws:cloudwatch/logGroup:LogGroup"
DISTRIBUTION: Final = "aws:cloudfront/distribution:Distribution"
TABLE: Final = "aws:dynamodb/table:Table"
API_ROUTE: Final = "aws:apigatewayv2/route:Route"
API_INTEGRATION: Final = "aws:apigatewayv2/integration:Integration"
API_STAGE: Final = "aws:apigatewayv2/stage:Stage"
# Route authorization types that check the caller (NONE lets anyone in).
AUTHORIZED_ROUTES: Final = frozenset({"JWT", "AWS_IAM", "CUSTOM"})

PUBLIC_ACCESS_FLAGS: Final = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)
SSE_ALGORITHMS: Final = frozenset({"AES256", "aws:kms", "aws:kms:dsse"})
# S3 actions that change stored data or its configuration start with one of these verbs.
S3_WRITE_VERBS: Final = ("Put", "Delete", "Restore", "Abort", "Replicate")
# IAM action names are case-insensitive.
_STAR_RESOURCE_ACTIONS: Final = frozenset(a.lower() for a in WILDCARD_RESOURCE_ACTIONS)


@dataclass(frozen=True, eq=False)
class Resource:
    """One resource as a rule sees it.

    `props` are the resource's properties (inputs when validating one resource, outputs
    when validating the stack). `refs` are the values other resources use to point at this
    one (its id, ARN, and for a bucket its name). `dependencies` maps a property to the URNs
    of the resources its value came from, which the engine knows even when the value is not.
    """

    type: str
    name: str
    props: Mapping[str, Any]
    urn: str = ""
    refs: frozenset[str] = frozenset()
    dependencies: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def get(self, key: str) -> Any:
        return self.props.get(key)


@dataclass(frozen=True)
class Violation:
    rule: str
    resource: str
    message: str
    urn: str = ""


def refs_of(type_: str, props: Mapping[str, Any]) -> frozenset[str]:
    """The values a resource is referred to by: id and ARN, and a bucket's name."""
    keys = ("id", "arn", "bucket") if type_ in BUCKET_TYPES else ("id", "arn")
    return frozenset(v for k in keys if isinstance(v := props.get(k), str) and v)


# --- helpers -----------------------------------------------------------------------------


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str | Mapping) or not isinstance(value, Sequence):
        return [value]
    return list(value)


def parse_document(value: Any) -> Mapping[str, Any] | Unknown | None:
    """A policy document from a property (a JSON string or an object); None if it is not one."""
    if value is UNKNOWN:
        return Unknown.UNKNOWN
    parsed: object = value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
    return parsed if isinstance(parsed, Mapping) else None


def statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [s for s in as_list(document.get("Statement")) if isinstance(s, Mapping)]


def _statement_label(statement: Mapping[str, Any], index: int) -> str:
    sid = statement.get("Sid")
    return f"statement {sid!r}" if sid else f"statement #{index}"


def _is_allow(statement: Mapping[str, Any]) -> bool:
    return statement.get("Effect") == "Allow"


@cache
def _glob(pattern: str) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.DOTALL)


def glob_match(pattern: str, value: str) -> bool:
    """Whether an IAM wildcard pattern (`*` any run, `?` one char) matches a value."""
    return _glob(pattern).fullmatch(value) is not None


@cache
def globs_intersect(left: str, right: str) -> bool:
    """Whether some string matches both IAM wildcard patterns (`*` any run, `?` one char)."""

    @cache
    def go(i: int, j: int) -> bool:
        if i == len(left) and j == len(right):
            return True
        if i < len(left) and left[i] == "*":
            return go(i + 1, j) or (j < len(right) and go(i, j + 1))
        if j < len(right) and right[j] == "*":
            return go(i, j + 1) or (i < len(left) and go(i + 1, j))
        if i == len(left) or j == len(right):
            return False
        a, b = left[i], right[j]
        return (a == b or "?" in (a, b)) and go(i + 1, j + 1)

    return go(0, 0)


def may_write_s3(action: str) -> bool:
    """Whether an action (or action pattern) can be an S3 write: Put*, Delete*, Restore*..."""
    return any(globs_intersect(action.lower(), f"s3:{verb.lower()}*") for verb in S3_WRITE_VERBS)


def covers_bucket(resource_pattern: str, bucket_arn: str) -> bool:
    """Whether a Resource entry reaches the bucket or any object in it."""
    return globs_intersect(resource_pattern, bucket_arn) or globs_intersect(
        resource_pattern, f"{bucket_arn}/*"
    )


def iam_documents(resource: Resource) -> Iterator[tuple[str, str, Any]]:
    """(kind, where, raw document) for each IAM document a role or policy resource carries."""
    if resource.type == ROLE:
        yield "trust", "assume-role policy", resource.get("assumeRolePolicy")
        for index, inline in enumerate(as_list(resource.get("inlinePolicies"))):
            if isinstance(inline, Mapping):
                yield (
                    "identity",
                    f"inline policy {inline.get('name') or index!r}",
                    inline.get("policy"),
                )
    elif resource.type in (ROLE_POLICY, IAM_POLICY):
        yield "identity", "policy", resource.get("policy")


def _parsed_iam_documents(
    resource: Resource,
) -> Iterator[tuple[str, str, Mapping[str, Any] | None]]:
    """Like iam_documents, parsed; documents not known yet are left out."""
    for kind, where, raw in iam_documents(resource):
        document = parse_document(raw)
        if document is not UNKNOWN:
            yield kind, where, document


def points_at(child: Resource, key: str, target: Resource) -> bool:
    """Whether child's `key` property refers to target (by dependency or by value)."""
    if target.urn and target.urn in child.dependencies.get(key, frozenset()):
        return True
    value = child.get(key)
    return isinstance(value, str) and value in target.refs


def _describe(resource: Resource) -> str:
    kind = {
        QUEUE: "SQS queue",
        TOPIC: "SNS topic",
        ROLE: "IAM role",
        ROLE_POLICY: "IAM role policy",
        IAM_POLICY: "IAM policy",
        FUNCTION: "Lambda function",
        STATE_MACHINE: "state machine",
        LOG_GROUP: "log group",
        TABLE: "DynamoDB table",
        API_ROUTE: "API route",
        API_STAGE: "API stage",
    }.get(resource.type, "S3 bucket" if resource.type in BUCKET_TYPES else resource.type)
    return f"{kind} '{resource.name}'"


# --- resource rules ----------------------------------------------------------------------


def check_queue_encrypted(queue: Resource) -> list[str]:
    sse, key = queue.get("sqsManagedSseEnabled"), queue.get("kmsMasterKeyId")
    if sse is True or UNKNOWN in (sse, key) or (isinstance(key, str) and key):
        return []
    return [
        f"{_describe(queue)} is not encrypted at rest: set sqsManagedSseEnabled or kmsMasterKeyId"
    ]


def check_topic_encrypted(topic: Resource) -> list[str]:
    key = topic.get("kmsMasterKeyId")
    if key is UNKNOWN or (isinstance(key, str) and key):
        return []
    return [f"{_describe(topic)} has no kmsMasterKeyId: its messages are not encrypted at rest"]


def check_no_wildcard_actions(resource: Resource) -> list[str]:
    """No role policy, managed policy or trust policy names an action with a wildcard."""
    problems = []
    for _kind, where, document in _parsed_iam_documents(resource):
        if document is None:
            problems.append(f"{_describe(resource)}: {where} is not a JSON policy document")
            continue
        for index, statement in enumerate(statements(document)):
            label = _statement_label(statement, index)
            wild = [
                a
                for key in ("Action", "NotAction")
                for a in as_list(statement.get(key))
                if not isinstance(a, str) or "*" in a or "?" in a
            ]
            if wild:
                problems.append(
                    f"{_describe(resource)}: {where} {label} uses wildcard actions {wild}"
                )
            if _is_allow(statement) and "NotAction" in statement:
                problems.append(
                    f"{_describe(resource)}: {where} {label} is an Allow with NotAction,"
                    " which grants every other action"
                )
    return problems


def check_star_resources(resource: Resource) -> list[str]:
    """Resource "*" (or an Allow with NotResource) only for actions AWS cannot scope."""
    problems = []
    for _kind, where, document in _parsed_iam_documents(resource):
        for index, statement in enumerate(statements(document or {})):
            if not _is_allow(statement):
                continue  # a Deny on "*" grants nothing
            star = "*" in as_list(statement.get("Resource")) or "NotResource" in statement
            if not star:
                continue
            scoped = [
                a
                for a in as_list(statement.get("Action"))
                if not isinstance(a, str) or a.lower() not in _STAR_RESOURCE_ACTIONS
            ]
            if "NotAction" in statement:
                scoped.append("NotAction")
            if scoped:
                problems.append(
                    f"{_describe(resource)}: {where} {_statement_label(statement, index)} grants"
                    f' {scoped} on every resource; Resource "*" is only for actions without'
                    " resource-level permissions (infra.iam.WILDCARD_RESOURCE_ACTIONS)"
                )
    return problems


def check_function_tracing(function: Resource) -> list[str]:
    tracing = function.get("tracingConfig")
    if tracing is UNKNOWN or (isinstance(tracing, Mapping) and tracing.get("mode") == "Active"):
        return []
    mode = tracing.get("mode") if isinstance(tracing, Mapping) else None
    return [f"{_describe(function)} does not trace with X-Ray: tracingConfig.mode is {mode!r}"]


def check_state_machine_observable(machine: Resource) -> list[str]:
    problems = []
    logging = machine.get("loggingConfiguration")
    if logging is None or not isinstance(logging, Mapping | Unknown):
        problems.append(f"{_describe(machine)} does not log: it has no loggingConfiguration")
    elif isinstance(logging, Mapping):
        level, destination = logging.get("level"), logging.get("logDestination")
        if level not in ("ALL", "ERROR", "FATAL", UNKNOWN):
            problems.append(f"{_describe(machine)} does not log: its level is {level!r}")
        if not destination:
            problems.append(f"{_describe(machine)} does not log: it has no logDestination")
    tracing = machine.get("tracingConfiguration")
    enabled = tracing.get("enabled") if isinstance(tracing, Mapping) else tracing
    if enabled not in (True, UNKNOWN):
        problems.append(f"{_describe(machine)} does not trace with X-Ray")
    return problems


def check_log_group_retention(group: Resource) -> list[str]:
    days = group.get("retentionInDays")
    # Numbers come through the engine (a protobuf Struct) as floats.
    if days is UNKNOWN or (
        isinstance(days, int | float) and not isinstance(days, bool) and days > 0
    ):
        return []
    return [f"{_describe(group)} keeps logs forever: set retentionInDays"]


def _enabled(resource: Resource, key: str) -> bool | None:
    """Whether a `{enabled: bool}` block is on; None while the engine does not know."""
    block: Any = resource.get(key)
    if isinstance(block, Sequence) and not isinstance(block, str):  # a list of one block
        block = block[0] if block else None
    enabled: Any = block.get("enabled") if isinstance(block, Mapping) else block
    if enabled is UNKNOWN:
        return None
    return enabled is True


def check_table_encrypted_and_recoverable(table: Resource) -> list[str]:
    """The catalogue: encrypted with a KMS key (server-side encryption on) and restorable
    to the second (point-in-time recovery on)."""
    problems = []
    if _enabled(table, "serverSideEncryption") is False:
        problems.append(
            f"{_describe(table)} is not encrypted with a KMS key: set serverSideEncryption.enabled"
        )
    if _enabled(table, "pointInTimeRecovery") is False:
        problems.append(
            f"{_describe(table)} cannot be restored to a point in time: set "
            "pointInTimeRecovery.enabled"
        )
    return problems


def check_route_authorized(route: Resource) -> list[str]:
    """An API route checks its caller: a JWT (or IAM, or Lambda) authorizer, never NONE."""
    kind = route.get("authorizationType")
    if kind is UNKNOWN:
        return []
    if kind not in AUTHORIZED_ROUTES:
        return [
            f"{_describe(route)} ({route.get('routeKey')}) lets anyone call it: authorizationType "
            f"is {kind or 'NONE'!r}; put a JWT authorizer (or IAM) in front of it"
        ]
    if kind in ("JWT", "CUSTOM") and not route.get("authorizerId"):
        return [f"{_describe(route)} has authorizationType {kind} but no authorizerId"]
    return []


def check_stage_logged_and_throttled(stage: Resource) -> list[str]:
    """An API stage writes access logs and holds its routes to a request rate."""
    problems = []
    logs = stage.get("accessLogSettings")
    if logs is not UNKNOWN and not (isinstance(logs, Mapping) and logs.get("destinationArn")):
        problems.append(f"{_describe(stage)} writes no access logs: set accessLogSettings")
    limits = stage.get("defaultRouteSettings")
    if limits is not UNKNOWN:
        limits = limits if isinstance(limits, Mapping) else {}
        unset = [
            key
            for key in ("throttlingBurstLimit", "throttlingRateLimit")
            if limits.get(key) is not UNKNOWN and not (limits.get(key) or 0) > 0
        ]
        if unset:
            problems.append(
                f"{_describe(stage)} is not throttled: set defaultRouteSettings {unset}"
            )
    return problems


# --- stack rules -------------------------------------------------------------------------


def _attached(
    resources: Sequence[Resource], types: frozenset[str], bucket: Resource
) -> list[Resource]:
    return [r for r in resources if r.type in types and points_at(r, "bucket", bucket)]


def denies_insecure_transport(document: Mapping[str, Any], bucket_arn: str | None) -> bool:
    """A Deny for everyone, on every S3 action, on the bucket and its objects, without TLS."""
    for statement in statements(document):
        if statement.get("Effect") != "Deny":
            continue
        principal = statement.get("Principal")
        if not (
            principal == "*" or (isinstance(principal, Mapping) and principal.get("AWS") == "*")
        ):
            continue
        if not {"*", "s3:*"} & {str(a).lower() for a in as_list(statement.get("Action"))}:
            continue
        condition = statement.get("Condition")
        bool_test = condition.get("Bool") if isinstance(condition, Mapping) else None
        values = [
            v
            for key, v in (bool_test.items() if isinstance(bool_test, Mapping) else [])
            if key.lower() == "aws:securetransport"
        ]
        if not any(str(x).lower() == "false" for v in values for x in as_list(v)):
            continue
        patterns = [p for p in as_list(statement.get("Resource")) if isinstance(p, str)]
        if bucket_arn is None:
            return bool(patterns)
        objects = f"{bucket_arn}/any-key"
        if any(glob_match(p, bucket_arn) for p in patterns) and any(
            glob_match(p, objects) for p in patterns
        ):
            return True
    return False


def check_buckets(resources: Sequence[Resource]) -> list[Violation]:
    """Every bucket is private, owner-enforced, encrypted and refuses plain HTTP."""
    rule = "s3-bucket-guardrails"
    out: list[Violation] = []
    for bucket in (r for r in resources if r.type in BUCKET_TYPES):

        def report(problem: str, bucket: Resource = bucket) -> None:
            out.append(Violation(rule, bucket.name, f"{_describe(bucket)} {problem}", bucket.urn))

        blocks = _attached(resources, frozenset({PUBLIC_ACCESS_BLOCK}), bucket)
        if not blocks:
            report("has no public access block")
        elif not any(all(b.get(f) in (True, UNKNOWN) for f in PUBLIC_ACCESS_FLAGS) for b in blocks):
            unset = [f for f in PUBLIC_ACCESS_FLAGS if blocks[0].get(f) is not True]
            report(f"has a public access block that does not set {unset} to true")

        ownership = []
        for controls in _attached(resources, frozenset({OWNERSHIP_CONTROLS}), bucket):
            setting = controls.get("rule")
            ownership.append(
                setting.get("objectOwnership") if isinstance(setting, Mapping) else setting
            )
        if not any(o in ("BucketOwnerEnforced", UNKNOWN) for o in ownership):
            report(f"does not enforce BucketOwnerEnforced ownership (ACLs stay on): {ownership}")

        configurations = [c.get("rules") for c in _attached(resources, ENCRYPTION_TYPES, bucket)]
        inline = bucket.get("serverSideEncryptionConfiguration")
        if isinstance(inline, Mapping):
            configurations.append(inline.get("rule"))
        if not any(_encrypts(rules) for rules in configurations):
            report("has no server-side encryption configuration")

        arn = bucket.get("arn")
        policies = [
            p.get("policy") for p in _attached(resources, frozenset({BUCKET_POLICY}), bucket)
        ]
        if bucket.get("policy") is not None:
            policies.append(bucket.get("policy"))
        documents = [parse_document(p) for p in policies]
        if not documents:
            report("has no bucket policy (it must deny requests without TLS)")
        elif UNKNOWN not in documents and not any(
            isinstance(d, Mapping)
            and denies_insecure_transport(d, arn if isinstance(arn, str) else None)
            for d in documents
        ):
            report("has no bucket policy statement denying aws:SecureTransport = false")
    return out


def _encrypts(rules: Any) -> bool:
    if rules is UNKNOWN:
        return True
    for rule in as_list(rules):
        if not isinstance(rule, Mapping):
            continue
        default = rule.get("applyServerSideEncryptionByDefault")
        if default is UNKNOWN:
            return True
        if isinstance(default, Mapping) and default.get("sseAlgorithm") in (
            *SSE_ALGORITHMS,
            UNKNOWN,
        ):
            return True
    return False


def watched_buckets(resources: Sequence[Resource]) -> list[Resource]:
    """Buckets whose notifications start processing: the upload (source) buckets."""
    notifications = [
        n
        for n in resources
        if n.type == BUCKET_NOTIFICATION
        and (
            any(as_list(n.get(k)) for k in ("queues", "topics", "lambdaFunctions"))
            or n.get("eventbridge") in (True, UNKNOWN)
        )
    ]
    return [
        b
        for b in resources
        if b.type in BUCKET_TYPES and any(points_at(n, "bucket", b) for n in notifications)
    ]


def _writes_into(statement: Mapping[str, Any], bucket_arn: str) -> tuple[list[str], list[str]]:
    """The S3 write actions an Allow statement grants, and its resources that reach the bucket."""
    if not _is_allow(statement):
        return [], []
    writes = [a for a in as_list(statement.get("Action")) if isinstance(a, str) and may_write_s3(a)]
    if "NotAction" in statement:
        writes.append("NotAction")
    targets = [
        p
        for p in as_list(statement.get("Resource"))
        if isinstance(p, str) and covers_bucket(p, bucket_arn)
    ]
    if "NotResource" in statement:
        targets.append("NotResource")
    return writes, targets


def _integrates(integration: Resource, function: Resource) -> bool:
    """Whether an API integration proxies to the function (its URI is the function's ARN
    or the apigateway invoke ARN that holds it)."""
    if points_at(integration, "integrationUri", function):
        return True
    uri = integration.get("integrationUri")
    return isinstance(uri, str) and any(
        ref.startswith("arn:") and f"/functions/{ref}/" in uri for ref in function.refs
    )


def _targets(route: Resource, integration: Resource) -> bool:
    return points_at(route, "target", integration) or route.get("target") in {
        f"integrations/{ref}" for ref in integration.refs
    }


def presigning_roles(resources: Sequence[Resource]) -> list[Resource]:
    """Roles of functions that only authorized API routes reach (the upload API's): such a
    function hands out presigned uploads, which carry its role's s3:PutObject."""
    routes = [r for r in resources if r.type == API_ROUTE]
    integrations = [i for i in resources if i.type == API_INTEGRATION]

    def reached(authorized: bool) -> list[Resource]:
        chosen = [r for r in routes if (not check_route_authorized(r)) == authorized]
        return [i for i in integrations if any(_targets(r, i) for r in chosen)]

    behind_authorizer, open_to_all = reached(True), reached(False)
    functions = [
        f
        for f in resources
        if f.type == FUNCTION
        and any(_integrates(i, f) for i in behind_authorizer)
        and not any(_integrates(i, f) for i in open_to_all)
    ]
    return [
        r for r in resources if r.type == ROLE and any(points_at(f, "role", r) for f in functions)
    ]


def _plain_prefix(prefix: str) -> bool:
    """A key prefix such as 'uploads/': not empty (the whole bucket), no wildcard."""
    return bool(prefix.strip("/")) and "*" not in prefix and "?" not in prefix


def _presigns_uploads(statement: Mapping[str, Any], bucket_arn: str) -> bool:
    """An Allow of s3:PutObject alone, on keys under a prefix of the bucket (not all of it)."""
    resources = as_list(statement.get("Resource"))
    return (
        _is_allow(statement)
        and as_list(statement.get("Action")) == ["s3:PutObject"]
        and "Condition" not in statement
        and bool(resources)
        and all(
            isinstance(p, str)
            and p.startswith(f"{bucket_arn}/")
            and p.endswith("/*")
            and _plain_prefix(p[len(bucket_arn) + 1 : -1])
            for p in resources
        )
    )


def _policy_of_presigner(resource: Resource, presigners: Sequence[Resource]) -> bool:
    if resource.type == ROLE:
        return resource in presigners
    return resource.type == ROLE_POLICY and any(points_at(resource, "role", r) for r in presigners)


def check_source_bucket_writes(resources: Sequence[Resource]) -> list[Violation]:
    """No IAM policy lets anything write where uploads are watched (it would loop or tamper),
    but for the upload API's presigner: s3:PutObject under a key prefix, for a function
    only an authorized API route invokes (what it grants is an app's one upload)."""
    out: list[Violation] = []
    presigners = presigning_roles(resources)
    for bucket in watched_buckets(resources):
        arn = bucket.get("arn")
        if not isinstance(arn, str):
            continue  # not known yet: checked on update
        for resource in resources:
            presigner = _policy_of_presigner(resource, presigners)
            for kind, where, document in _parsed_iam_documents(resource):
                if kind == "trust" or document is None:
                    continue
                for index, statement in enumerate(statements(document)):
                    writes, targets = _writes_into(statement, arn)
                    if not (writes and targets) or (
                        presigner and _presigns_uploads(statement, arn)
                    ):
                        continue
                    label = f"{_describe(resource)}: {where} {_statement_label(statement, index)}"
                    message = (
                        f"{label} grants {writes} on {targets}, in source bucket"
                        f" '{bucket.name}' whose uploads start the pipeline"
                    )
                    out.append(
                        Violation(
                            "no-writes-to-source-bucket", resource.name, message, resource.urn
                        )
                    )
    return out


# --- the registry ------------------------------------------------------------------------


@dataclass(frozen=True)
class ResourceRule:
    name: str
    description: str
    types: frozenset[str]
    check: Callable[[Resource], list[str]]


@dataclass(frozen=True)
class StackRule:
    name: str
    description: str
    check: Callable[[Sequence[Resource]], list[Violation]]


RESOURCE_RULES: Final = (
    ResourceRule(
        "sqs-queue-encrypted",
        "SQS queues are encrypted at rest (SSE-SQS or a KMS key).",
        frozenset({QUEUE}),
        check_queue_encrypted,
    ),
    ResourceRule(
        "sns-topic-encrypted",
        "SNS topics are encrypted with a KMS key.",
        frozenset({TOPIC}),
        check_topic_encrypted,
    ),
    ResourceRule(
        "iam-no-wildcard-actions",
        "No IAM role, role policy or trust policy names an action with a wildcard.",
        frozenset({ROLE, ROLE_POLICY, IAM_POLICY}),
        check_no_wildcard_actions,
    ),
    ResourceRule(
        "iam-star-resource-allowlist",
        'Resource "*" only for the actions in infra.iam.WILDCARD_RESOURCE_ACTIONS.',
        frozenset({ROLE, ROLE_POLICY, IAM_POLICY}),
        check_star_resources,
    ),
    ResourceRule(
        "lambda-xray-active",
        "Lambda functions trace with X-Ray (tracingConfig.mode Active).",
        frozenset({FUNCTION}),
        check_function_tracing,
    ),
    ResourceRule(
        "state-machine-logs-and-traces",
        "State machines log to CloudWatch Logs and trace with X-Ray.",
        frozenset({STATE_MACHINE}),
        check_state_machine_observable,
    ),
    ResourceRule(
        "dynamodb-table-encrypted-and-recoverable",
        "DynamoDB tables (the catalogue) use server-side encryption with a KMS key and"
        " point-in-time recovery.",
        frozenset({TABLE}),
        check_table_encrypted_and_recoverable,
    ),
    ResourceRule(
        "api-route-authorized",
        "API Gateway routes check the caller: a JWT (or IAM, or Lambda) authorizer, never NONE.",
        frozenset({API_ROUTE}),
        check_route_authorized,
    ),
    ResourceRule(
        "api-stage-logged-and-throttled",
        "API Gateway stages write access logs and set a default throttling rate and burst.",
        frozenset({API_STAGE}),
        check_stage_logged_and_throttled,
    ),
    ResourceRule(
        "log-group-retention",
        "Log groups expire their logs (retentionInDays set).",
        frozenset({LOG_GROUP}),
        check_log_group_retention,
    ),
)


def _reads_only_for(statement: Mapping[str, Any], distributions: set[Any]) -> str | None:
    """Why an Allow in a bucket policy grants more than its distribution's read, or None."""
    principal = statement.get("Principal")
    if not (
        isinstance(principal, Mapping)
        and as_list(principal.get("Service")) == ["cloudfront.amazonaws.com"]
    ):
        return f"allows {json.dumps(principal)}, not only cloudfront.amazonaws.com"
    actions = {str(a).lower() for a in as_list(statement.get("Action"))}
    if actions != {"s3:getobject"}:
        return f"allows CloudFront {sorted(actions)}, not only s3:GetObject"
    condition = statement.get("Condition")
    equals = condition.get("StringEquals") if isinstance(condition, Mapping) else None
    arns = [
        v
        for key, v in (equals.items() if isinstance(equals, Mapping) else [])
        if key.lower() == "aws:sourcearn"
    ]
    if not arns:
        return "lets any CloudFront distribution read (no AWS:SourceArn condition)"
    named = [x for v in arns for x in as_list(v)]
    if UNKNOWN in named or UNKNOWN in distributions:
        return None
    if not set(map(str, named)) <= distributions:
        return f"lets distribution(s) {named} read, not this stack's"
    return None


def check_bucket_reads(resources: Sequence[Resource]) -> list[Violation]:
    """A bucket policy allows nothing but its own distribution's s3:GetObject."""
    rule = "bucket-read-only-by-own-distribution"
    distributions = {r.get("arn") for r in resources if r.type == DISTRIBUTION}
    out: list[Violation] = []
    for policy in (r for r in resources if r.type == BUCKET_POLICY):
        document = parse_document(policy.get("policy"))
        if not isinstance(document, Mapping):
            continue
        for index, statement in enumerate(statements(document)):
            if not _is_allow(statement):
                continue
            problem = _reads_only_for(statement, distributions)
            if problem:
                label = _statement_label(statement, index)
                out.append(
                    Violation(
                        rule, policy.name, f"bucket policy '{policy.name}' {label} {problem}",
                        policy.urn,
                    )
                )  # fmt: skip
    return out


STACK_RULES: Final = (
    StackRule(
        "s3-bucket-guardrails",
        "S3 buckets block public access, enforce bucket-owner ownership, declare encryption"
        " and deny requests without TLS.",
        check_buckets,
    ),
    StackRule(
        "no-writes-to-source-bucket",
        "No IAM policy grants an S3 write on the bucket whose notifications start the pipeline,"
        " but the upload API's presigner: s3:PutObject under a prefix, reached by an authorized"
        " route only.",
        check_source_bucket_writes,
    ),
    StackRule(
        "bucket-read-only-by-own-distribution",
        "Bucket policies allow nothing but s3:GetObject by cloudfront.amazonaws.com for one of"
        " the stack's own distributions (AWS:SourceArn): the renditions bucket stays private.",
        check_bucket_reads,
    ),
)


def evaluate(resources: Sequence[Resource]) -> list[Violation]:
    """Every rule over every resource, as the policy pack would report them."""
    found = [
        Violation(rule.name, resource.name, message, resource.urn)
        for resource in resources
        for rule in RESOURCE_RULES
        if resource.type in rule.types
        for message in rule.check(resource)
    ]
    for stack_rule in STACK_RULES:
        found += stack_rule.check(resources)
    return found
