"""IAM policy evaluation for the local stack: what AWS decides for one request of a role.

moto's own access control evaluates identity policies only, against resource `*` for every
service but S3, and knows one condition operator: not enough. This is the part of AWS's
evaluation logic the pipeline's policies use, for principals in the same account as the
resource (what it models and what not: README, "IAM on the local stack"); an operator it
does not know raises `UnsupportedPolicyError` instead of guessing.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

Document = Mapping[str, Any]
Context = Mapping[str, Any]


class UnsupportedPolicyError(ValueError):
    """A policy uses something this evaluator does not model: refuse rather than guess."""


class Decision(Enum):
    ALLOW = "allow"
    IMPLICIT_DENY = "implicit deny"  # nothing allows it
    EXPLICIT_DENY = "explicit deny"  # a Deny statement applies

    @property
    def allowed(self) -> bool:
        return self is Decision.ALLOW


@dataclass(frozen=True)
class Request:
    """One authorization AWS makes: who, which action on which resource, in what context."""

    principal: str  # the role's ARN
    session: str  # the assumed-role session ARN (arn:aws:sts::acct:assumed-role/role/session)
    action: str  # e.g. "s3:GetObject"
    resource: str  # e.g. "arn:aws:s3:::bucket/key"
    context: Context = field(default_factory=dict)

    @property
    def account(self) -> str:
        return self.principal.split(":")[4]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _wildcard(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcards: `*` any run of characters, `?` one; nothing else is special."""
    return _wildcard_regex(str(pattern), ignore_case).fullmatch(str(value)) is not None


@functools.lru_cache(maxsize=4096)
def _wildcard_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """The regular expression of an IAM wildcard pattern, built once per pattern: the
    same few actions and ARNs are matched on every request."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    flags = re.IGNORECASE if ignore_case else 0
    return re.compile(regex, flags | re.DOTALL)


def _matches_any(patterns: Any, value: str, *, ignore_case: bool = False) -> bool:
    return any(_wildcard(p, value, ignore_case=ignore_case) for p in _as_list(patterns))


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike compares the six ARN fields separately, each with wildcards."""
    wanted, actual = str(pattern).split(":", 5), str(value).split(":", 5)
    if len(wanted) != 6 or len(actual) != 6:
        return False
    return all(_wildcard(w, a) for w, a in zip(wanted, actual, strict=True))


def _bool(value: Any) -> str:
    return str(value).lower()


# operator -> does one context value (got) match one policy value (want)
_OPERATORS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "StringEquals": lambda want, got: str(want) == str(got),
    "StringEqualsIgnoreCase": lambda want, got: str(want).lower() == str(got).lower(),
    "StringLike": lambda want, got: _wildcard(want, got),
    "ArnEquals": lambda want, got: str(want) == str(got),
    "ArnLike": _arn_like,
    "Bool": lambda want, got: _bool(want) == _bool(got),
    "NumericEquals": lambda want, got: float(want) == float(got),
    "NumericLessThan": lambda want, got: float(got) < float(want),
    "NumericLessThanEquals": lambda want, got: float(got) <= float(want),
    "NumericGreaterThan": lambda want, got: float(got) > float(want),
    "NumericGreaterThanEquals": lambda want, got: float(got) >= float(want),
}
# A negated operator is true where its positive one is false: StringNotEquals, ArnNotLike...
_NEGATED: Final = {
    name.replace("Equals", "NotEquals").replace("Like", "NotLike"): name
    for name in _OPERATORS
    if name.startswith(("String", "Arn")) or name == "NumericEquals"
}


def _condition_holds(operator: str, key: str, wanted: Any, context: Context) -> bool:
    """One `operator: {key: wanted}` entry against the request context."""
    qualifier, _, name = operator.rpartition(":")
    if_exists = name.endswith("IfExists")
    base = name.removesuffix("IfExists")
    # Context keys are case-insensitive.
    present = {k.lower(): v for k, v in context.items()}
    actual = present.get(key.lower())
    if base == "Null":
        return (actual is None) == (_bool(_as_list(wanted)[0]) == "true")
    negated = base in _NEGATED
    match = _OPERATORS.get(_NEGATED.get(base, base))
    if match is None:
        raise UnsupportedPolicyError(f"condition operator {operator} is not modelled locally")
    if actual is None:
        return if_exists or negated
    values = _as_list(actual)
    wanted_values = _as_list(wanted)

    def one(value: Any) -> bool:
        hit = any(match(w, value) for w in wanted_values)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(one(v) for v in values)
    if qualifier in ("ForAnyValue", ""):
        return any(one(v) for v in values)
    raise UnsupportedPolicyError(f"condition qualifier {qualifier} is not modelled locally")


def conditions_hold(conditions: Mapping[str, Mapping[str, Any]] | None, context: Context) -> bool:
    """Every operator and every key of a Condition block holds (AND of all entries)."""
    return all(
        _condition_holds(operator, key, wanted, context)
        for operator, entries in (conditions or {}).items()
        for key, wanted in entries.items()
    )


def _named(principal: Any, kind: str) -> list[Any]:
    """What a statement's Principal names of one kind ("AWS", "Service"); "*": everyone."""
    if principal == "*":
        return ["*"]
    return _as_list(principal.get(kind, [])) if isinstance(principal, Mapping) else []


