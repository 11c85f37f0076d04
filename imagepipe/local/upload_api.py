"""The upload API on the local stack: what API Gateway does for the deployed HTTP API, the
test issuer the stack trusts, and the HTTP endpoint serving both.

`LocalUploadApi()` serves `MOUNT` on 127.0.0.1: the stack's uploadApiUrl, the stage's
invoke URL (`imagepipe local serve` also mounts it on its own address, `api_app`).
Under it, `/uploads` is the API and `/issuer` the test issuer: its discovery document
and JWKS, and, local only and for loopback clients only, ``POST /issuer/token
{"sub": ...}`` (README: Upload API for apps).

`LocalUploadApi.handle` reads the API's configuration back from moto at each request
(providers/apigatewayv2.py) and does what API Gateway does: CORS preflights; the route's
JWT authorizer (401 ``{"message":"Unauthorized"}``); the payload 2.0 event with the
verified claims; the function invoked as apigateway.amazonaws.com only if its resource
policy allows the route's execute-api ARN (else 500), run as its role, so S3 accepts the
POST it presigns only while that role may put the key (s3_post.py); the 2.0 response
with CORS headers; an access log line in the stage's log group. Not emulated:
throttling, custom domains, route scopes, fetching a real issuer's keys.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey
from werkzeug.datastructures import Headers
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.wrappers import Request, Response

from imagepipe.local.iam import service_allowed
from imagepipe.local.providers import apigatewayv2
from imagepipe.local.providers.base import CreatedResource
from imagepipe.local.wsgi import BackgroundServer
from imagepipe.target import Target

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

MOUNT: Final = "/upload-api"
LOCAL_AUDIENCE: Final = "imagepipe-local"
# API Gateway takes RSA-signed tokens only.
ALGORITHMS: Final = ("RS256", "RS384", "RS512")
_UNAUTHORIZED: Final = b'{"message":"Unauthorized"}'
_NOT_FOUND: Final = b'{"message":"Not Found"}'
_INTERNAL: Final = b'{"message":"Internal Server Error"}'
_TEXT_TYPES: Final = ("text/", "application/json", "application/xml", "application/javascript")


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Response(data, status, headers, content_type="application/json")


class LocalIssuer:
    """A JWT issuer for the local stack: an RSA key made at start, its JWKS, and tokens."""

    def __init__(self, issuer: str, audience: str = LOCAL_AUDIENCE) -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self.kid = secrets.token_hex(8)
        self._key = RSAKey.generate_key(
            2048, parameters={"kid": self.kid, "use": "sig", "alg": "RS256"}, private=True
        )

    def jwks(self) -> dict[str, Any]:
        """The public key set, as {issuer}/.well-known/jwks.json serves it."""
        return {"keys": [self._key.as_dict(private=False)]}

    def token(
        self, subject: str, ttl: int = 3600, *, claims: Mapping[str, Any] | None = None
    ) -> str:
        """A signed access token for `subject`, valid `ttl` seconds (negative: expired).
        `claims` override or add claims (a test's wrong audience, say)."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.audience,
            "iat": min(now, now + ttl),
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
            "token_use": "access",
        }
        payload.update(claims or {})
        header = {"alg": "RS256", "kid": self.kid, "typ": "JWT"}
        return jwt.encode(header, payload, self._key)

    def respond(self, request: Request, path: str) -> Response:
        """The issuer's HTTP endpoints, `path` relative to the issuer URL."""
        public = {"Access-Control-Allow-Origin": "*"}  # public documents, like any IdP's
        if request.method == "GET" and path == "/.well-known/openid-configuration":
            discovery = {
                "issuer": self.issuer,
                "jwks_uri": f"{self.issuer}/.well-known/jwks.json",
                "token_endpoint": f"{self.issuer}/token",
                "response_types_supported": ["token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
            return _json(200, discovery, public)
        if request.method == "GET" and path == "/.well-known/jwks.json":
            return _json(200, self.jwks(), public)
        if request.method == "POST" and path == "/token":
            return self._token_response(request.get_json(force=True, silent=True))
        return _json(404, _NOT_FOUND)

    def _token_response(self, request: Any) -> Response:
        subject = request.get("sub") if isinstance(request, dict) else None
        ttl = request.get("ttl", 3600) if isinstance(request, dict) else 3600
        if not isinstance(subject, str) or not 0 < len(subject) <= 255:
            message = 'POST {"sub": "<subject, 1 to 255 characters>"} for a local test token'
            return _json(400, {"error": "invalid_request", "message": message})
        if not isinstance(ttl, int) or not 1 <= ttl <= 86400:
            return _json(400, {"error": "invalid_request", "message": "ttl: 1 to 86400 s"})
        token = self.token(subject, ttl)
        answer = {"access_token": token, "token_type": "Bearer", "expires_in": ttl}
        return _json(200, answer, {"Cache-Control": "no-store"})


class Unauthorized(Exception):  # noqa: N818 - API Gateway's own word for it
    """The JWT authorizer refuses the request (401)."""


def bearer_token(headers: Headers | Mapping[str, str]) -> str:
    """The token of the identity source $request.header.Authorization, with or without
    'Bearer' (`headers`: the request's, which werkzeug looks up in any case).
    https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html"""
    value = headers.get("Authorization", "").strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    if not value:
        raise Unauthorized("no token")
    return value


def verify_token(
    token: str,
    jwks: Mapping[str, Any] | None,
    issuer: str,
    audiences: Iterable[str],
) -> dict[str, Any]:
    """The claims of a token API Gateway's JWT authorizer would accept, or Unauthorized:
    RSA-signed by the issuer's key named by its kid; iss, exp (required), nbf and iat as
    joserfc checks them; aud, or client_id without one, an accepted audience."""
    if jwks is None:
        raise Unauthorized(f"no key set known for issuer {issuer}")
    try:
        key_set = KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]
        decoded = jwt.decode(token, key_set, algorithms=list(ALGORITHMS))
        claims = dict(decoded.claims)
        registry = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": issuer}, exp={"essential": True}
        )
        registry.validate({k: claims[k] for k in ("iss", "exp", "nbf", "iat") if k in claims})
    except (JoseError, ValueError, TypeError) as err:
        raise Unauthorized(f"invalid token: {err}") from None
    if not decoded.header.get("kid"):
        raise Unauthorized("the token has no kid")
    token_audiences = claims.get("aud") or claims.get("client_id")
    given = token_audiences if isinstance(token_audiences, list) else [token_audiences]
    if not set(map(str, given)) & set(audiences):
        raise Unauthorized("the token's aud (or client_id) is not an accepted audience")
    return claims


