"""Lambda inputs as AWS builds them: S3 notifications, the pipe's SQS records, contexts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

from imagefn.renditions import Rendition

SOURCE_BUCKET = "imagepipe-source"
DESTINATION_BUCKET = "imagepipe-renditions"
BACKUP_BUCKET = "imagepipe-backup"
REGION = "eu-west-1"

RENDITIONS = (
    Rendition(name="thumb", width=64, height=64, fit="cover", format="webp", quality=80),
    Rendition(name="medium", width=120, height=120, fit="contain", format="jpeg", quality=82),
    Rendition(name="orig", width=100, height=50, fit="fill", format="original", quality=80),
)


def s3_notification(key: str, *, bucket: str = SOURCE_BUCKET, size: int = 1, etag: str = "0",
                    event_name: str = "ObjectCreated:Put") -> dict[str, Any]:  # fmt: skip
    """An S3 event notification as S3 sends it: the key URL-encoded as a form value."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": "2026-01-01T00:00:00.000Z",
                "eventName": event_name,
                "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
                "requestParameters": {"sourceIPAddress": "203.0.113.7"},
                "responseElements": {
                    "x-amz-request-id": "C3D13FE58DE4C810",
                    "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "uploads",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        "key": quote_plus(key),
                        "size": size,
                        "eTag": etag,
                        "sequencer": "0055AED6DCD90281E5",
                    },
                },
            }
        ]
    }


def sqs_record(body: dict[str, Any] | str, message_id: str = "m-1") -> dict[str, Any]:
    """An SQS record as an EventBridge Pipe delivers it."""
    text = body if isinstance(body, str) else json.dumps(body)
    return {
        "messageId": message_id,
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
        "body": text,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1767225600000",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1767225600001",
        },
        "messageAttributes": {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:imagepipe-ingest",
        "awsRegion": REGION,
    }


def inspect_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {
        "records": list(records),
        "execution": {
            "id": f"arn:aws:states:{REGION}:123456789012:execution:imagepipe:abc",
            "startedAt": "2026-01-01T00:00:01.000Z",
        },
    }


def upload_event(key: str) -> dict[str, Any]:
    return inspect_event(sqs_record(s3_notification(key)))


@dataclass
class FakeContext:
    function_name: str = "imagepipe-test"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:imagepipe-test"
    aws_request_id: str = "req-1"
