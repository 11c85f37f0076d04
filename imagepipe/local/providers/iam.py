"""IAM: roles and their inline policies (enforced later by `imagepipe.local.access`)."""

from __future__ import annotations

from typing import Any, Final

from imagepipe.local.providers.base import Context, Handler, Inputs, Outputs, as_json, physical_name


def _role(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    name = physical_name(logical, inputs)
    params: dict[str, Any] = {
        "RoleName": name,
        "AssumeRolePolicyDocument": as_json(inputs["assumeRolePolicy"]),
    }
    if inputs.get("description"):
        params["Description"] = inputs["description"]
    if inputs.get("path"):
        params["Path"] = inputs["path"]
    role = ctx.clients.client("iam").create_role(**params)["Role"]
    return name, {"arn": role["Arn"], "name": name, "uniqueId": role["RoleId"]}


def _role_policy(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    name = physical_name(logical, inputs)
    role = inputs["role"]
    ctx.clients.client("iam").put_role_policy(
        RoleName=role, PolicyName=name, PolicyDocument=as_json(inputs["policy"])
    )
    return f"{role}:{name}", {"name": name}


RESOURCES: Final[dict[str, Handler]] = {
    "aws:iam/role:Role": _role,
    "aws:iam/rolePolicy:RolePolicy": _role_policy,
}
