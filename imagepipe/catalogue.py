"""The catalogue: one DynamoDB record per original (infra/catalogue.py), as the CLI, the
local stack and the tests read it. The state machines write it; nothing here writes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final

from imagepipe.messages import camel, parse_json

STATUSES: Final = ("processing", "processed", "rejected", "failed", "deleted")


def _plain(value: Mapping[str, Any]) -> Any:
    """A DynamoDB AttributeValue (one type: its value) as a plain value (S, N, BOOL, NULL,
    L, M; None for the types the catalogue never holds)."""
    [(kind, inner)] = value.items()
    if kind == "N":
        return int(inner) if inner.lstrip("-").isdigit() else float(inner)
    if kind == "L":
        return [_plain(v) for v in inner]
    if kind == "M":
        return {k: _plain(v) for k, v in inner.items()}
    return inner if kind in ("S", "BOOL") else None  # NULL too


@dataclass(frozen=True)
class CatalogueRecord:
    """One original's record: its current version and what became of it."""

    key: str
    status: str
    etag: str = ""
    version_id: str = ""
    sequencer: str = ""
    bytes: int | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    content_hash: str | None = None
    reason: str | None = None
    message: str | None = None
    duplicate_of: str | None = None
    renditions: list[dict[str, Any]] = field(default_factory=list)
    manifest_url: str | None = None  # where the image's manifest is served, once processed
    execution_arn: str | None = None
    received_at: str | None = None
    updated_at: str | None = None

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> CatalogueRecord:
        plain = {name: _plain(value) for name, value in item.items()}
        values: dict[str, Any] = {f.name: plain.get(camel(f.name)) for f in fields(cls)}
        for name in ("key", "status", "etag", "version_id", "sequencer"):
            values[name] = str(values[name] or "")
        renditions = parse_json(values["renditions"])  # written as a JSON string
        values["renditions"] = renditions if isinstance(renditions, list) else []
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The record in the item's own (camelCase) names: docs/schemas/catalogue-record.json."""
        return {camel(f.name): getattr(self, f.name) for f in fields(self)}


def get_record(dynamodb: Any, table: str, key: str) -> CatalogueRecord | None:
    """The record of `key`, None if the catalogue has none (strongly consistent read)."""
    item = dynamodb.get_item(TableName=table, Key={"key": {"S": key}}, ConsistentRead=True)
    found = item.get("Item")
    return CatalogueRecord.from_item(found) if found else None


def scan_records(
    dynamodb: Any, table: str, *, status: str | None = None, limit: int | None = None
) -> Iterator[CatalogueRecord]:
    """Records in table order, optionally of one status, at most `limit` of them."""
    params: dict[str, Any] = {"TableName": table}
    if status:
        params |= {
            "FilterExpression": "#status = :status",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":status": {"S": status}},
        }
    pages = dynamodb.get_paginator("scan").paginate(**params, PaginationConfig={"MaxItems": limit})
    for page in pages:
        yield from map(CatalogueRecord.from_item, page.get("Items", []))
