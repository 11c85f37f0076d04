"""Lambda: layer versions, functions (run by `imagepipe.local.lambda_runtime`) and the
permissions of their resource policies."""

from __future__ import annotations

from typing import Final

from imagepipe.local import lambda_runtime
from imagepipe.local.providers import base
from imagepipe.local.providers.base import Context, Handler, Inputs, Outputs


def _layer(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    layer = ctx.clients.client("lambda").publish_layer_version(
        LayerName=inputs["layerName"],
        Content={"ZipFile": base.archive_bytes(inputs["code"])},
        **base.given(inputs, "description", "compatibleRuntimes", "compatibleArchitectures"),
    )
    arn = layer["LayerVersionArn"]
    return arn, {
        "arn": arn,
        "layerArn": layer["LayerArn"],
        "version": str(layer["Version"]),
        "createdDate": layer.get("CreatedDate", ""),
    }


def _function(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    """CreateFunction, with the provider's defaults for what is not set."""
    name = base.physical_name(logical, inputs)
    variables = (inputs.get("environment") or {}).get("variables") or {}
    function = ctx.clients.client("lambda").create_function(
        FunctionName=name,
        Role=inputs["role"],
        Code={"ZipFile": base.archive_bytes(inputs["code"])},
        Runtime=inputs.get("runtime"),
        Handler=inputs.get("handler"),
        Description=inputs.get("description", ""),
        Timeout=int(inputs.get("timeout", 3)),
        MemorySize=int(inputs.get("memorySize", 128)),
        Layers=list(inputs.get("layers") or []),
        Architectures=list(inputs.get("architectures") or ["x86_64"]),
        # Keys of a user map: copied as they are, values as text like AWS stores them.
        Environment={"Variables": {k: str(v) for k, v in variables.items()}},
        **base.pascal(base.given(inputs, "tracingConfig")),
    )
    # moto does not keep LoggingConfig; the local runtime writes where AWS would.
    log_group = (inputs.get("loggingConfig") or {}).get("logGroup")
    if log_group:
        lambda_runtime.set_log_group(name, log_group)
    arn = function["FunctionArn"]
    return name, {
        "arn": arn,
        "name": name,
        "qualifiedArn": f"{arn}:$LATEST",
        "version": "$LATEST",
        "invokeArn": (
            f"arn:aws:apigateway:{ctx.region}:lambda:path/2015-03-31/functions/{arn}/invocations"
        ),
        "lastModified": function.get("LastModified", ""),
    }


def _permission(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    """A statement of the function's resource policy (what lets a service invoke it)."""
    statement_id = base.physical_name(logical, inputs, "statementId", "statementIdPrefix")
    ctx.clients.client("lambda").add_permission(
        FunctionName=inputs["function"],
        StatementId=statement_id,
        Action=inputs["action"],
        Principal=inputs["principal"],
        **base.given(inputs, "sourceArn", "sourceAccount", "qualifier"),
    )
    return statement_id, {"statementId": statement_id}


RESOURCES: Final[dict[str, Handler]] = {
    "aws:lambda/layerVersion:LayerVersion": _layer,
    "aws:lambda/function:Function": _function,
    "aws:lambda/permission:Permission": _permission,
}
