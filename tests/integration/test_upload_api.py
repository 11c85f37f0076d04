"""The upload API on the local stack, over HTTP as an app uses it: the JWT authorizer as
API Gateway applies it, the real upload function run as its role, and the presigned POST
accepted by the local S3 only within its policy and the role's permission; the upload
then runs through the pipeline like any other."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from imagepipe.local import samples
from imagepipe.local.stack import LocalStack, deploy_local
from imagepipe.local.upload_api import MOUNT, LocalIssuer, wsgi_app
from tests.integration.conftest import execution_for
from tests.support import drive

pytestmark = pytest.mark.integration

MAX_BYTES = 300_000
ORIGIN = "http://localhost:8080"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    """The dev stack with a small maxInputBytes (a file past it stays small) and one
    browser origin (CORS on the API and the source bucket)."""
    config = {"maxInputBytes": MAX_BYTES, "corsOrigins": [ORIGIN]}
    with deploy_local("dev", config=config) as deployed:
        drive.pump(deployed)
        yield deployed


def call(
    url: str, body: Any = None, headers: dict[str, str] | None = None, method: str = "POST"
) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def ask(
    stack: LocalStack, token: str | None, body: Any = None, **headers: str
) -> tuple[int, dict[str, str], Any]:
    """POST {uploadApiUrl}/uploads as an app does."""
    sent = {"Content-Type": "application/json", **headers}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    status, out, data = call(
        stack.outputs["uploadApiUrl"] + "/uploads", body or {"filename": "cat.jpg"}, sent
    )
    return status, out, json.loads(data) if data else None


def token(stack: LocalStack, subject: str = "alice", **kwargs: Any) -> str:
    assert stack.upload_api is not None and stack.upload_api.issuer is not None
    return stack.upload_api.issuer.token(subject, **kwargs)


def post_file(grant: dict[str, Any], data: bytes, **fields: str) -> requests.Response:
    """The app's second step: the file POSTed to S3 with the granted fields (multipart)."""
    form = {**grant["fields"], **fields}
    return requests.post(grant["url"], data=form, files={"file": ("photo", data)}, timeout=30)


def test_the_stack_serves_its_upload_api_at_the_output_url(stack: LocalStack) -> None:
    url = stack.outputs["uploadApiUrl"]
    assert url.startswith("http://127.0.0.1:") and url.endswith(MOUNT)
    assert stack.upload_api is not None and stack.upload_api.url == url
    client = stack.clients.client("apigatewayv2")
    [api] = client.get_apis()["Items"]
    [route] = client.get_routes(ApiId=api["ApiId"])["Items"]
    assert (route["RouteKey"], route["AuthorizationType"]) == ("POST /uploads", "JWT")
    issuer = stack.upload_api.issuer
    assert issuer is not None and issuer.issuer == f"{url}/issuer"
    authorizer = client.get_authorizer(ApiId=api["ApiId"], AuthorizerId=route["AuthorizerId"])
    assert authorizer["JwtConfiguration"] == {
        "Issuer": issuer.issuer,
        "Audience": [issuer.audience],
    }


def test_no_token_no_url(stack: LocalStack) -> None:
    for headers in ({}, {"Authorization": "Basic YWxpY2U6c2VjcmV0"}, {"Authorization": "Bearer "}):
        status, _, data = call(
            stack.outputs["uploadApiUrl"] + "/uploads", {"filename": "a.jpg"}, headers
        )
        assert status == 401, headers
        assert json.loads(data) == {"message": "Unauthorized"}


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda s: "not.a.jwt", id="garbage"),
        pytest.param(lambda s: token(s, claims={"aud": "someone-else"}), id="wrong-audience"),
        pytest.param(lambda s: token(s, claims={"iss": "https://evil.example"}), id="wrong-issuer"),
        pytest.param(lambda s: token(s, ttl=-60), id="expired"),
        pytest.param(lambda s: token(s, claims={"nbf": 4_102_444_800}), id="not-yet-valid"),
        pytest.param(
            lambda s: LocalIssuer(s.upload_api.issuer.issuer).token("alice"), id="another-key"
        ),
        pytest.param(lambda s: token(s)[:-4] + "AAAA", id="tampered-signature"),
    ],
)
def test_a_bad_token_is_refused_as_api_gateway_refuses_it(stack: LocalStack, make: Any) -> None:
    status, out, body = ask(stack, make(stack))
    assert status == 401
    assert body == {"message": "Unauthorized"}
    assert "invalid_token" in out["www-authenticate"]


