"""Step Functions: state machines, created from a definition moto's interpreter accepts."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from imagepipe.local.moto_patches import moto_compatible, register_state_machine
from imagepipe.local.providers import base
from imagepipe.local.providers.base import Context, Handler, Inputs, Outputs

LOG: Final = logging.getLogger(__name__)


def _logging_configuration(logging_inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The API's loggingConfiguration from the provider's (one destination, as an ARN);
    unset, AWS's default: no logging."""
    destination = logging_inputs.get("logDestination")
    return {
        "level": logging_inputs.get("level", "OFF"),
        "includeExecutionData": bool(logging_inputs.get("includeExecutionData")),
        "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": destination}}]
        if destination
        else [],
    }


def _state_machine(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    name = base.physical_name(logical, inputs)
    definition, changes = moto_compatible(inputs["definition"])
    if changes:
        LOG.warning("state machine %s changed for moto: %s", name, "; ".join(changes))
    arn = ctx.clients.client("stepfunctions").create_state_machine(
        name=name,
        definition=definition,
        roleArn=inputs["roleArn"],
        type=inputs.get("type", "STANDARD"),
        loggingConfiguration=_logging_configuration(inputs.get("loggingConfiguration") or {}),
        # The provider's schema has only `enabled`, as the API's; unset, AWS's default: off.
        tracingConfiguration=inputs.get("tracingConfiguration") or {"enabled": False},
    )["stateMachineArn"]
    # IAM checks that moto's copy cannot show (e.g. EXPRESS map children) read the original.
    register_state_machine(arn, inputs["definition"], inputs["roleArn"])
    return arn, {"arn": arn, "name": name, "status": "ACTIVE"}


RESOURCES: Final[dict[str, Handler]] = {"aws:sfn/stateMachine:StateMachine": _state_machine}
