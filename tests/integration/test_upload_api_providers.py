"""The local providers behind the upload API refuse what AWS refuses when it is created:
a route naming no JWT authorizer or no integration, an integration timeout past 30 s, a
stage logging nowhere, a log group under a key CloudWatch Logs may not use."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from moto import mock_aws

from imagepipe.local.clients import emulator
from imagepipe.local.providers import MotoMocks, RefusedByAwsError, apigatewayv2, cloudwatch, kms

pytestmark = pytest.mark.integration


@pytest.fixture
def ctx() -> Iterator[MotoMocks]:
    with mock_aws():
        yield MotoMocks(emulator("eu-west-1"))


def api(ctx: MotoMocks) -> str:
    api_id, _ = apigatewayv2.RESOURCES["aws:apigatewayv2/api:Api"](
        ctx, "api", {"name": "api", "protocolType": "HTTP"}
    )
    return api_id


def integration(ctx: MotoMocks, api_id: str, timeout: int = 12_000) -> str:
    integration_id, _ = apigatewayv2.RESOURCES["aws:apigatewayv2/integration:Integration"](
        ctx,
        "integration",
        {
            "apiId": api_id,
            "integrationType": "AWS_PROXY",
            "integrationUri": "arn:aws:lambda:eu-west-1:123456789012:function:f",
            "payloadFormatVersion": "2.0",
            "timeoutMilliseconds": timeout,
        },
    )
    return integration_id


def test_a_jwt_route_must_name_a_jwt_authorizer_and_an_integration(ctx: MotoMocks) -> None:
    api_id = api(ctx)
    target = f"integrations/{integration(ctx, api_id)}"
    route = apigatewayv2.RESOURCES["aws:apigatewayv2/route:Route"]
    inputs = {"apiId": api_id, "routeKey": "POST /uploads", "authorizationType": "JWT"}
    with pytest.raises(RefusedByAwsError, match="JWT authorizer"):
        route(ctx, "route", {**inputs, "authorizerId": "nope", "target": target})
    authorizer_id, _ = apigatewayv2.RESOURCES["aws:apigatewayv2/authorizer:Authorizer"](
        ctx,
        "jwt",
        {
            "apiId": api_id,
            "authorizerType": "JWT",
            "identitySources": ["$request.header.Authorization"],
            "jwtConfiguration": {"issuer": "https://issuer.example", "audiences": ["a"]},
        },
    )
    with pytest.raises(RefusedByAwsError, match="not an integration"):
        route(ctx, "route", {**inputs, "authorizerId": authorizer_id, "target": "integrations/x"})
    route_id, _ = route(ctx, "route", {**inputs, "authorizerId": authorizer_id, "target": target})
    [made] = ctx.clients.client("apigatewayv2").get_routes(ApiId=api_id)["Items"]
    assert made["RouteId"] == route_id and made["AuthorizerId"] == authorizer_id


def test_an_http_api_integration_times_out_within_30_seconds(ctx: MotoMocks) -> None:
    with pytest.raises(RefusedByAwsError, match="50 to 30000"):
        integration(ctx, api(ctx), timeout=31_000)


def test_a_stage_must_log_to_a_log_group_that_exists(ctx: MotoMocks) -> None:
    stage = apigatewayv2.RESOURCES["aws:apigatewayv2/stage:Stage"]
    settings = {"destinationArn": "arn:aws:logs:eu-west-1:123456789012:log-group:nowhere"}
    with pytest.raises(RefusedByAwsError, match="does not exist"):
        stage(ctx, "stage", {"apiId": api(ctx), "name": "$default", "accessLogSettings": settings})


def test_a_log_group_needs_a_key_that_lets_cloudwatch_logs_use_it(ctx: MotoMocks) -> None:
    account = ctx.account_id
    admin = {
        "Sid": "Admin",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    key = kms.RESOURCES["aws:kms/key:Key"]
    _, bare = key(
        ctx, "bare", {"policy": json.dumps({"Version": "2012-10-17", "Statement": [admin]})}
    )
    log_group = cloudwatch.RESOURCES["aws:cloudwatch/logGroup:LogGroup"]
    with pytest.raises(RefusedByAwsError, match=r"logs\.eu-west-1\.amazonaws\.com"):
        log_group(ctx, "logs", {"name": "/aws/apigateway/x", "kmsKeyId": bare["arn"]})
    logs_use = {
        "Effect": "Allow",
        "Principal": {"Service": "logs.eu-west-1.amazonaws.com"},
        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"],
        "Resource": "*",
        "Condition": {
            "StringLike": {
                "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:eu-west-1:{account}:log-group:/aws/apigateway/*"
            }
        },
    }
    document = {"Version": "2012-10-17", "Statement": [admin, logs_use]}
    _, usable = key(ctx, "usable", {"policy": json.dumps(document)})
    with pytest.raises(RefusedByAwsError):  # another log group than the key names
        log_group(ctx, "other", {"name": "/elsewhere/x", "kmsKeyId": usable["arn"]})
    name, _ = log_group(ctx, "logs", {"name": "/aws/apigateway/x", "kmsKeyId": usable["arn"]})
    [group] = ctx.clients.client("logs").describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    assert group["kmsKeyId"] == usable["arn"]