def test_a_good_token_gets_a_presigned_post_under_its_subject(stack: LocalStack) -> None:
    status, out, grant = ask(stack, token(stack, "auth0|alice"), {"contentType": "image/png"})
    assert status == 200, grant
    assert out["Cache-Control"] == "no-store"
    assert grant["key"].startswith("uploads/auth0_7Calice/") and grant["key"].endswith(".png")
    assert grant["fields"]["key"] == grant["key"]
    assert grant["fields"]["Content-Type"] == "image/png"
    assert grant["maxBytes"] == MAX_BYTES and grant["expiresIn"] == 300
    # The token alone, without "Bearer", is read too.
    status, _, _ = call(
        stack.outputs["uploadApiUrl"] + "/uploads",
        {"filename": "a.jpg"},
        {"Authorization": token(stack), "Content-Type": "application/json"},
    )
    assert status == 200


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{nope", "bad_json"),
        ({"filename": "notes.txt"}, "unsupported_type"),
        ({"filename": "a.png", "contentType": "image/jpeg"}, "type_mismatch"),
        ({"size": 1}, "missing_type"),
    ],
)
def test_a_bad_request_gets_a_4xx_reason(stack: LocalStack, body: Any, reason: str) -> None:
    status, _, answer = ask(stack, token(stack), body)
    assert status == 400
    assert answer["error"] == reason and answer["message"]


def test_an_image_posted_with_the_grant_is_processed(stack: LocalStack) -> None:
    _, _, grant = ask(stack, token(stack, "carol"), {"filename": "holiday.jpg"})
    response = post_file(grant, samples.jpeg(640, 480))
    assert response.status_code == 204, response.text
    head = stack.clients.client("s3").head_object(Bucket=stack.source_bucket, Key=grant["key"])
    assert head["ContentType"] == "image/jpeg"
    drive.pump(stack)
    execution = execution_for(stack, grant["key"])
    assert execution.status == "SUCCEEDED"


def test_a_file_past_max_input_bytes_is_refused_by_s3(stack: LocalStack) -> None:
    _, _, grant = ask(stack, token(stack), {"filename": "big.jpg"})
    response = post_file(grant, b"\xff" * (MAX_BYTES + 1))
    assert response.status_code == 400
    assert "<Code>EntityTooLarge</Code>" in response.text
    assert not drive.objects(stack, stack.source_bucket, grant["key"])
    assert post_file(grant, b"").status_code == 400  # and an empty one: EntityTooSmall


@pytest.mark.parametrize(
    "forged",
    [
        {"key": "uploads/bob/mine-now.jpg"},
        {"key": "elsewhere/x.jpg"},
        {"Content-Type": "text/html"},
        {"x-amz-meta-extra": "1"},
    ],
    ids=["another-subject", "outside-the-prefix", "another-type", "an-extra-field"],
)
def test_the_grant_cannot_be_bent_to_another_key_or_type(
    stack: LocalStack, forged: dict[str, str]
) -> None:
    _, _, grant = ask(stack, token(stack, "mallory"), {"filename": "x.jpg"})
    response = post_file(grant, samples.jpeg(64, 64), **forged)
    assert response.status_code == 403, response.text
    assert "<Code>AccessDenied</Code>" in response.text
    assert "Invalid according to Policy" in response.text
    for key in {grant["key"], forged.get("key", grant["key"])}:
        assert not drive.objects(stack, stack.source_bucket, key)


def test_a_tampered_policy_breaks_the_signature(stack: LocalStack) -> None:
    import base64

    _, _, grant = ask(stack, token(stack, "mallory"), {"filename": "x.jpg"})
    policy = json.loads(base64.b64decode(grant["fields"]["policy"]))
    policy["conditions"] = [c for c in policy["conditions"] if "key" not in c]
    forged = base64.b64encode(json.dumps(policy).encode()).decode()
    response = post_file(grant, samples.jpeg(64, 64), policy=forged, key="uploads/bob/x.jpg")
    assert response.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in response.text


@pytest.fixture
def upload_role(stack: LocalStack) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """The upload function's role, its inline policy's name and document (put back after)."""
    iam = stack.clients.client("iam")
    [role] = [r["RoleName"] for r in iam.list_roles()["Roles"] if "-upload-role" in r["RoleName"]]
    [name] = iam.list_role_policies(RoleName=role)["PolicyNames"]
    document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    yield role, name, document
    iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))


def test_without_put_object_the_role_cannot_grant_an_upload(
    stack: LocalStack,
    upload_role: tuple[str, str, dict[str, Any]],
    denials: Callable[[], list[str]],
) -> None:
    role, name, document = upload_role
    statements = document["Statement"]
    assert [s["Action"] for s in statements if s["Sid"] == "PresignUploads"] == [["s3:PutObject"]]
    weaker = {**document, "Statement": [s for s in statements if s["Sid"] != "PresignUploads"]}
    stack.clients.client("iam").put_role_policy(
        RoleName=role, PolicyName=name, PolicyDocument=json.dumps(weaker)
    )
    status, _, grant = ask(stack, token(stack, "dave"), {"filename": "x.jpg"})
    assert status == 200  # signing makes no AWS call: the refusal comes from S3
    response = post_file(grant, samples.jpeg(64, 64))
    assert response.status_code == 403
    assert "<Code>AccessDenied</Code>" in response.text
    assert any("s3:PutObject" in d and grant["key"] in d and role in d for d in denials())
    assert not drive.objects(stack, stack.source_bucket, grant["key"])


