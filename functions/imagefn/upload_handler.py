"""Upload Lambda: behind the upload API's JWT authorizer, hands an app a presigned POST.

Input: an API Gateway HTTP API payload 2.0 event for ``POST /uploads`` whose
``requestContext.authorizer.jwt.claims`` hold the caller's verified claims, and whose
body is ``{"filename": ..., "contentType": ...}``. Output: a payload 2.0 response,
200 with ``{"url", "fields", "key", "contentType", "maxBytes", "expiresIn"}``, or a 4xx
with ``{"error": <reason>, "message": ...}`` (imagefn.upload).

The POST is signed here, with this function's role credentials, so S3 accepts it only
while that role may s3:PutObject the key: the role may do so under the upload prefix
and nothing else (infra/iam.py upload_policy). Signing makes no AWS call.

Environment (read once, at import): SOURCE_BUCKET (required), UPLOAD_PREFIX,
ALLOWED_SUFFIXES (comma-separated), MAX_INPUT_BYTES, UPLOAD_URL_EXPIRY_SECONDS, and
Powertools' POWERTOOLS_* variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final

import botocore.session  # type: ignore[import-untyped, unused-ignore]
from aws_lambda_powertools import Logger
from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]

from .env import env_int, required
from .upload import Limits, UploadRefusedError, http_response, plan_upload

LIMITS: Final = Limits(
    upload_prefix=os.environ.get("UPLOAD_PREFIX", ""),
    allowed_suffixes=tuple(
        s.strip().lower() for s in os.environ.get("ALLOWED_SUFFIXES", "").split(",") if s.strip()
    ),
    max_bytes=env_int("MAX_INPUT_BYTES", 50 * 1024 * 1024),
    expires_in=env_int("UPLOAD_URL_EXPIRY_SECONDS", 300),
)
SOURCE_BUCKET: Final = required("SOURCE_BUCKET")

logger: Final = Logger()
# SigV4 (the only signature every region takes) and the bucket's regional host: botocore
# presigns "auto" addressing on the global s3.amazonaws.com, which redirects a young
# bucket outside us-east-1. (A custom endpoint, an IP, stays path-style.)
# botocore's client, not boto3's, as the other handlers (a shorter cold start).
s3: Final = botocore.session.get_session().create_client(
    "s3", config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"})
)


def presign(event: Mapping[str, Any]) -> dict[str, Any]:
    """The work of the handler: the response for one request."""
    try:
        plan = plan_upload(event, LIMITS)
    except UploadRefusedError as refused:
        logger.info("upload refused", extra={"reason": refused.reason, "status": refused.status})
        return http_response(refused.status, refused.body())
    post = s3.generate_presigned_post(
        Bucket=SOURCE_BUCKET,
        Key=plan.key,
        Fields=plan.fields(),
        Conditions=plan.conditions(),
        ExpiresIn=plan.expires_in,
    )
    logger.info("upload presigned", extra={"key": plan.key, "contentType": plan.content_type})
    return http_response(200, plan.response(post["url"], post["fields"]))


def handler(event: Any, context: Any) -> dict[str, Any]:
    logger.thread_safe_clear_keys()  # per thread: the local stack runs handlers in threads
    logger.thread_safe_append_keys(request_id=getattr(context, "aws_request_id", None))
    if not isinstance(event, Mapping):
        return http_response(400, {"error": "bad_request", "message": "not an HTTP API event"})
    return presign(event)
