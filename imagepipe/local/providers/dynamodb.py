"""DynamoDB: tables with their key schema, global secondary indexes, billing mode,
encryption and point-in-time recovery, as the AWS provider creates them."""

from __future__ import annotations

from typing import Any, Final

from imagepipe.local.providers import base
from imagepipe.local.providers.base import Context, Handler, Inputs, Outputs


def _key_schema(hash_key: str, range_key: str | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return schema


def _index(index: dict[str, Any]) -> dict[str, Any]:
    projection: dict[str, Any] = {"ProjectionType": index.get("projectionType", "ALL")}
    if index.get("nonKeyAttributes"):
        projection["NonKeyAttributes"] = list(index["nonKeyAttributes"])
    return {
        "IndexName": index["name"],
        "KeySchema": _key_schema(index["hashKey"], index.get("rangeKey")),
        "Projection": projection,
    }


def _table(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    name = base.physical_name(logical, inputs)
    billing = inputs.get("billingMode", "PROVISIONED")
    params: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": [
            {"AttributeName": a["name"], "AttributeType": a["type"]}
            for a in inputs.get("attributes", [])
        ],
        "KeySchema": _key_schema(inputs["hashKey"], inputs.get("rangeKey")),
        "BillingMode": billing,
        "DeletionProtectionEnabled": bool(inputs.get("deletionProtectionEnabled")),
    }
    if billing == "PROVISIONED":
        params["ProvisionedThroughput"] = {
            "ReadCapacityUnits": int(inputs.get("readCapacity", 1)),
            "WriteCapacityUnits": int(inputs.get("writeCapacity", 1)),
        }
    indexes = [_index(i) for i in inputs.get("globalSecondaryIndexes") or []]
    if indexes:
        params["GlobalSecondaryIndexes"] = indexes
    sse = inputs.get("serverSideEncryption") or {}
    if sse.get("enabled"):
        # KMS is the only SSEType; without a key ARN, DynamoDB's AWS managed key.
        sse_args = base.pascal(sse, {"kmsKeyArn": "KMSMasterKeyId"})
        params["SSESpecification"] = {"SSEType": "KMS", **sse_args}
    client = ctx.clients.client("dynamodb")
    arn = client.create_table(**params)["TableDescription"]["TableArn"]
    if (inputs.get("pointInTimeRecovery") or {}).get("enabled"):
        client.update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )
    return name, {"arn": arn, "name": name}


RESOURCES: Final[dict[str, Handler]] = {"aws:dynamodb/table:Table": _table}
