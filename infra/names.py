"""The physical names the stack's name turns into, checked against AWS's rules for each.

Every name derives from the component name `imagepipe-<stack>`: Pulumi auto-names a
resource `<logical name>-<7 hex>`, a `name_prefix` gets a 26-character unique suffix
from the AWS provider, a few names are explicit. A stack name that makes one of them too
long, or brings a character one of them refuses (`.` or `_` in a bucket name), would fail
at preview or halfway through an apply; `check_stack_name` refuses it before any
resource exists, naming the resource and the limit.

`derived_names` lists every such name; tests/infra/test_names.py checks it against every
named resource the program registers, so a new one cannot be missed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

COMPONENT_PREFIX: Final = "imagepipe-"
AUTONAME_SUFFIX: Final = "-xxxxxxx"  # Pulumi's: '-' and 7 random hex digits
PREFIX_SUFFIX: Final = "x" * 26  # the AWS provider's unique suffix for a name_prefix
STACK_TAG: Final = "imagepipe:stack"  # on every taggable resource (infra/tags.py)


def component_name(stack: str) -> str:
    """The ImagePipeline component's name, which every resource name starts with."""
    return f"{COMPONENT_PREFIX}{stack}"


@dataclass(frozen=True)
class NameRule:
    """AWS's length and character rules for one kind of name."""

    kind: str
    max_length: int
    pattern: str
    characters: str
    lowercased: bool = False
    """The provider lowercases the auto-name (S3 buckets), so case is not an error."""


# fmt: off
BUCKET: Final = NameRule(  # https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
    "S3 bucket name", 63, r"[a-z0-9][a-z0-9-]*[a-z0-9]",
    "lowercase letters, digits and '-' ('.' is legal but breaks HTTPS to the bucket's "
    "virtual-hosted endpoint)", lowercased=True)
QUEUE: Final = NameRule(  # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html
    "SQS queue name", 80, r"[A-Za-z0-9_-]+", "letters, digits, '-' and '_'")
TOPIC: Final = NameRule(  # https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html
    "SNS topic name", 256, r"[A-Za-z0-9_-]+", "letters, digits, '-' and '_'")
ROLE: Final = NameRule(  # https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html
    "IAM role name", 64, r"[\w+=,.@-]+", "letters, digits and + = , . @ _ -")
ROLE_POLICY: Final = NameRule(  # https://docs.aws.amazon.com/IAM/latest/APIReference/API_PutRolePolicy.html
    "IAM role policy name", 128, r"[\w+=,.@-]+", "letters, digits and + = , . @ _ -")
FUNCTION: Final = NameRule(  # https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html
    "Lambda function name", 64, r"[A-Za-z0-9_-]+", "letters, digits, '-' and '_'")
LAYER: Final = NameRule(  # https://docs.aws.amazon.com/lambda/latest/api/API_PublishLayerVersion.html
    "Lambda layer name", 140, r"[A-Za-z0-9_-]+", "letters, digits, '-' and '_'")
LOG_GROUP: Final = NameRule(  # https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html
    "log group name", 512, r"[.\-_/#A-Za-z0-9]+", "letters, digits and . - _ / #")
STATE_MACHINE: Final = NameRule(  # https://docs.aws.amazon.com/step-functions/latest/apireference/API_CreateStateMachine.html
    "state machine name", 80, r"[A-Za-z0-9_-]+",
    "letters, digits, '-' and '_' (what CloudWatch logging of a state machine accepts)")
PIPE: Final = NameRule(  # https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/API_CreatePipe.html
    "EventBridge pipe name", 64, r"[.\-_A-Za-z0-9]+", "letters, digits and . - _")
ALARM: Final = NameRule(  # https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
    "CloudWatch alarm name", 255, r"[\x20-\x7e]+", "printable ASCII")
TABLE: Final = NameRule(  # https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateTable.html
    "DynamoDB table name", 255, r"[A-Za-z0-9_.-]{3,}", "letters, digits and . - _")
