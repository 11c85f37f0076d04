"""Tags on every taggable resource: the `tags` config and `imagepipe:stack`.

A Pulumi stack transform (run by the engine for every resource the program registers,
https://www.pulumi.com/docs/iac/concepts/options/transforms/) adds them to each AWS
resource whose type takes a `tags` map. Which types do is read from pulumi_aws's own
Args classes, not kept as a list here. Tags a resource sets itself win over these.
Provider default_tags would do the same, but need an explicit provider for every
resource (a provider change on an existing stack) and give some resources a perpetual
diff in their tags_all.
"""

from __future__ import annotations

import collections.abc
import importlib
import typing
from collections.abc import Mapping
from functools import cache

import pulumi

from infra.names import STACK_TAG


def stack_tags(stack: str, configured: Mapping[str, str]) -> dict[str, str]:
    """The tags for every resource of `stack`: which stack it belongs to, then the
    configured ones (which may override it)."""
    return {STACK_TAG: stack, **configured}


@cache
def takes_tags(type_token: str) -> bool:
    """Whether the pulumi_aws resource type `aws:<module>/<name>:<Class>` has a `tags`
    input that is a map of strings (its Args class says so)."""
    package, module_path, class_name = [*type_token.split(":"), "", ""][:3]
    if package != "aws" or "/" not in module_path:
        return False
    module_name = module_path.split("/")[0]
    for candidate in (module_name, f"{module_name}_"):  # lambda -> pulumi_aws.lambda_
        try:
            module = importlib.import_module(f"pulumi_aws.{candidate}")
        except ImportError:
            continue
        tags = getattr(getattr(module, f"{class_name}Args", None), "tags", None)
        annotation = getattr(getattr(tags, "fget", None), "__annotations__", {}).get("return")
        first = typing.get_args(annotation)[0] if typing.get_args(annotation) else None
        return typing.get_origin(first) is collections.abc.Mapping
    return False


def tag_transform(tags: Mapping[str, str]) -> pulumi.ResourceTransform:
    """A transform that merges `tags` into every taggable resource's own tags."""
    fixed = dict(tags)

    def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        if not args.custom or not takes_tags(args.type_):
            return None
        own = args.props.get("tags") or {}
        merged: pulumi.Input[Mapping[str, str]] = (
            {**fixed, **own}
            if isinstance(own, Mapping)
            else pulumi.Output.from_input(own).apply(lambda known: {**fixed, **(known or {})})
        )
        props = {**args.props, "tags": merged}
        return pulumi.ResourceTransformResult(props=props, opts=args.opts)

    return transform


def apply_stack_tags(stack: str, configured: Mapping[str, str]) -> None:
    """Tag every resource the program registers from now on (call before creating any)."""
    pulumi.runtime.register_resource_transform(tag_transform(stack_tags(stack, configured)))