def _names_role(principal: Any, request: Request) -> bool:
    """Whether a resource policy's Principal names this role directly (or everyone).

    The account (`<account id>` or `arn:aws:iam::<account id>:root`) does not name the
    role: in a resource policy it delegates the decision to the account's IAM policies.
    """
    return any(p in ("*", request.principal, request.session) for p in _named(principal, "AWS"))


def _names_account(principal: Any, account: str) -> bool:
    return any(p in (account, f"arn:aws:iam::{account}:root") for p in _named(principal, "AWS"))


def _names_service(principal: Any, service: str | None) -> bool:
    """Whether a Principal names an AWS service principal (or everyone); any, for None."""
    return service is None or principal == "*" or service in _named(principal, "Service")


def statement_applies(statement: Mapping[str, Any], request: Request) -> bool:
    """Action, Resource and Condition of one statement all cover the request."""
    if "Action" in statement:
        if not _matches_any(statement["Action"], request.action, ignore_case=True):
            return False
    elif "NotAction" in statement:
        if _matches_any(statement["NotAction"], request.action, ignore_case=True):
            return False
    else:
        return False
    if "Resource" in statement:
        if not _matches_any(statement["Resource"], request.resource):
            return False
    elif "NotResource" in statement and _matches_any(statement["NotResource"], request.resource):
        return False
    return conditions_hold(statement.get("Condition"), request.context)


def _statements(policy: Document | str | bytes | None) -> Sequence[Mapping[str, Any]]:
    if isinstance(policy, str | bytes):
        return _parsed_statements(policy) if policy else ()
    return _statements_of(policy or {})


def _statements_of(document: Document) -> tuple[Mapping[str, Any], ...]:
    return tuple(s for s in _as_list(document.get("Statement", [])) if isinstance(s, Mapping))


@functools.lru_cache(maxsize=1024)
def _parsed_statements(text: str | bytes) -> tuple[Mapping[str, Any], ...]:
    """A policy document's statements, parsed once per text: every request of a role is
    evaluated against the same few documents, and parsing them on each one was a fifth
    of the local stack's time in a burst. Keyed by the text itself, so a changed policy
    (a new text) is parsed afresh; the statements are only read, never changed."""
    return _statements_of(json.loads(text))


def _effects(statements: Iterable[Mapping[str, Any]]) -> tuple[bool, bool]:
    """(an Allow among them, a Deny among them)."""
    effects = {statement.get("Effect") for statement in statements}
    return "Allow" in effects, "Deny" in effects


def _resource(policy: Document | str | None, request: Request) -> tuple[bool, bool, bool]:
    """(allow, deny, delegates: a statement allowing the account as a whole)."""
    allow = deny = delegates = False
    for statement in _statements(policy):
        if "NotPrincipal" in statement:  # everyone but whom it names
            direct, account = not _names_role(statement["NotPrincipal"], request), False
        else:
            principal = statement.get("Principal")
            direct = _names_role(principal, request)
            account = _names_account(principal, request.account)
        if not (direct or account) or not statement_applies(statement, request):
            continue
        if statement.get("Effect") == "Deny":
            deny = True  # a Deny naming the account denies everyone in it
        elif direct:
            allow = allow or statement.get("Effect") == "Allow"
        else:
            delegates = True
    return allow, deny, delegates


def evaluate(
    request: Request,
    identity_policies: Iterable[Document | str],
    resource_policy: Document | str | None = None,
    *,
    key_policy: bool = False,
) -> Decision:
    """AWS's decision for a same-account request.

    `resource_policy` is the bucket, queue, topic or key policy of the resource, if it has
    one. With `key_policy` (KMS), that policy must allow: directly, or by naming the
    account, which delegates to the identity policies.
    """
    identity_allow, identity_deny = _effects(
        s for p in identity_policies for s in _statements(p) if statement_applies(s, request)
    )
    allow, deny, delegates = _resource(resource_policy, request)
    if identity_deny or deny:
        return Decision.EXPLICIT_DENY
    # A key policy must allow, directly or by delegating to IAM; elsewhere either may.
    allowed = (allow or (delegates and identity_allow)) if key_policy else (identity_allow or allow)
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def trust_allows(trust_policy: Document | str, service: str, context: Context) -> bool:
    """Whether a role's trust policy lets an AWS service assume it (sts:AssumeRole),
    conditions such as aws:SourceAccount and aws:SourceArn included."""
    return service_allowed(trust_policy, service, "sts:AssumeRole", "", context).allowed


def service_allowed(
    resource_policy: Document | str | bytes | None,
    service: str | None,
    action: str,
    resource: str,
    context: Context,
) -> Decision:
    """Whether a resource policy lets an AWS service principal (S3 delivering an event,
    CloudWatch publishing an alarm) perform `action` on `resource`: a service has no
    identity policies, so the resource policy alone decides, conditions included. With
    `service` None, whatever principal a statement names."""
    request = Request(str(service), str(service), action, resource, context)
    allow, deny = _effects(
        s
        for s in _statements(resource_policy)
        if _names_service(s.get("Principal"), service) and statement_applies(s, request)
    )
    if deny:
        return Decision.EXPLICIT_DENY
    return Decision.ALLOW if allow else Decision.IMPLICIT_DENY
