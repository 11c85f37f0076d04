"""What the upload API hands an app: the pure part (no boto3, no environment).

An app POSTs ``{"filename": "cat.jpg", "contentType": "image/jpeg"}`` (either field is
enough) with a JWT the API's authorizer has already checked. It gets the fields of a
presigned POST for one new key, ``<uploadPrefix><subject>/<uuid><suffix>``, where the
subject is the token's ``sub`` claim made safe for S3, and the suffix one of the
stack's allowedSuffixes. The POST policy pins the key, an image Content-Type matching
the suffix, and a size from 1 byte to maxInputBytes: S3 itself refuses anything else.

A request that cannot be served is a `UploadRefusedError`: an HTTP status and a reason code, given
back as ``{"error": <reason>, "message": ...}`` (never a stack trace).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Final

# The image types of the suffixes a stack may allow; a suffix without one cannot be
# offered (S3 stores the Content-Type the POST policy pins).
CONTENT_TYPES: Final[Mapping[str, str]] = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".avif": "image/avif",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".svg": "image/svg+xml",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".bmp": "image/bmp",
}
# S3 keys are at most 1024 bytes of UTF-8.
MAX_KEY_BYTES: Final = 1024
# A request is two short strings; anything much larger is not one.
MAX_BODY_BYTES: Final = 4096
# Characters kept as they are in the subject's key segment: S3's "safe characters"
# minus the ones with a meaning in paths or in our escape (. _ ! * ' ( )).
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html
_SAFE: Final = re.compile(r"[A-Za-z0-9-]")

BAD_JSON: Final = "bad_json"
BAD_REQUEST: Final = "bad_request"
MISSING_TYPE: Final = "missing_type"
UNSUPPORTED_TYPE: Final = "unsupported_type"
TYPE_MISMATCH: Final = "type_mismatch"
MISSING_SUBJECT: Final = "missing_subject"
BAD_SUBJECT: Final = "bad_subject"
REQUEST_TOO_LARGE: Final = "request_too_large"


class UploadRefusedError(Exception):
    """A request the upload API does not serve: status, reason code and a sentence."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.status, self.reason, self.message = status, reason, message

    def body(self) -> dict[str, str]:
        return {"error": self.reason, "message": self.message}


@dataclass(frozen=True)
class Limits:
    """The stack's rules for an upload (from its settings, through the environment)."""

    upload_prefix: str
    allowed_suffixes: Sequence[str]
    max_bytes: int
    expires_in: int


@dataclass(frozen=True)
class UploadPlan:
    """One presigned POST to make: the key and what its policy pins."""

    key: str
    content_type: str
    max_bytes: int
    expires_in: int

    def fields(self) -> dict[str, str]:
        """Form fields the app sends as they are (the signature fields come on top)."""
        return {"Content-Type": self.content_type}

    def conditions(self) -> list[Any]:
        """POST policy conditions besides bucket and key (the SDK adds those two).
        https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html"""
        return [
            {"Content-Type": self.content_type},
            ["content-length-range", 1, self.max_bytes],
        ]

    def response(self, url: str, fields: Mapping[str, str]) -> dict[str, Any]:
        return {
            "url": url,
            "fields": dict(fields),
            "key": self.key,
            "contentType": self.content_type,
            "maxBytes": self.max_bytes,
            "expiresIn": self.expires_in,
        }


def subject_segment(subject: str) -> str:
    """The `sub` claim as one key segment: letters, digits and '-' as they are, any other
    character as '_' and its UTF-8 bytes in hex ('auth0|42' -> 'auth0_7C42'). Injective,
    so two subjects never share a prefix, and never '.', '..' or empty."""
    return "".join(
        c if _SAFE.fullmatch(c) else "".join(f"_{b:02X}" for b in c.encode()) for c in subject
    )


