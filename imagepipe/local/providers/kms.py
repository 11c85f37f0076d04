"""KMS: customer managed keys."""

from __future__ import annotations

from typing import Final

from imagepipe.local.providers import base
from imagepipe.local.providers.base import Context, Handler, Inputs, Outputs


def _key(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    kms = ctx.clients.client("kms")
    params = base.given(inputs, "keyUsage", "policy")
    if inputs.get("customerMasterKeySpec"):
        params["KeySpec"] = inputs["customerMasterKeySpec"]
    metadata = kms.create_key(Description=inputs.get("description", ""), **params)["KeyMetadata"]
    if inputs.get("enableKeyRotation"):
        kms.enable_key_rotation(KeyId=metadata["KeyId"])
    return metadata["KeyId"], {"arn": metadata["Arn"], "keyId": metadata["KeyId"]}


RESOURCES: Final[dict[str, Handler]] = {"aws:kms/key:Key": _key}
