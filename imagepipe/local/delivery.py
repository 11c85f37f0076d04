"""The local stack's stand-in for its CloudFront distribution: an HTTP server on 127.0.0.1
serving the renditions bucket at the CDN's paths, read as `cloudfront.amazonaws.com` for
the distribution so that the bucket policy decides (what it answers, and what it does not
emulate: README, "The local stack").
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from imagepipe.local.clients import Clients
from imagepipe.local.iam import service_allowed

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


@dataclass
class DeliveryServer:
    """Serves a bucket over plain HTTP at `base_url`; `origin` is set once deployed."""

    clients: Clients | None = None
    host: str = "127.0.0.1"
    port: int = 0
    origin: Origin | None = None
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> DeliveryServer:
        server = ThreadingHTTPServer((self.host, self.port), _handler_for(self))
        server.daemon_threads = True
        self.port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="imagepipe-delivery", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def fetch(self, key: str) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for a key, as the distribution would answer."""
        origin = self.origin
        if origin is None or self.clients is None:
            return 503, {"Content-Type": "text/plain"}, b"no distribution deployed yet\n"
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
            return 403, {"Content-Type": "text/plain"}, b"AccessDenied (bucket policy)\n"
        try:
            response = s3.get_object(Bucket=origin.bucket, Key=key)
        except s3.exceptions.NoSuchKey:
            return 403, {"Content-Type": "text/plain"}, b"AccessDenied\n"
        body: bytes = response["Body"].read()
        headers = {
            "Content-Type": response.get("ContentType") or "application/octet-stream",
            "ETag": response.get("ETag", ""),
            "Last-Modified": response["LastModified"].strftime("%a, %d %b %Y %H:%M:%S GMT"),
        }
        if response.get("CacheControl"):
            headers["Cache-Control"] = response["CacheControl"]
        return 200, headers, body


def _handler_for(delivery: DeliveryServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "imagepipe-local-cdn"

        def _answer(self, with_body: bool) -> None:
            key = unquote(urlsplit(self.path).path.lstrip("/"))
            status, headers, body = delivery.fetch(key)
            self.send_response(status)
            for name, value in {**headers, **SECURITY_HEADERS}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def do_GET(self) -> None:
            self._answer(True)

        def do_HEAD(self) -> None:
            self._answer(False)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet, like the rest of the local stack

    return Handler
