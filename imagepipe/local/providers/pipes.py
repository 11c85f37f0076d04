"""EventBridge Pipes: moto stores pipes but runs none; `imagepipe.local.pipe` polls for them."""

from __future__ import annotations

from typing import Any, Final

from imagepipe.local.providers.base import (
    Context,
    Handler,
    Inputs,
    Outputs,
    pascal,
    physical_name,
)


def _pipe(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    name = physical_name(logical, inputs)
    params: dict[str, Any] = {
        "Name": name,
        "RoleArn": inputs["roleArn"],
        "Source": inputs["source"],
        "Target": inputs["target"],
        "DesiredState": inputs.get("desiredState", "RUNNING"),
    }
    if inputs.get("description"):
        params["Description"] = inputs["description"]
    if inputs.get("sourceParameters"):
        params["SourceParameters"] = pascal(inputs["sourceParameters"])
    if inputs.get("targetParameters"):
        params["TargetParameters"] = pascal(inputs["targetParameters"])
    if inputs.get("enrichment"):
        params["Enrichment"] = inputs["enrichment"]
    arn = ctx.clients.client("pipes").create_pipe(**params)["Arn"]
    return name, {"arn": arn, "name": name}


RESOURCES: Final[dict[str, Handler]] = {"aws:pipes/pipe:Pipe": _pipe}
