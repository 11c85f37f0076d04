"""The local stack's clients are a `Target` (imagepipe.target), as any stack's are, on the
emulator: in-process moto (`moto.mock_aws`, no endpoint) or a moto server (its URL; the
Lambda handlers and moto's interpreter then find it through AWS_ENDPOINT_URL and
MOTO_PORT, set by imagepipe.local.serve)."""

from __future__ import annotations

from collections.abc import Mapping

from imagepipe.local.access import Session
from imagepipe.target import FAKE_CREDENTIALS, Target
from infra.settings import Settings


def emulator(
    region: str,
    endpoint: str | None = None,
    credentials: Mapping[str, str] = FAKE_CREDENTIALS,
    stack: str = "dev",
    settings: Settings | None = None,
) -> Target:
    """A Target on the emulator that signs as its administrator (unless `credentials`
    say otherwise); its outputs are filled in once the program has run."""
    return Target(
        stack=stack,
        local=True,
        region=region,
        outputs={},
        settings=settings or Settings(),
        endpoint=endpoint,
        credentials=dict(credentials),
    )


def signed_as(target: Target, session: Session) -> Target:
    """Clients for the same emulator that sign as an assumed role's session."""
    credentials = {
        "aws_access_key_id": session.access_key_id,
        "aws_secret_access_key": session.secret_access_key,
        "aws_session_token": session.session_token,
    }
    return emulator(target.region, target.endpoint, credentials, target.stack, target.settings)
