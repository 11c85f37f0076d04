"""Step Functions: state machines, created from a definition moto's interpreter accepts."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from imagepipe.local.moto_patches import moto_compatible, register_state_machine
from imagepipe.local.providers.base import Context, Handler, Inputs, Outputs, physical_name

LOG: Final = logging.getLogger(__name__)


def _logging_configuration(logging_inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The API's loggingConfiguration from the provider's (one destination, as an ARN)."""
    api_logging: dict[str, Any] = {
        "level": logging_inputs.get("level", "OFF"),
        "includeExecutionData": bool(logging_inputs.get("includeExecutionData")),
    }
    if logging_inputs.get("logDestination"):
        api_logging["destinations"] = [
            {"cloudWatchLogsLogGroup": {"logGroupArn": logging_inputs["logDestination"]}}
        ]
    return api_logging


def _state_machine(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    name = physical_name(logical, inputs)
    definition, changes = moto_compatible(inputs["definition"])
    if changes:
        LOG.warning("state machine %s changed for moto: %s", name, "; ".join(changes))
    params: dict[str, Any] = {
        "name": name,
        "definition": definition,
        "roleArn": inputs["roleArn"],
        "type": inputs.get("type", "STANDARD"),
    }
    if inputs.get("loggingConfiguration"):
        params["loggingConfiguration"] = _logging_configuration(inputs["loggingConfiguration"])
    if inputs.get("tracingConfiguration"):
        params["tracingConfiguration"] = {
            "enabled": bool(inputs["tracingConfiguration"].get("enabled"))
        }
    arn = ctx.clients.client("stepfunctions").create_state_machine(**params)["stateMachineArn"]
    # IAM checks that moto's copy cannot show (e.g. EXPRESS map children) read the original.
    register_state_machine(arn, inputs["definition"], inputs["roleArn"])
    return arn, {"arn": arn, "name": name, "status": "ACTIVE"}


RESOURCES: Final[dict[str, Handler]] = {"aws:sfn/stateMachine:StateMachine": _state_machine}
