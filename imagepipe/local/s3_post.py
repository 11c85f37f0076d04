"""S3's browser-based uploads (POST Object with a signed POST policy), checked as S3 does.

moto stores whatever a form POSTs to a bucket. S3 first checks, in this order (the S3
API reference, "Authenticating Requests in Browser-Based Uploads Using POST" and "POST
Policy"):

1. the signature: ``x-amz-signature`` is the SigV4 HMAC of the base64 ``policy`` field
   under the signing key of ``x-amz-credential`` (403 SignatureDoesNotMatch);
2. the policy's ``expiration`` (403 AccessDenied, "Policy expired");
3. every form field but ``x-amz-signature``, ``file``, ``policy`` and ``x-ignore-*`` is
   named by a condition (403 AccessDenied, "Extra input fields"), and every condition
   holds: exact match (``{"key": v}``, ``["eq", "$key", v]``), ``starts-with``, and the
   bucket from the URL (403 AccessDenied, "Policy Condition failed");
4. ``content-length-range`` on the file's size (400 EntityTooSmall, EntityTooLarge);
5. IAM: the signer may ``s3:PutObject`` the key (403 AccessDenied). A presigned POST
   carries the authority of whoever signed it, here a Lambda role's session
   (imagepipe.local.access), checked against that role's policies like any request.

https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-authentication-HTTPPOST.html
https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html

Signatures are verified for the credentials the local stack knows the secret of (the
roles' sessions and the emulator's administrator key); moto accepts any other
credentials, so for those only the policy is checked. Only SigV4 POSTs are modelled (the
upload function signs with it); a SigV2 form (AWSAccessKeyId), which S3 still takes in its
older regions, is refused with InvalidArgument. `check_post` is pure; `hook`
wraps moto's bucket POST handler (installed by imagepipe.local.moto_patches).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from xml.sax.saxutils import escape

from imagepipe.local import access
from imagepipe.target import FAKE_CREDENTIALS

# Form fields no condition needs to name.
UNCONDITIONED: Final = frozenset({"x-amz-signature", "file", "policy"})
ALGORITHM: Final = "AWS4-HMAC-SHA256"


@dataclass(eq=False)
class PostRefusal(Exception):  # noqa: N818 - S3's answer, raised by the checks
    """What S3 answers a POST it refuses: HTTP status, error code, message, extras."""

    status: int
    code: str
    message: str
    extra: Mapping[str, str] = field(default_factory=dict)

    def response(self) -> tuple[int, dict[str, str], str]:
        request_id = uuid.uuid4().hex[:16].upper()
        extras = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in self.extra.items())
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{self.code}</Code><Message>{escape(self.message)}</Message>"
            f"{extras}<RequestId>{request_id}</RequestId></Error>"
        )
        headers = {"Content-Type": "application/xml", "x-amz-request-id": request_id}
        return self.status, headers, body


def _denied(message: str) -> PostRefusal:
    return PostRefusal(403, "AccessDenied", message)


def post_signature(secret: str, credential: str, policy_b64: str) -> str:
    """The x-amz-signature S3 expects for a POST policy signed with `credential`
    (AKID/date/region/service/aws4_request): the HMAC under SigV4's derived key."""
    _, date, region, service, _ = credential.split("/")
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, policy_b64.encode(), hashlib.sha256).hexdigest()


def _condition_fields(condition: Any) -> list[str]:
    """The form fields a condition names (lowercase), none for content-length-range."""
    if isinstance(condition, Mapping):
        return [str(k).lower() for k in condition]
    if isinstance(condition, list) and len(condition) == 3 and isinstance(condition[1], str):
        return [condition[1].lstrip("$").lower()]
    return []


def _holds(condition: Any, form: Mapping[str, str], bucket: str) -> bool:
    values = {**form, "bucket": bucket}
    if isinstance(condition, Mapping):
        return all(values.get(str(k).lower()) == str(v) for k, v in condition.items())
    operator, name, expected = condition
    actual = values.get(str(name).lstrip("$").lower())
    if operator == "eq":
        return actual == str(expected)
    if operator == "starts-with":
        return actual is not None and actual.startswith(str(expected))
    return False


