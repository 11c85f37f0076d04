"""IAM: roles and their inline policies (enforced later by `imagepipe.local.access`)."""

from __future__ import annotations

from typing import Final

from imagepipe.local.providers import base
from imagepipe.local.providers.base import Context, Handler, Inputs, Outputs


def _role(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    name = base.physical_name(logical, inputs)
    role = ctx.clients.client("iam").create_role(
        RoleName=name,
        AssumeRolePolicyDocument=inputs["assumeRolePolicy"],
        **base.given(inputs, "description", "path"),
    )["Role"]
    return name, {"arn": role["Arn"], "name": name, "uniqueId": role["RoleId"]}


def _role_policy(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    name = base.physical_name(logical, inputs)
    role = inputs["role"]
    ctx.clients.client("iam").put_role_policy(
        RoleName=role, PolicyName=name, PolicyDocument=inputs["policy"]
    )
    return f"{role}:{name}", {"name": name}


RESOURCES: Final[dict[str, Handler]] = {
    "aws:iam/role:Role": _role,
    "aws:iam/rolePolicy:RolePolicy": _role_policy,
}