ORIGIN_ACCESS_CONTROL: Final = NameRule(  # https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_OriginAccessControlConfig.html
    "CloudFront origin access control name", 64, r"[\x20-\x7e]+", "printable ASCII")
# fmt: on


@dataclass(frozen=True)
class DerivedName:
    """One physical name, with the random part of an auto-name shown as x's."""

    what: str
    """How the error names it: "IAM role name", "backfill state machine name"."""
    name: str
    rule: NameRule

    def problem(self) -> str | None:
        """Why AWS would refuse this name, or None."""
        name = self.name.lower() if self.rule.lowercased else self.name
        if len(name) > self.rule.max_length:
            return f"would be {len(name)} characters, AWS allows {self.rule.max_length}"
        if not re.fullmatch(self.rule.pattern, name, re.ASCII):
            return f"may only contain {self.rule.characters}"
        return None


def derived_names(stack: str, *, delete_derivatives: bool) -> list[DerivedName]:
    """Every physical name the program gives a resource of stack `stack`."""
    base = component_name(stack)
    removal = ["removal"] if delete_derivatives else []

    def auto(rule: NameRule, *logical: str) -> list[DerivedName]:
        return [DerivedName(rule.kind, f"{base}-{p}{AUTONAME_SUFFIX}", rule) for p in logical]

    def prefixed(prefix: str, *kinds: str) -> list[DerivedName]:
        return [
            DerivedName(LOG_GROUP.kind, f"{prefix}{base}-{kind}-{PREFIX_SUFFIX}", LOG_GROUP)
            for kind in kinds
        ]

    functions = ["inspect", "resize", "manifest"]
    roles = [f"{k}-role" for k in (*functions, "workflow", "backfill", *removal)]
    roles += ["pipe-role"] + [f"{k}-pipe-role" for k in removal]
    machines = ["workflow", "backfill", *removal]
    alarms = [f"{m}-{p}" for m in machines for p in ("failed", "timed-out", "aborted", "throttled")]
    return [
        *auto(BUCKET, "source", "renditions", "backup"),
        *auto(QUEUE, "dlq", "ingest", *(["removals"] if delete_derivatives else [])),
        *auto(TOPIC, "processed", "alarms"),
        *auto(ROLE, *roles),
        *auto(ROLE_POLICY, *[f"{r}-policy" for r in roles]),
        *auto(ROLE_POLICY, *[f"{r}-target-policy" for r in roles if r.endswith("pipe-role")]),
        *auto(FUNCTION, *functions),
        DerivedName(LAYER.kind, f"{base}-pillow", LAYER),
        *prefixed("/aws/lambda/", *functions),
        *prefixed("/aws/vendedlogs/states/", *machines),
        *auto(STATE_MACHINE, *[m for m in machines if m != "backfill"]),
        DerivedName("backfill state machine name", f"{base}-backfill", STATE_MACHINE),
        *auto(PIPE, "ingest-pipe", *[f"{k}-pipe" for k in removal]),
        *auto(ALARM, "dead-letters", *alarms),
        *auto(TABLE, "catalogue"),
        DerivedName(ORIGIN_ACCESS_CONTROL.kind, f"{base}-renditions", ORIGIN_ACCESS_CONTROL),
    ]


class StackNameError(ValueError):
    """The stack name would give a resource a name AWS refuses."""


def check_stack_name(stack: str, *, delete_derivatives: bool) -> None:
    """Raise StackNameError naming the first derived name AWS would refuse, and the limit."""
    names = derived_names(stack, delete_derivatives=delete_derivatives)
    for derived in names:
        problem = derived.problem()
        if problem is None:
            continue
        if problem.startswith("would be"):
            longest = min(n.rule.max_length - (len(n.name) - len(stack)) for n in names)
            raise StackNameError(
                f"stack name {stack!r} is too long: the {derived.what} {derived.name} "
                f"{problem} (stack names up to {longest} characters fit)"
            )
        raise StackNameError(
            f"stack name {stack!r} cannot be used: the {derived.what} {derived.name} {problem}"
        )