def _policy(form: Mapping[str, str]) -> tuple[datetime, list[Any]]:
    """The policy's expiration and conditions."""
    try:
        document = json.loads(base64.b64decode(form["policy"], validate=True))
        expiration = datetime.strptime(document["expiration"], "%Y-%m-%dT%H:%M:%S%z")
        if isinstance(document["conditions"], list):
            return expiration, document["conditions"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        pass
    raise PostRefusal(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.")


def _check_signature(form: Mapping[str, str], secret_for: Callable[[str], str | None]) -> None:
    credential = form.get("x-amz-credential", "")
    if form.get("x-amz-algorithm") != ALGORITHM or credential.count("/") != 4:
        raise PostRefusal(
            400,
            "InvalidArgument",
            f"x-amz-algorithm must be {ALGORITHM} "
            "with an x-amz-credential AKID/date/region/s3/aws4_request",
        )
    secret = secret_for(credential.split("/", 1)[0])
    # Credentials moto accepts whatever they sign (no secret): the policy still counts.
    if secret is not None and not hmac.compare_digest(
        post_signature(secret, credential, form["policy"]), form.get("x-amz-signature", "")
    ):
        raise PostRefusal(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )


def _check_size(condition: list[Any], size: int) -> None:
    low, high = int(condition[1]), int(condition[2])
    if size < low:
        raise PostRefusal(
            400,
            "EntityTooSmall",
            "Your proposed upload is smaller than the minimum allowed size",
            {"ProposedSize": str(size), "MinSizeAllowed": str(low)},
        )
    if size > high:
        raise PostRefusal(
            400,
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size",
            {"ProposedSize": str(size), "MaxSizeAllowed": str(high)},
        )


def check_post(
    form: Mapping[str, str],
    size: int,
    bucket: str,
    now: datetime,
    secret_for: Callable[[str], str | None],
) -> None:
    """Raise the PostRefusal S3 answers a POST Object form (field names lowercase) with,
    if it refuses it before IAM."""
    if "policy" not in form or "key" not in form:
        raise _denied("Access Denied")  # anonymous: the buckets block public writes
    _check_signature(form, secret_for)
    expiration, conditions = _policy(form)
    if now >= expiration:
        raise _denied("Invalid according to Policy: Policy expired.")
    named = {name for condition in conditions for name in _condition_fields(condition)}
    extra = sorted(
        f for f in form if f not in UNCONDITIONED | named and not f.startswith("x-ignore-")
    )
    if extra:
        raise _denied(f"Invalid according to Policy: Extra input fields: {', '.join(extra)}")
    for condition in conditions:
        if isinstance(condition, list) and condition and condition[0] == "content-length-range":
            _check_size(condition, size)
        elif not _holds(condition, form, bucket):
            raise _denied(
                f"Invalid according to Policy: Policy Condition failed: {json.dumps(condition)}"
            )


def secret_of(access_key_id: str) -> str | None:
    """The secret of credentials the local stack knows: an enforced session's, or the
    emulator administrator's; None for any other (moto takes them unchecked)."""
    session = access.session_of({}, {"X-Amz-Credential": access_key_id})
    if session is not None:
        return session.secret_access_key
    if access_key_id == FAKE_CREDENTIALS["aws_access_key_id"]:
        return FAKE_CREDENTIALS["aws_secret_access_key"]
    return None


def _authorize_post(response: Any, bucket_name: str) -> None:
    """Every check S3 makes of a browser-based upload to `bucket_name`, IAM included."""
    # moto's setup_class sets form_data, raw_body and region before any handler runs.
    form = response.form_data
    if "policy" not in {str(k).lower() for k in form}:
        return  # not a browser-based upload
    form = {str(k).lower(): str(v) for k, v in form.items() if str(k).lower() != "file"}
    body = response.raw_body  # a form's "file" field, when it is not a file, is text
    size = len(body if isinstance(body, bytes) else str(body).encode())
    check_post(form, size, bucket_name, datetime.now(UTC), secret_of)
    session = access.session_of({}, {"X-Amz-Credential": form["x-amz-credential"]})
    if session is None:
        return  # the administrator, or credentials moto takes unchecked
    check = access.Check("s3:PutObject", f"arn:aws:s3:::{bucket_name}/{form['key']}")
    if access.authorize(session, [check], str(response.region)) is not None:
        raise _denied("Access Denied")


def hook(original: Any, self: Any, request: Any, bucket_name: str) -> Any:
    """moto's S3Response._bucket_response_post (`original`), refusing what S3 refuses of a
    form POST."""
    try:
        _authorize_post(self, bucket_name)
    except PostRefusal as refusal:
        return refusal.response()
    return original(self, request, bucket_name)