def test_api_gateway_invokes_the_function_only_by_its_permission(stack: LocalStack) -> None:
    client = stack.clients.client("lambda")
    name = drive.function_name(stack, "upload")
    [statement] = json.loads(client.get_policy(FunctionName=name)["Policy"])["Statement"]
    source = statement["Condition"]["ArnLike"]["AWS:SourceArn"]
    assert source.endswith("/*/POST/uploads") and ":execute-api:" in source
    client.remove_permission(FunctionName=name, StatementId=statement["Sid"])
    try:
        status, _, body = ask(stack, token(stack))
        assert status == 500 and body == {"message": "Internal Server Error"}
    finally:
        client.add_permission(
            FunctionName=name,
            StatementId=statement["Sid"],
            Action="lambda:InvokeFunction",
            Principal="apigateway.amazonaws.com",
            SourceArn=source,
        )
    assert ask(stack, token(stack))[0] == 200


def test_cors_for_the_configured_origin_only(stack: LocalStack) -> None:
    url = stack.outputs["uploadApiUrl"] + "/uploads"
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    status, out, _ = call(url, None, {"Origin": ORIGIN, **preflight}, method="OPTIONS")
    assert status == 204
    assert out["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in out["Access-Control-Allow-Methods"]
    assert "authorization" in out["Access-Control-Allow-Headers"]
    status, out, _ = call(url, None, {"Origin": "https://evil.example", **preflight}, "OPTIONS")
    assert status == 204 and "Access-Control-Allow-Origin" not in out
    _, out, _ = ask(stack, token(stack), Origin=ORIGIN)
    assert out["Access-Control-Allow-Origin"] == ORIGIN
    _, out, _ = ask(stack, None, Origin="https://evil.example")
    assert "Access-Control-Allow-Origin" not in out
    rules = stack.clients.client("s3").get_bucket_cors(Bucket=stack.source_bucket)["CORSRules"]
    assert [(r["AllowedMethods"], r["AllowedOrigins"]) for r in rules] == [(["POST"], [ORIGIN])]


def test_each_request_is_in_the_access_log(stack: LocalStack) -> None:
    ask(stack, None)
    logs = stack.clients.client("logs")
    [group] = [
        g["logGroupName"]
        for g in logs.describe_log_groups(logGroupNamePrefix="/aws/apigateway/")["logGroups"]
    ]
    lines = [json.loads(e["message"]) for e in logs.filter_log_events(logGroupName=group)["events"]]
    refused = [line for line in lines if line["status"] == "401"]
    assert refused and refused[-1]["routeKey"] == "POST /uploads"
    assert refused[-1]["authorizerError"] == "no token"


def test_the_local_issuer_publishes_its_keys_and_hands_out_test_tokens(stack: LocalStack) -> None:
    assert stack.upload_api is not None and stack.upload_api.issuer is not None
    issuer = stack.upload_api.issuer.issuer
    status, _, data = call(f"{issuer}/.well-known/openid-configuration", method="GET")
    discovery = json.loads(data)
    assert status == 200 and discovery["issuer"] == issuer
    status, _, data = call(discovery["jwks_uri"], method="GET")
    assert json.loads(data) == stack.upload_api.issuer.jwks()
    status, _, data = call(discovery["token_endpoint"], {"sub": "erin"})
    assert status == 200
    answer = json.loads(data)
    assert answer["token_type"] == "Bearer"
    status, _, grant = ask(stack, answer["access_token"])
    assert status == 200 and grant["key"].startswith("uploads/erin/")
    assert call(discovery["token_endpoint"], {"sub": ""})[0] == 400


def test_the_test_issuer_hands_out_tokens_to_this_machine_only(stack: LocalStack) -> None:
    """`imagepipe local serve --host 0.0.0.0` mounts the API on every interface: the
    issuer's keys stay public, but a token goes to a client on the loopback interface only
    (anyone else could otherwise upload as anyone)."""
    from werkzeug.test import Client

    client = Client(wsgi_app(lambda: stack.upload_api))

    def token_for(remote: str) -> Any:
        overrides = {"REMOTE_ADDR": remote}
        return client.post(f"{MOUNT}/issuer/token", json={"sub": "m"}, environ_overrides=overrides)

    for remote in ("192.0.2.7", "10.0.0.5", "::ffff:192.0.2.7", "fe80::1", ""):
        refused = token_for(remote)
        assert refused.status_code == 403, remote
        assert refused.json["error"] == "loopback_only" and refused.json["message"]
    for remote in ("127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"):
        assert token_for(remote).status_code == 200, remote
    keys = client.get(
        f"{MOUNT}/issuer/.well-known/jwks.json", environ_overrides={"REMOTE_ADDR": "192.0.2.7"}
    )
    assert keys.status_code == 200 and keys.json == stack.upload_api.issuer.jwks()
