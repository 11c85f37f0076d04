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
    # Who the clients sign as: the emulator's administrator unless given (an assumed role).
    credentials: dict[str, str] = field(default_factory=lambda: dict(FAKE_CREDENTIALS))
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
        session = boto3.session.Session(region_name=self.region, **self.credentials)
        return session.client(
            service,
            endpoint_url=self.endpoint_url,
            # Fail fast: a local call that fails is a bug to see, not to retry.
            config=Config(retries={"max_attempts": 2, "mode": "standard"}),
        )

    def signed_as(self, access_key_id: str, secret_access_key: str, session_token: str) -> Clients:
        """Clients for the same emulator that sign with other credentials (a role's)."""
        return Clients(
            region=self.region,
            endpoint_url=self.endpoint_url,
            credentials={
                "aws_access_key_id": access_key_id,
                "aws_secret_access_key": secret_access_key,
                "aws_session_token": session_token,
            },
        )

    @classmethod
    def for_server(cls, region: str, host: str, port: int) -> Clients:
        return cls(region=region, endpoint_url=f"http://{host}:{port}")
