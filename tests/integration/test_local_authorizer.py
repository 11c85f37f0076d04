"""The local stand-in for API Gateway's JWT authorizer (imagepipe.local.upload_api), pure:
what it accepts and refuses of a token, and how it reads the Authorization header."""

from __future__ import annotations

import base64
import json
import time

import pytest

from imagepipe.local.upload_api import LocalIssuer, Unauthorized, bearer_token, verify_token

ISSUER = LocalIssuer("http://127.0.0.1:1/upload-api/issuer", audience="web-client")


def verify(token: str, audiences: tuple[str, ...] = ("web-client",)) -> dict[str, object]:
    return verify_token(token, ISSUER.jwks(), ISSUER.issuer, audiences)


def test_a_token_of_the_issuer_for_an_audience_is_accepted() -> None:
    claims = verify(ISSUER.token("alice"))
    assert claims["sub"] == "alice" and claims["iss"] == ISSUER.issuer


def test_aud_may_be_a_list_and_client_id_stands_in_for_a_missing_aud() -> None:
    assert verify(ISSUER.token("a", claims={"aud": ["other", "web-client"]}))
    assert verify(ISSUER.token("a", claims={"aud": None, "client_id": "web-client"}))
    with pytest.raises(Unauthorized):
        verify(ISSUER.token("a", claims={"aud": None, "client_id": "other"}))


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"exp": None}, "Missing claim: 'exp'"),
        ({"exp": "tomorrow"}, "'exp' must be a NumericDate"),
        ({"exp": int(time.time()) - 1}, "expired"),
        ({"nbf": int(time.time()) + 600}, "not yet valid"),
        ({"iat": int(time.time()) + 600}, "issued in the future"),
        ({"iss": "http://127.0.0.1:1/other"}, "Invalid claim: 'iss'"),
    ],
)
def test_claims_api_gateway_checks_are_checked(claims: dict[str, object], why: str) -> None:
    with pytest.raises(Unauthorized, match=why):
        verify(ISSUER.token("alice", claims=claims))


def test_an_unsigned_token_is_refused() -> None:
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": ISSUER.kid}).encode())
    body = base64.urlsafe_b64encode(json.dumps({"sub": "a", "iss": ISSUER.issuer}).encode())
    with pytest.raises(Unauthorized):
        verify(header.decode().rstrip("=") + "." + body.decode().rstrip("=") + ".")


def test_an_unknown_issuer_has_no_keys() -> None:
    with pytest.raises(Unauthorized, match="no key set"):
        verify_token(ISSUER.token("a"), None, ISSUER.issuer, ["web-client"])


@pytest.mark.parametrize(
    ("value", "token"),
    [("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("abc", "abc"), ("BEARER abc", "abc")],
)
def test_the_token_is_read_with_or_without_bearer(value: str, token: str) -> None:
    assert bearer_token({"Authorization": value}) == token


def test_no_authorization_header_is_unauthorized() -> None:
    with pytest.raises(Unauthorized):
        bearer_token({"Content-Type": "application/json"})
