"""boto3 clients for the emulator: in-process (`moto.mock_aws`, no endpoint needed) or a
moto server (`Clients.for_server`; the Lambda handlers and moto's interpreter then find it
through AWS_ENDPOINT_URL and MOTO_PORT, set by imagepipe.local.serve)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]

from imagepipe.target import FAKE_CREDENTIALS as FAKE_CREDENTIALS  # the emulator's (any work)


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