def request_body(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """The JSON object an HTTP API payload 2.0 event carries (base64 when API Gateway
    encoded it); an empty body is an empty request."""
    raw = event.get("body")
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, str):
        raise UploadRefusedError(400, BAD_REQUEST, "the request body must be a JSON object")
    try:
        data = (
            base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else raw.encode()
        )
    except (binascii.Error, ValueError):
        raise UploadRefusedError(400, BAD_JSON, "the request body is not valid base64") from None
    if len(data) > MAX_BODY_BYTES:
        raise UploadRefusedError(
            413, REQUEST_TOO_LARGE, f"the request body is over {MAX_BODY_BYTES} bytes"
        )
    try:
        parsed = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise UploadRefusedError(400, BAD_JSON, "the request body is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise UploadRefusedError(
            400,
            BAD_REQUEST,
            "the request body must be a JSON object like "
            '{"filename": "cat.jpg", "contentType": "image/jpeg"}',
        )
    return parsed


def _text_field(request: Mapping[str, Any], name: str) -> str | None:
    value = request.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise UploadRefusedError(400, BAD_REQUEST, f"{name} must be a non-empty string")
    return value.strip()


def choose_type(request: Mapping[str, Any], allowed_suffixes: Sequence[str]) -> tuple[str, str]:
    """(suffix, content type) for the request's filename and/or contentType."""
    offered = {s: CONTENT_TYPES[s] for s in allowed_suffixes if s in CONTENT_TYPES}
    filename, content_type = _text_field(request, "filename"), _text_field(request, "contentType")
    if filename is None and content_type is None:
        raise UploadRefusedError(400, MISSING_TYPE, "give the file's filename or its contentType")
    accepted = ", ".join(sorted(set(offered.values())))
    if content_type is not None:
        content_type = content_type.split(";", 1)[0].strip().lower()
        if content_type not in offered.values():
            raise UploadRefusedError(
                400,
                UNSUPPORTED_TYPE,
                f"contentType {content_type!r} is not accepted; accepted: {accepted}",
            )
    suffix = PurePosixPath((filename or "").replace("\\", "/")).suffix.lower()
    if not suffix and content_type is not None:  # a name without a suffix: the type decides
        suffix = next(s for s, t in offered.items() if t == content_type)
        return suffix, offered[suffix]
    if suffix not in offered:
        raise UploadRefusedError(
            400,
            UNSUPPORTED_TYPE,
            f"filename {filename!r} does not end in an accepted suffix; "
            f"accepted: {', '.join(offered)}",
        )
    if content_type is not None and content_type != offered[suffix]:
        raise UploadRefusedError(
            400, TYPE_MISMATCH, f"a {suffix} file is {offered[suffix]}, not {content_type}"
        )
    return suffix, offered[suffix]


def subject_of(event: Mapping[str, Any]) -> str:
    """The `sub` claim the JWT authorizer passed on (requestContext.authorizer.jwt.claims)."""
    context = event.get("requestContext")
    authorizer = context.get("authorizer") if isinstance(context, Mapping) else None
    jwt = authorizer.get("jwt") if isinstance(authorizer, Mapping) else None
    claims = jwt.get("claims") if isinstance(jwt, Mapping) else None
    subject = claims.get("sub") if isinstance(claims, Mapping) else None
    if not isinstance(subject, str) or not subject.strip():
        raise UploadRefusedError(
            403, MISSING_SUBJECT, "the token has no sub claim to file uploads under"
        )
    return subject


def plan_upload(
    event: Mapping[str, Any], limits: Limits, new_id: Callable[[], str] = lambda: uuid.uuid4().hex
) -> UploadPlan:
    """The presigned POST an authorized request gets, or `UploadRefusedError` saying why not."""
    segment = subject_segment(subject_of(event))
    suffix, content_type = choose_type(request_body(event), limits.allowed_suffixes)
    key = f"{limits.upload_prefix}{segment}/{new_id()}{suffix}"
    if len(key.encode()) > MAX_KEY_BYTES:
        raise UploadRefusedError(
            403, BAD_SUBJECT, "the token's sub claim is too long for an S3 key"
        )
    return UploadPlan(key, content_type, limits.max_bytes, limits.expires_in)


def http_response(status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    """An HTTP API payload 2.0 response with a JSON body that no cache keeps."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
    }
