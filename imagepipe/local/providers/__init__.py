"""Apply the real Pulumi program to moto: a `pulumi.runtime.Mocks` that creates resources.

`MotoMocks.new_resource` gets every registration with its resolved inputs and hands it
to the handler `REGISTRY` (one module per AWS service) has for its type token, which
makes the calls the AWS provider would make, against moto, and returns moto's real ARNs,
names and URLs, so later resources are wired as in AWS. A type without a handler is an
`UnsupportedResourceError` naming it, never skipped. Names follow Pulumi's auto-naming
(`base.physical_name`).
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import pulumi

from imagepipe.local.providers.base import (
    CreatedResource,
    Handler,
    Outputs,
    RefusedByAwsError,
    UnsupportedResourceError,
    whole_numbers,
)
from imagepipe.target import Target

__all__ = [
    "REGISTRY",
    "CreatedResource",
    "MotoMocks",
    "RefusedByAwsError",
    "UnsupportedResourceError",
]


def _registry() -> dict[str, Handler]:
    """Every service module of this package (all but `base`) and its `RESOURCES`."""
    registry: dict[str, Handler] = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name != "base":
            registry.update(importlib.import_module(f"{__name__}.{module.name}").RESOURCES)
    return registry


# Pulumi type token -> the handler that creates such a resource in moto.
REGISTRY: Final[Mapping[str, Handler]] = _registry()


@dataclass
class MotoMocks(pulumi.runtime.Mocks):
    """Pulumi mocks that create every registered resource in moto through `clients`."""

    clients: Target
    created: list[CreatedResource] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def region(self) -> str:
        return self.clients.region

    @property
    def account_id(self) -> str:
        return str(self.clients.client("sts").get_caller_identity()["Account"])

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
        inputs: dict[str, Any] = whole_numbers(dict(args.inputs))
        if not args.custom:
            return "", {}  # a component: nothing to create, its children come on their own
        if args.typ.startswith("pulumi:providers:"):
            return f"{args.name}-provider", inputs
        handler = REGISTRY.get(args.typ)
        if handler is None:  # never skipped
            raise UnsupportedResourceError(
                f"the local stack cannot create resources of type {args.typ} "
                f"(resource {args.name!r}): teach imagepipe/local/providers/ this type"
            )
        # Serialized: resources register concurrently, and deploy order is Pulumi's
        # dependency order already (inputs arrive resolved).
        with self._lock:
            resource_id, computed = handler(self, args.name, inputs)
        outputs = {**inputs, **computed, "id": resource_id}
        self.created.append(CreatedResource(args.typ, args.name, resource_id, outputs))
        return resource_id, outputs

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        function = args.token
        if function == "aws:index/getCallerIdentity:getCallerIdentity":
            identity = self.clients.client("sts").get_caller_identity()
            return {
                "accountId": identity["Account"],
                "arn": identity["Arn"],
                "userId": identity["UserId"],
                "id": identity["Account"],
            }, []
        if function == "aws:index/getRegion:getRegion":
            return {
                "region": self.region,
                "name": self.region,
                "id": self.region,
                "endpoint": f"ec2.{self.region}.amazonaws.com",
                "description": self.region,
            }, []
        raise UnsupportedResourceError(
            f"the local stack cannot answer the function call {args.token}: "
            "teach imagepipe/local/providers/ this function"
        )
