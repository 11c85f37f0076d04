"""EventBridge Pipes: moto stores pipes but runs none; `imagepipe.local.pipe` polls for them."""

from __future__ import annotations

from typing import Final

from imagepipe.local.providers import base
from imagepipe.local.providers.base import Context, Handler, Inputs, Outputs


def _pipe(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    name = base.physical_name(logical, inputs)
    options = base.given(
        inputs, "description", "sourceParameters", "targetParameters", "enrichment"
    )
    arn = ctx.clients.client("pipes").create_pipe(
        Name=name,
        RoleArn=inputs["roleArn"],
        Source=inputs["source"],
        Target=inputs["target"],
        DesiredState=inputs.get("desiredState", "RUNNING"),
        **base.pascal(options),  # the parameters' nested keys too
    )["Arn"]
    return name, {"arn": arn, "name": name}


RESOURCES: Final[dict[str, Handler]] = {"aws:pipes/pipe:Pipe": _pipe}
