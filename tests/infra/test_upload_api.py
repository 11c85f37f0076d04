"""The upload API under mocks: off by default; when on, an HTTP API whose one route has a
JWT authorizer, proxied to a function that may only put objects under the upload prefix,
with an encrypted, throttled, logged $default stage and CORS for the configured origins."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from infra import iam
from infra.settings import Settings
from infra.upload_api import ROUTE_KEY
from tests.infra.conftest import ACCOUNT, REGION, Deployed

ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc123"
AUDIENCE = ("web-client", "ios-client")
ORIGINS = ("https://app.example.com", "http://127.0.0.1:8080")
API_TYPES = (
    "aws:apigatewayv2/api:Api",
    "aws:apigatewayv2/authorizer:Authorizer",
    "aws:apigatewayv2/integration:Integration",
    "aws:apigatewayv2/route:Route",
    "aws:apigatewayv2/stage:Stage",
    "aws:lambda/permission:Permission",
    "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration",
)


def upload_settings(**extra: Any) -> Settings:
    values: dict[str, Any] = {
        "upload_api": True,
        "upload_api_issuer": ISSUER,
        "upload_api_audience": AUDIENCE,
        "cors_origins": ORIGINS,
        **extra,
    }
    return Settings(**values)


@pytest.fixture(scope="module")
def api() -> Deployed:
    from tests.infra.conftest import deploy

    return deploy(upload_settings())


def test_off_by_default_nothing_is_created(deployed: Deployed) -> None:
    assert not [r for r in deployed.resources if r.typ in API_TYPES]
    handlers = [r.inputs.get("handler") for r in deployed.of_type("aws:lambda/function:Function")]
    assert "imagefn.upload_handler.handler" not in handlers
    assert deployed.outputs["upload_api_url"] is None


def test_an_http_api_whose_route_needs_a_jwt(api: Deployed) -> None:
    http_api = api.one("aws:apigatewayv2/api:Api")
    assert http_api.inputs["protocolType"] == "HTTP"
    authorizer = api.one("aws:apigatewayv2/authorizer:Authorizer")
    assert authorizer.inputs["authorizerType"] == "JWT"
    assert authorizer.inputs["identitySources"] == ["$request.header.Authorization"]
    assert authorizer.inputs["jwtConfiguration"] == {"issuer": ISSUER, "audiences": list(AUDIENCE)}
    route = api.one("aws:apigatewayv2/route:Route")
    assert route.inputs["routeKey"] == ROUTE_KEY == "POST /uploads"
    assert route.inputs["authorizationType"] == "JWT"
    assert route.inputs["authorizerId"] == "imagepipe-dev-upload-api-jwt-id"
    integration = api.one("aws:apigatewayv2/integration:Integration")
    assert route.inputs["target"] == "integrations/imagepipe-dev-upload-api-function-id"
    for resource in (authorizer, route, integration):
        assert resource.inputs["apiId"] == "imagepipe-dev-upload-api-id"


def test_the_route_proxies_to_the_upload_function(api: Deployed) -> None:
    integration = api.one("aws:apigatewayv2/integration:Integration")
    function = api.one("aws:lambda/function:Function", "-upload")
    assert integration.inputs["integrationType"] == "AWS_PROXY"
    assert integration.inputs["payloadFormatVersion"] == "2.0"
    assert integration.inputs["integrationUri"] == function.outputs["invokeArn"]
    assert integration.inputs["timeoutMilliseconds"] <= 30_000
    assert function.inputs["handler"] == "imagefn.upload_handler.handler"
    assert function.inputs["memorySize"] == 256 and function.inputs["timeout"] == 10
    assert function.inputs["tracingConfig"] == {"mode": "Active"}
    variables = function.inputs["environment"]["variables"]
    assert variables["SOURCE_BUCKET"] == api.outputs["source_bucket"]
    assert variables["UPLOAD_PREFIX"] == "uploads/"
    assert variables["MAX_INPUT_BYTES"] == str(Settings().max_input_bytes)
    assert variables["UPLOAD_URL_EXPIRY_SECONDS"] == "300"
    assert variables["ALLOWED_SUFFIXES"].split(",") == list(Settings().allowed_suffixes)


def test_api_gateway_may_invoke_it_for_this_route_only(api: Deployed) -> None:
    permission = api.one("aws:lambda/permission:Permission")
    function = api.one("aws:lambda/function:Function", "-upload")
    assert permission.inputs["action"] == "lambda:InvokeFunction"
    assert permission.inputs["principal"] == "apigateway.amazonaws.com"
    assert permission.inputs["function"] == function.outputs["name"]
    execution_arn = api.one("aws:apigatewayv2/api:Api").outputs["executionArn"]
    assert execution_arn == f"arn:aws:execute-api:{REGION}:{ACCOUNT}:imagepipe-dev-upload-api"
    assert permission.inputs["sourceArn"] == f"{execution_arn}/*/POST/uploads"


def test_the_default_stage_deploys_throttles_and_logs_encrypted(api: Deployed) -> None:
    stage = api.one("aws:apigatewayv2/stage:Stage")
    assert stage.inputs["name"] == "$default" and stage.inputs["autoDeploy"] is True
    throttling = stage.inputs["defaultRouteSettings"]
    assert 0 < throttling["throttlingRateLimit"] <= 10_000
    assert 0 < throttling["throttlingBurstLimit"] <= 5_000
    logs = api.one("aws:cloudwatch/logGroup:LogGroup", "-upload-api-logs")
    settings = stage.inputs["accessLogSettings"]
    assert settings["destinationArn"] == logs.outputs["arn"]
    fields = json.loads(settings["format"])
    assert {"requestId", "status", "routeKey", "sub", "authorizerError"} <= set(fields)
    assert len(settings["format"]) <= 3 * 1024  # the access log template quota
    assert logs.inputs["retentionInDays"] == Settings().log_retention_days
    assert logs.inputs["namePrefix"] == "/aws/apigateway/imagepipe-dev-upload-api-"
    key = api.by_arn(logs.inputs["kmsKeyId"])
    assert key.inputs["enableKeyRotation"] is True
    [logs_statement] = [
        s for s in key.policy()["Statement"] if s["Sid"] == "CloudWatchLogsEncryptsAccessLogs"
    ]
    assert logs_statement["Principal"] == {"Service": f"logs.{REGION}.amazonaws.com"}
    assert logs_statement["Condition"]["StringLike"]["kms:EncryptionContext:aws:logs:arn"] == (
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/apigateway/imagepipe-dev-upload-api-*"
    )


def test_the_url_is_the_stages_without_a_trailing_slash(api: Deployed) -> None:
    assert api.outputs["upload_api_url"] == f"https://api-id.execute-api.{REGION}.amazonaws.com"


def test_cors_for_the_configured_origins_only(api: Deployed) -> None:
    cors = api.one("aws:apigatewayv2/api:Api").inputs["corsConfiguration"]
    assert cors["allowOrigins"] == list(ORIGINS)
    assert cors["allowMethods"] == ["POST"]
    assert set(cors["allowHeaders"]) == {"authorization", "content-type"}
    assert not cors.get("allowCredentials")
    bucket_cors = api.one("aws:s3/bucketCorsConfiguration:BucketCorsConfiguration")
    assert bucket_cors.inputs["bucket"] == api.outputs["source_bucket"] + "-id"
    [rule] = bucket_cors.inputs["corsRules"]
    assert rule["allowedMethods"] == ["POST"]
    assert rule["allowedOrigins"] == list(ORIGINS)


def test_without_origins_no_browser_may_call(deploy_with: Callable[[Settings], Deployed]) -> None:
    deployed = deploy_with(upload_settings(cors_origins=()))
    assert "corsConfiguration" not in deployed.one("aws:apigatewayv2/api:Api").inputs
    assert not deployed.of_type("aws:s3/bucketCorsConfiguration:BucketCorsConfiguration")


def test_the_function_may_only_put_objects_under_the_upload_prefix(api: Deployed) -> None:
    function = api.one("aws:lambda/function:Function", "-upload")
    role = api.by_arn(function.inputs["role"])
    trust = role.policy("assumeRolePolicy")["Statement"][0]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    [policy] = [
        r
        for r in api.of_type("aws:iam/rolePolicy:RolePolicy")
        if r.inputs["role"] == role.name + "-id"
    ]
    statements = policy.policy()["Statement"]
    s3 = [s for s in statements if any(a.startswith("s3:") for a in s["Action"])]
    assert s3 == [
        {
            "Sid": "PresignUploads",
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": [f"arn:aws:s3:::{api.outputs['source_bucket']}/uploads/*"],
        }
    ]
    others = {a for s in statements if s not in s3 for a in s["Action"]}
    assert others == {"logs:CreateLogStream", "logs:PutLogEvents", *iam.XRAY_UPLOAD_ACTIONS}


def test_the_pipeline_roles_are_unchanged_by_the_api(api: Deployed, deployed: Deployed) -> None:
    def documents(d: Deployed) -> list[str]:
        roles = [r for r in d.of_type("aws:iam/rolePolicy:RolePolicy") if "upload" not in r.name]
        return sorted(json.dumps(r.policy(), sort_keys=True) for r in roles)

    assert documents(api) == documents(deployed)
