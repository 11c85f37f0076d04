"""KMS: customer managed keys."""

from __future__ import annotations

from typing import Any, Final

from imagepipe.local.providers.base import Context, Handler, Inputs, Outputs, as_json


def _key(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    kms = ctx.clients.client("kms")
    params: dict[str, Any] = {"Description": inputs.get("description", "")}
    if inputs.get("policy"):
        params["Policy"] = as_json(inputs["policy"])
    if inputs.get("keyUsage"):
        params["KeyUsage"] = inputs["keyUsage"]
    if inputs.get("customerMasterKeySpec"):
        params["KeySpec"] = inputs["customerMasterKeySpec"]
    metadata = kms.create_key(**params)["KeyMetadata"]
    if inputs.get("enableKeyRotation"):
        kms.enable_key_rotation(KeyId=metadata["KeyId"])
    return metadata["KeyId"], {"arn": metadata["Arn"], "keyId": metadata["KeyId"]}


RESOURCES: Final[dict[str, Handler]] = {"aws:kms/key:Key": _key}
