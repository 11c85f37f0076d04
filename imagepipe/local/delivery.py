"""The local stack's stand-in for its CloudFront distribution: an HTTP server on 127.0.0.1
serving the renditions bucket at the CDN's paths, read as `cloudfront.amazonaws.com` for
the distribution so that the bucket policy decides (what it answers, and what it does not
emulate: README, "The local stack").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from werkzeug.wrappers import Request, Response

from imagepipe.local.iam import service_allowed
from imagepipe.local.wsgi import BackgroundServer
from imagepipe.target import Target

# What the managed SecurityHeadersPolicy adds to every response.
# https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-response-headers-policies.html
SECURITY_HEADERS: Final = {
    "Strict-Transport-Security": "max-age=31536000",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-XSS-Protection": "1; mode=block",
}


@dataclass
class Origin:
    """What the distribution serves: a bucket, read on behalf of the distribution."""

    bucket: str
    distribution_arn: str
    account: str


def _text(status: int, text: str) -> Response:
    return Response(text, status, SECURITY_HEADERS, content_type="text/plain")


@dataclass
class DeliveryServer:
    """Serves a bucket over plain HTTP at `base_url`; `origin` is set once deployed."""

    clients: Target | None = None
    host: str = "127.0.0.1"
    port: int = 0
    origin: Origin | None = None
    _server: BackgroundServer | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> DeliveryServer:
        self._server = BackgroundServer(Request.application(self.answer), self.host, self.port)
        self.port = self._server.port
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def answer(self, request: Request) -> Response:
        """A key's object (GET, or HEAD without the body), as the distribution answers."""
        origin, key = self.origin, request.path.lstrip("/")
        if origin is None or self.clients is None:
            return _text(503, "no distribution deployed yet\n")
        s3 = self.clients.client("s3")
        policy = s3.get_bucket_policy(Bucket=origin.bucket).get("Policy")
        decision = service_allowed(
            policy,
            "cloudfront.amazonaws.com",
            "s3:GetObject",
            f"arn:aws:s3:::{origin.bucket}/{key}",
            {
                "aws:SourceArn": origin.distribution_arn,
                "aws:SourceAccount": origin.account,
                "aws:SecureTransport": "true",
            },
        )
        if not decision.allowed:
            return _text(403, "AccessDenied (bucket policy)\n")
        try:
            response = s3.get_object(Bucket=origin.bucket, Key=key)
        except s3.exceptions.NoSuchKey:
            return _text(403, "AccessDenied\n")
        headers = {
            "Content-Type": response.get("ContentType") or "application/octet-stream",
            "ETag": response.get("ETag", ""),
            "Last-Modified": response["LastModified"].strftime("%a, %d %b %Y %H:%M:%S GMT"),
            **({"Cache-Control": response["CacheControl"]} if response.get("CacheControl") else {}),
            **SECURITY_HEADERS,
        }
        return Response(response["Body"].read(), 200, headers)
