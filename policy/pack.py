"""The rules of policy.rules as CrossGuard policies (pulumi-policy).

This module only adapts: it turns what the engine sends (property proxies that raise on
values unknown during preview) into plain `rules.Resource` values, with unknown values
replaced by `rules.UNKNOWN`, and reports what the rules find. `policy/__main__.py` serves
these policies as the imagepipeline-guardrails pack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from pulumi_policy import (
    Policy,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from policy import rules


def plain(value: Any) -> Any:
    """A property value as plain dicts and lists, with unknown values as rules.UNKNOWN.

    The engine's proxies raise UnknownValueError when an unknown value is read; reading each
    entry here, once, keeps that out of the rules.
    """
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key in value:
            try:
                out[key] = plain(value[key])
            except UnknownValueError:
                out[key] = rules.UNKNOWN
        return out
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        items: list[Any] = []
        for index in range(len(value)):
            try:
                items.append(plain(value[index]))
            except UnknownValueError:
                items.append(rules.UNKNOWN)
        return items
    return value


def from_policy_resource(resource: PolicyResource) -> rules.Resource:
    props = plain(resource.props)
    return rules.Resource(
        type=resource.resource_type,
        name=resource.name,
        props=props,
        urn=resource.urn,
        refs=rules.refs_of(resource.resource_type, props),
        dependencies={
            key: frozenset(d.urn for d in deps)
            for key, deps in resource.property_dependencies.items()
        },
    )


def from_validation_args(args: ResourceValidationArgs) -> rules.Resource:
    props = plain(args.props)
    return rules.Resource(
        type=args.resource_type,
        name=args.name,
        props=props,
        urn=args.urn,
        refs=rules.refs_of(args.resource_type, props),
    )


def resource_policy(rule: rules.ResourceRule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type not in rule.types:
            return
        for message in rule.check(from_validation_args(args)):
            report_violation(message, None)

    return ResourceValidationPolicy(name=rule.name, description=rule.description, validate=validate)


def stack_policy(rule: rules.StackRule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [from_policy_resource(r) for r in args.resources]
        for violation in rule.check(resources):
            report_violation(violation.message, violation.urn or None)

    return StackValidationPolicy(name=rule.name, description=rule.description, validate=validate)


POLICIES: Final[list[Policy]] = [
    *(resource_policy(rule) for rule in rules.RESOURCE_RULES),
    *(stack_policy(rule) for rule in rules.STACK_RULES),
]
