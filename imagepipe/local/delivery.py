"""The local stack's stand-in for its CloudFront distribution: an HTTP server on 127.0.0.1
serving the renditions bucket at the CDN's paths, read as `cloudfront.amazonaws.com` for
the distribution so that the bucket policy decides (what it answers, and what it does not
emulate: README, "The local stack").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from werkzeug.wrappers import Request, Response

from imagepipe.local.iam import service_allowed
from imagepipe.local.providers.base import CreatedResource
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


def _text(status: int, text: str) -> Response:
    return Response(text, status, SECURITY_HEADERS, content_type="text/plain")


class DeliveryServer:
    """Serves the distribution's bucket over plain HTTP at `base_url` (127.0.0.1:<port>, any
    free port for 0), read on behalf of the distribution; `bind` says which once deployed
    (503 until then)."""

    host: Final = "127.0.0.1"
    # What was deployed, set by `bind`.
    clients: Target
    bucket: str = ""
    distribution_arn: str = ""
    account: str = ""

    def __init__(self, port: int = 0) -> None:
        self._server = BackgroundServer(Request.application(self.answer), self.host, port)
        self.base_url = self._server.url

    def bind(self, clients: Target, resources: Iterable[CreatedResource], account: str) -> None:
        """Serve the bucket the program's distribution serves, from now on."""
        [cdn] = [r for r in resources if r.typ == "aws:cloudfront/distribution:Distribution"]
        self.clients, self.account = clients, account
        self.distribution_arn = str(cdn.outputs["arn"])
        self.bucket = clients.outputs["destinationBucket"]  # answered from now on

    def close(self) -> None:
        self._server.stop()

    def answer(self, request: Request) -> Response:
        """A key's object (GET, or HEAD without the body), as the distribution answers."""
        bucket, key = self.bucket, request.path.lstrip("/")
        if not bucket:
            return _text(503, "no distribution deployed yet\n")
        s3 = self.clients.client("s3")
        policy = s3.get_bucket_policy(Bucket=bucket).get("Policy")
        decision = service_allowed(
            policy,
            "cloudfront.amazonaws.com",
            "s3:GetObject",
            f"arn:aws:s3:::{bucket}/{key}",
            {
                "aws:SourceArn": self.distribution_arn,
                "aws:SourceAccount": self.account,
                "aws:SecureTransport": "true",
            },
        )
        if not decision.allowed:
            return _text(403, "AccessDenied (bucket policy)\n")
        try:
            response = s3.get_object(Bucket=bucket, Key=key)
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
