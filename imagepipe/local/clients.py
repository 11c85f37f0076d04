"""boto3 clients for the emulator, in either of its two modes.

In-process mode (`moto.mock_aws` active) botocore requests never leave the process:
no endpoint is needed. Server mode (`moto.server.ThreadedMotoServer`) needs every
client, including the ones the Lambda handlers and moto's state machine interpreter
create for themselves, pointed at the server; see `Clients.for_server`.

boto3 has no usable static types without stubs, so clients are `Any` here and
nowhere else leaks it: callers get plain dicts and strings back.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]

# Credentials the emulator accepts; never real ones (moto ignores them).
FAKE_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}


@dataclass
class Clients:
    """Creates, once per service, boto3 clients for one region and endpoint."""

    region: str
    endpoint_url: str | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def client(self, service: str) -> Any:
        """A boto3 client for `service`, shared: clients are thread-safe once created,
        creating them is not (hence the lock), and creating one costs ~0.1 s."""
        with self._lock:
            if service not in self._cache:
                self._cache[service] = self._create(service)
            return self._cache[service]

    def _create(self, service: str) -> Any:
        session = boto3.session.Session(region_name=self.region, **FAKE_CREDENTIALS)
        return session.client(
            service,
            endpoint_url=self.endpoint_url,
            # Fail fast: a local call that fails is a bug to see, not to retry.
            config=Config(retries={"max_attempts": 2, "mode": "standard"}),
        )

    @classmethod
    def for_server(cls, region: str, host: str, port: int) -> Clients:
        return cls(region=region, endpoint_url=f"http://{host}:{port}")