def _claim_text(value: Any) -> str:
    """Claims reach the integration as strings (an array as "[a b]")."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(_claim_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _scopes(claims: Mapping[str, Any]) -> list[str] | None:
    raw = claims.get("scope", claims.get("scp"))
    if isinstance(raw, str):
        return raw.split() or None
    if isinstance(raw, list):
        return [str(s) for s in raw] or None
    return None


def _function_arn(integration_uri: str) -> str:
    """The function of an integration URI (a Lambda ARN, or its apigateway invoke ARN)."""
    if "/functions/" in integration_uri:
        return integration_uri.split("/functions/", 1)[1].removesuffix("/invocations")
    return integration_uri


class ApiRequest(Request):
    """A request to the API, with the id API Gateway gives it."""

    @cached_property
    def id(self) -> str:
        return base64.b32encode(secrets.token_bytes(10)).decode().rstrip("=")

    def body_is_text(self) -> bool:
        """API Gateway base64-encodes bodies whose Content-Type is not text."""
        kind = (self.content_type or "").lower()
        if kind and not (kind.startswith(_TEXT_TYPES) or "+json" in kind):
            return False
        try:
            self.get_data().decode()
        except UnicodeDecodeError:
            return False
        return True


class LocalUploadApi:
    """What API Gateway does for the stack's HTTP API, locally (see the module docstring).
    Made before the deploy: the server on 127.0.0.1 (a free port), whose URL becomes the API's
    (the stage's invoke URL), and the test issuer to configure the API with (`config`).
    `bind` gives it what was deployed; until then the server answers 503."""

    # What was deployed, set by `bind`.
    clients: Target
    api_id: str = ""
    account: str = ""
    stage_name: str = "$default"

    def __init__(self) -> None:
        self._server = BackgroundServer(wsgi_app(lambda: self if self.api_id else None))
        self.url = f"{self._server.url}{MOUNT}"
        self.issuer = LocalIssuer(f"{self.url}/issuer")
        self._log_stream = ""
        apigatewayv2.serve_at(self.url)

    def config(self) -> dict[str, Any]:
        """The config to deploy with: the upload API on, trusting the local issuer."""
        return {
            "uploadApi": True,
            "uploadApiIssuer": self.issuer.issuer,
            "uploadApiAudience": [self.issuer.audience],
        }

    def bind(
        self, clients: Target, resources: Iterable[CreatedResource], account: str
    ) -> LocalUploadApi | None:
        """The deployed API, served from now on (None, and the server stopped, if the
        program deployed none)."""
        apis = [r.id for r in resources if r.typ == "aws:apigatewayv2/api:Api"]
        if not apis:
            self.close()
            return None
        self.clients, self.account = clients, account
        [self.api_id] = apis  # answered from now on
        return self

    def close(self) -> None:
        self._server.stop()
        apigatewayv2.serve_at(None)

    def _client(self) -> Any:
        return self.clients.client("apigatewayv2")

    def _cors(self) -> dict[str, Any] | None:
        """The API's CORS configuration, as moto holds it (None: no origin allowed)."""
        cors = self._client().get_api(ApiId=self.api_id).get("CorsConfiguration")
        return cors if cors and cors.get("AllowOrigins") else None

    # -- HTTP -------------------------------------------------------------------------

    def respond(self, request: ApiRequest) -> Response:
        """Everything under the mount (`request.path` relative to it): the local issuer's
        endpoints, then the API. Tokens go to clients on this machine only."""
        path = request.path
        if path == "/issuer" or path.startswith("/issuer/"):
            if path == "/issuer/token" and request.method == "OPTIONS":
                return self.handle(request)  # CORS as the API's
            if path == "/issuer/token" and not _loopback(request.remote_addr or ""):
                why = "the local test issuer hands out tokens on this machine only (loopback)"
                return _json(403, {"error": "loopback_only", "message": why})
            response = self.issuer.respond(request, path.removeprefix("/issuer"))
            if path == "/issuer/token":
                response.headers.update(self._cors_headers(self._cors(), request))
            return response
        return self.handle(request)

    def handle(self, request: ApiRequest) -> Response:
        """One request to the API (`request.path` relative to the stage's URL, e.g.
        "/uploads"), answered as API Gateway answers it."""
        cors = self._cors()
        if request.method == "OPTIONS" and cors and "origin" in request.headers:
            return self._preflight(cors, request)
        response, details = self._route(request)
        response.headers["apigw-requestid"] = request.id
        response.headers.update(self._cors_headers(cors, request))
        self._access_log(request, response, details)
        return response

    def _route(self, request: ApiRequest) -> tuple[Response, dict[str, str]]:
        for route in self._client().get_routes(ApiId=self.api_id)["Items"]:
            verb, _, path = str(route["RouteKey"]).partition(" ")
            if path == request.path and verb in (request.method, "ANY"):
                break
        else:
            return _json(404, _NOT_FOUND), {}
        claims: dict[str, Any] | None = None
        if route.get("AuthorizationType") == "JWT":
            try:
                claims = self._authorize(route, request)
            except Unauthorized as refused:
                why = f'Bearer error="invalid_token" error_description="{refused}"'
                headers = {"www-authenticate": why}
                return _json(401, _UNAUTHORIZED, headers), {"authorizerError": str(refused)}
        response, error = self._integrate(route, request, claims)
        sub = str((claims or {}).get("sub", "-"))
        return response, {"sub": sub, "integrationError": error or "-"}

    def _authorize(self, route: Mapping[str, Any], request: ApiRequest) -> dict[str, Any]:
        authorizer = self._client().get_authorizer(
            ApiId=self.api_id, AuthorizerId=route["AuthorizerId"]
        )
        config = authorizer.get("JwtConfiguration") or {}
        issuer = str(config.get("Issuer", ""))
        jwks = self.issuer.jwks() if issuer.rstrip("/") == self.issuer.issuer else None
        token = bearer_token(request.headers)
        return verify_token(token, jwks, issuer, config.get("Audience") or [])

    # -- CORS -------------------------------------------------------------------------

    def _cors_headers(self, cors: Mapping[str, Any] | None, request: Request) -> dict[str, str]:
        origin = request.headers.get("origin")
        if not cors or not origin or not _allowed(origin, cors.get("AllowOrigins")):
            return {}
        out = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        if cors.get("ExposeHeaders"):
            out["Access-Control-Expose-Headers"] = ",".join(cors["ExposeHeaders"])
        if cors.get("AllowCredentials"):
            out["Access-Control-Allow-Credentials"] = "true"
        return out

    def _preflight(self, cors: Mapping[str, Any], request: ApiRequest) -> Response:
        """API Gateway answers preflights itself when CORS is configured.
        https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html"""
        wanted = request.headers.get("access-control-request-method", "")
        asked = request.headers.get("access-control-request-headers", "").split(",")
        out = {"apigw-requestid": request.id}
        origin_ok = _allowed(request.headers["origin"], cors.get("AllowOrigins"))
        method_ok = _allowed(wanted, cors.get("AllowMethods"), ignore_case=False)
        headers_ok = all(_allowed(h.strip(), cors.get("AllowHeaders")) for h in asked if h.strip())
        if origin_ok and method_ok and headers_ok:
            out |= self._cors_headers(cors, request)
            out["Access-Control-Allow-Methods"] = ",".join(cors.get("AllowMethods") or [])
            if cors.get("AllowHeaders"):
                out["Access-Control-Allow-Headers"] = ",".join(cors["AllowHeaders"])
            if cors.get("MaxAge") is not None:
                out["Access-Control-Max-Age"] = str(cors["MaxAge"])
        return Response(b"", 204, out)

    # -- the integration --------------------------------------------------------------

    def _event(
        self, route: Mapping[str, Any], request: ApiRequest, claims: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """The HTTP API payload format 2.0 event.
        https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html"""
        text, now = request.body_is_text(), datetime.now(UTC)
        context: dict[str, Any] = {
            "accountId": self.account,
            "apiId": self.api_id,
            "domainName": urlsplit(self.url).netloc or "localhost",
            "domainPrefix": self.api_id,
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": request.headers.get("user-agent", ""),
            },
            "requestId": request.id,
            "routeKey": route["RouteKey"],
            "stage": self.stage_name,
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        }
        if claims is not None:
            context["authorizer"] = {
                "jwt": {
                    "claims": {k: _claim_text(v) for k, v in claims.items()},
                    "scopes": _scopes(claims),
                }
            }
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route["RouteKey"],
            "rawPath": request.path,
            "rawQueryString": "",
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "requestContext": context,
            "isBase64Encoded": not text,
        }
        if body := request.get_data():
            event["body"] = body.decode() if text else base64.b64encode(body).decode()
        return event

    def _integrate(
        self, route: Mapping[str, Any], request: ApiRequest, claims: Mapping[str, Any] | None
    ) -> tuple[Response, str]:
        integration_id = str(route.get("Target", "")).removeprefix("integrations/")
        integration = self._client().get_integration(
            ApiId=self.api_id, IntegrationId=integration_id
        )
        function = _function_arn(str(integration.get("IntegrationUri", "")))
        source_arn = (
            f"arn:aws:execute-api:{self.clients.region}:{self.account}:{self.api_id}/{self.stage_name}"
            f"/{request.method}{request.path}"
        )
        lambda_client = self.clients.client("lambda")
        try:
            policy = lambda_client.get_policy(FunctionName=function)["Policy"]
        except lambda_client.exceptions.ResourceNotFoundException:
            policy = None  # no resource policy: nothing may invoke it but its account
        context = {"aws:SourceArn": source_arn, "aws:SourceAccount": self.account}
        if not service_allowed(
            policy, "apigateway.amazonaws.com", "lambda:InvokeFunction", function, context
        ).allowed:
            return _json(500, _INTERNAL), "API Gateway is not allowed to invoke the function"
        event = self._event(route, request, claims)
        answer = lambda_client.invoke(FunctionName=function, Payload=json.dumps(event).encode())
        payload = answer["Payload"].read()
        if answer.get("FunctionError"):
            return _json(500, _INTERNAL), "The Lambda function returned an error"
        return _lambda_response(payload), ""

    # -- access logs --------------------------------------------------------------------

    def _access_log(
        self,
        request: ApiRequest,
        response: Response,
        details: Mapping[str, str],
    ) -> None:
        """One line in the stage's access log group, in its format."""
        stage = self._client().get_stage(ApiId=self.api_id, StageName=self.stage_name)
        settings = stage.get("AccessLogSettings") or {}
        destination, template = settings.get("DestinationArn"), settings.get("Format")
        if not destination or not template:
            return
        # The variables the stack's format uses (infra/upload_api.py, ACCESS_LOG_FORMAT).
        values = {
            "$context.requestId": request.id,
            "$context.requestTime": datetime.now(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "$context.identity.sourceIp": "127.0.0.1",
            "$context.routeKey": f"{request.method} {request.path}",
            "$context.status": str(response.status_code),
            "$context.protocol": "HTTP/1.1",
            "$context.responseLength": str(len(response.get_data())),
            "$context.authorizer.claims.sub": details.get("sub", "-"),
            "$context.authorizer.error": details.get("authorizerError", "-"),
            "$context.integrationErrorMessage": details.get("integrationError", "-"),
        }
        line = template
        for variable in sorted(values, key=len, reverse=True):
            line = line.replace(variable, values[variable].replace('"', "'"))
        group = str(destination).split(":log-group:", 1)[-1].removesuffix(":*")
        logs = self.clients.client("logs")
        try:
            if not self._log_stream:
                self._log_stream = f"{self.stage_name}-{uuid.uuid4().hex[:8]}"
                logs.create_log_stream(logGroupName=group, logStreamName=self._log_stream)
            event = {"timestamp": int(time.time() * 1000), "message": line}
            logs.put_log_events(
                logGroupName=group, logStreamName=self._log_stream, logEvents=[event]
            )
        except Exception:  # noqa: S110 - a log line never fails a request
            pass


def _loopback(address: str) -> bool:
    """Whether a client address is this machine's loopback (IPv4-mapped too)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return (mapped or ip).is_loopback


def _allowed(value: str, allowed: Any, *, ignore_case: bool = True) -> bool:
    options = [str(a) for a in allowed or []]
    fold = str.lower if ignore_case else str
    return "*" in options or fold(value) in {fold(o) for o in options}


def _lambda_response(payload: bytes) -> Response:
    """A payload 2.0 response as API Gateway maps it: a dict with statusCode is used as
    it is, anything else is a 200 JSON body."""
    try:
        result = json.loads(payload) if payload else None
    except ValueError:
        return _json(500, _INTERNAL)
    if isinstance(result, dict) and "statusCode" in result:
        headers = Headers({str(k): str(v) for k, v in (result.get("headers") or {}).items()})
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        headers.setdefault("Content-Type", "application/json")
        return Response(data, int(result["statusCode"]), headers)
    return _json(200, result.encode() if isinstance(result, str) else result)


# -- HTTP -------------------------------------------------------------------------------


def api_app(api: Callable[[], LocalUploadApi | None]) -> WSGIApplication:
    """A WSGI application serving the API `api()` returns (503 while it returns None)."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        target = api()
        if target is None:
            return _json(503, b'{"message":"Service Unavailable"}')(environ, start_response)
        return target.respond(ApiRequest(environ))(environ, start_response)

    return app


def wsgi_app(api: Callable[[], LocalUploadApi | None]) -> WSGIApplication:
    """`api_app` at `MOUNT`, 404 elsewhere: what the stack's own server for it serves."""
    # A werkzeug Response is itself a WSGI application, answering every request alike.
    return DispatcherMiddleware(_json(404, _NOT_FOUND), {MOUNT: api_app(api)})
