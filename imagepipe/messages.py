"""The shapes of the messages around the state machine, in one place (no AWS calls, no
heavy imports: the local stack and the command line share it): the execution input
EventBridge Pipes gives the upload state machine (built by the local pipe, and by
`imagepipe redrive` for a raw S3 event), and a dead-letter queue message (`DeadLetter`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus


def parse_json(text: Any) -> Any:
    """`text` parsed as JSON when it is a JSON string; otherwise `text` itself."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def message_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """SQS API message attributes in the event-record spelling (camelCase)."""
    return {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value.get("DataType"),
        }
        for name, value in attributes.items()
    }


def sqs_record(message: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
    """One received SQS message (a ReceiveMessage entry) as the record EventBridge Pipes
    puts in the target input."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": message_attributes(message.get("MessageAttributes") or {}),
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }


def pipe_input(records: list[dict[str, Any]]) -> str:
    """The target input: a JSON array of records (one per message in the batch)."""
    return json.dumps(records)


def s3_records(document: Any) -> list[dict[str, Any]]:
    """The S3 event records in an execution input (pipe records) or an S3 event."""
    document = parse_json(document)
    if isinstance(document, list) and document and isinstance(document[0], dict):
        document = parse_json(document[0].get("body"))
    records = document.get("Records") if isinstance(document, dict) else None
    return [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []


def s3_object_of(execution_input: Any) -> tuple[str, str | None] | None:
    """(key, eTag) of the S3 object in an execution input.

    Understands the pipe's input (a JSON array of SQS records whose body is an S3 event;
    imagepipe.messages), a bare S3 event, and the backfill's per-item input
    ({"object": {"bucket", "key"}}, no eTag). S3 event keys are URL-encoded as form
    values ('+' for a space); this decodes them.
    """
    document = parse_json(execution_input)
    if isinstance(document, dict) and isinstance(document.get("object"), dict):
        key = document["object"].get("key")
        return (key, None) if isinstance(key, str) else None
    records = s3_records(document)
    if records:
        s3 = records[0].get("s3")
        obj = s3.get("object") if isinstance(s3, dict) else None
        key, etag = (obj.get("key"), obj.get("eTag")) if isinstance(obj, dict) else (None, None)
        if isinstance(key, str):
            return unquote_plus(key), etag.strip('"') if isinstance(etag, str) else None
    return None


@dataclass(frozen=True)
class DeadLetter:
    """One dead-letter queue message body (parsed JSON, or the text if it is not JSON):
    the state machine's (`kind` "rejected" or "failed", `reason`, `message`, `error`,
    `executionArn`, `input`), or a raw S3 event the ingest queue moved there after too
    many receives (kind "redriven")."""

    body: Any

    @property
    def _fields(self) -> dict[str, Any]:
        return self.body if isinstance(self.body, dict) else {}

    @property
    def kind(self) -> str:
        return str(self._fields.get("kind", "redriven"))

    @property
    def reason(self) -> str:
        return str(self._fields.get("reason", "ingest_redrive"))

    @property
    def execution_arn(self) -> str | None:
        return self._fields.get("executionArn")

    @property
    def key(self) -> str | None:
        found = s3_object_of(self.body if self.kind == "redriven" else self._fields.get("input"))
        return found[0] if found else None


def camel(name: str) -> str:
    """message_id -> messageId, "would restart" -> wouldRestart: how --json and the
    catalogue's items spell a field."""
    return re.sub(r"[_ ]([a-z])", lambda m: m[1].upper(), name)
