"""The upload API for apps (config `uploadApi`, off by default).

An app that holds a JWT from the stack's identity provider (Cognito or any OIDC issuer:
`uploadApiIssuer`, `uploadApiAudience`) calls ``POST {uploadApiUrl}/uploads`` and gets a
presigned POST for one new key under ``<uploadPrefix><sub>/``, then POSTs the image
straight to the source bucket; the upload then goes through the pipeline like any other.

- An API Gateway HTTP API with a JWT authorizer on its one route: API Gateway checks the
  token (signature by the issuer's JWKS, iss, aud or client_id, exp, nbf, iat) before the
  function runs, and hands it the verified claims.
  https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html
- A Lambda proxy integration, payload format 2.0, and a permission for API Gateway to
  invoke the function for this route only (its execute-api ARN).
  https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
- The `$default` stage, deployed automatically, throttled, logging every request as JSON
  to a log group encrypted with its own KMS key.
  https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-logging.html
- CORS for `corsOrigins` only, on the API (API Gateway answers preflights itself) and on
  the source bucket, for the browser's POST of the file.
  https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/cors.html

The function (functions/imagefn/upload_handler.py) may only s3:PutObject under the upload
prefix (infra/iam.py upload_policy): a presigned POST carries its signer's authority.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

import pulumi
import pulumi_aws as aws

from infra import iam
from infra.environment import upload_environment
from infra.functions import FunctionMaker
from infra.settings import Settings
from infra.storage import Buckets

ROUTE_KEY: Final = "POST /uploads"
# What the Lambda permission's source ARN ends in: any stage, this method and path.
# https://docs.aws.amazon.com/apigateway/latest/developerguide/arn-format-reference.html
ROUTE_ARN_SUFFIX: Final = "/*/POST/uploads"
STAGE: Final = "$default"
# Requests per second across the API, and the burst above it (account limits are 10,000
# and 5,000): an app uploads one file per request, far below this; a runaway client or a
# token leak is held here rather than at the account's limit, shared by every API.
# https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-throttling.html
THROTTLE_RATE: Final = 50.0
THROTTLE_BURST: Final = 100
# Signing a POST is CPU-light and makes no AWS call.
FUNCTION_MEMORY_MB: Final = 256
FUNCTION_TIMEOUT_SECONDS: Final = 10
# HTTP APIs allow at most 30 s; past the function's own timeout, its error is the answer.
INTEGRATION_TIMEOUT_MS: Final = 12_000
# One JSON object per request: who (sub), what (route, status) and why not (authorizer
# and integration errors). https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-logging-variables.html
ACCESS_LOG_FORMAT: Final = json.dumps(
    {
        "requestId": "$context.requestId",
        "requestTime": "$context.requestTime",
        "ip": "$context.identity.sourceIp",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "protocol": "$context.protocol",
        "responseLength": "$context.responseLength",
        "sub": "$context.authorizer.claims.sub",
        "authorizerError": "$context.authorizer.error",
        "integrationError": "$context.integrationErrorMessage",
    },
    separators=(",", ":"),
)
# Browsers send the token and a JSON body; they may cache the preflight an hour.
CORS_HEADERS: Final = ("authorization", "content-type")
CORS_MAX_AGE: Final = 3600


@dataclass(frozen=True)
class UploadApi:
    api: aws.apigatewayv2.Api
    authorizer: aws.apigatewayv2.Authorizer
    integration: aws.apigatewayv2.Integration
    route: aws.apigatewayv2.Route
    stage: aws.apigatewayv2.Stage
    function: aws.lambda_.Function
    role: aws.iam.Role
    permission: aws.lambda_.Permission
    access_logs: aws.cloudwatch.LogGroup
    # Only with corsOrigins.
    bucket_cors: aws.s3.BucketCorsConfiguration | None
    # Where apps call: https://{api-id}.execute-api.{region}.amazonaws.com (no trailing /).
    url: pulumi.Output[str]


def access_log_key_policy(account_id: Any, region: Any, log_group_prefix: str) -> dict[str, Any]:
    """The account administers the key; CloudWatch Logs may use it for this API's log
    group only (its ARN in the encryption context), as AWS documents it, with the
    documented wildcards spelled out and without kms:Describe*, which carries no
    encryption context and so could never meet the condition.
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html"""
    log_groups = pulumi.Output.concat(
        "arn:aws:logs:", region, ":", account_id, ":log-group:", log_group_prefix, "*"
    )
    return {
        "Version": "2012-10-17",
        "Statement": [
            iam.account_administers_key(account_id),
            {
                "Sid": "CloudWatchLogsEncryptsAccessLogs",
                "Effect": "Allow",
                "Principal": {"Service": pulumi.Output.concat("logs.", region, ".amazonaws.com")},
                "Action": [
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncryptFrom",
                    "kms:ReEncryptTo",
                    "kms:GenerateDataKey",
                    "kms:GenerateDataKeyWithoutPlaintext",
                ],
                "Resource": "*",
                # An encryption context value is a string (ArnLike would match the same).
                "Condition": {"StringLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}},
            },
        ],
    }


def route_source_arn(execution_arn: Any) -> Any:
    """The only caller the function's permission lets invoke it: this API's route."""
    return pulumi.Output.concat(execution_arn, ROUTE_ARN_SUFFIX)


def cors_configuration(settings: Settings) -> aws.apigatewayv2.ApiCorsConfigurationArgs | None:
    if not settings.cors_origins:
        return None  # no browser may call it; apps outside a browser need no CORS
    return aws.apigatewayv2.ApiCorsConfigurationArgs(
        allow_origins=list(settings.cors_origins),
        allow_methods=["POST"],
        allow_headers=list(CORS_HEADERS),
        max_age=CORS_MAX_AGE,
    )


def create_upload_api(
    name: str,
    settings: Settings,
    buckets: Buckets,
    maker: FunctionMaker,
    account_id: Any,
    region: Any,
    parent: pulumi.Resource,
) -> UploadApi | None:
    """The upload API, or None when `uploadApi` is off (nothing is created)."""
    if not settings.upload_api:
        return None
    opts = pulumi.ResourceOptions(parent=parent)
    function, _, role = maker.function(
        "upload",
        lambda source, prefix, _destination, logs: iam.upload_policy(source, prefix, logs),
        upload_environment(settings, buckets.source.bucket),
        "Hands an authorized app a presigned POST for one new upload under its subject",
        memory_mb=FUNCTION_MEMORY_MB,
        timeout_seconds=FUNCTION_TIMEOUT_SECONDS,
    )
    api = aws.apigatewayv2.Api(
        f"{name}-upload-api",
        aws.apigatewayv2.ApiArgs(
            name=f"{name}-upload-api",
            protocol_type="HTTP",
            description=f"{name}: presigned uploads for apps holding a JWT",
            cors_configuration=cors_configuration(settings),
        ),
        opts=opts,
    )
    route, integration, authorizer = _route(name, settings, api, function, opts)
    permission = aws.lambda_.Permission(
        f"{name}-upload-api-invoke",
        aws.lambda_.PermissionArgs(
            action="lambda:InvokeFunction",
            function=function.name,
            principal="apigateway.amazonaws.com",
            source_arn=route_source_arn(api.execution_arn),
        ),
        opts=opts,
    )
    stage, logs = _stage(name, settings, api, account_id, region, opts)
    return UploadApi(
        api=api,
        authorizer=authorizer,
        integration=integration,
        route=route,
        stage=stage,
        function=function,
        role=role,
        permission=permission,
        access_logs=logs,
        bucket_cors=_bucket_cors(name, settings, buckets, opts),
        url=stage.invoke_url.apply(lambda url: url.rstrip("/")),
    )


def _route(
    name: str,
    settings: Settings,
    api: aws.apigatewayv2.Api,
    function: aws.lambda_.Function,
    opts: pulumi.ResourceOptions,
) -> tuple[aws.apigatewayv2.Route, aws.apigatewayv2.Integration, aws.apigatewayv2.Authorizer]:
    """POST /uploads, behind the JWT authorizer, proxied to the function."""
    authorizer = aws.apigatewayv2.Authorizer(
        f"{name}-upload-api-jwt",
        aws.apigatewayv2.AuthorizerArgs(
            api_id=api.id,
            name=f"{name}-jwt",
            authorizer_type="JWT",
            # "Bearer <token>" or the bare token, as API Gateway reads either.
            identity_sources=["$request.header.Authorization"],
            jwt_configuration=aws.apigatewayv2.AuthorizerJwtConfigurationArgs(
                issuer=settings.upload_api_issuer,
                audiences=list(settings.upload_api_audience),
            ),
        ),
        opts=opts,
    )
    integration = aws.apigatewayv2.Integration(
        f"{name}-upload-api-function",
        aws.apigatewayv2.IntegrationArgs(
            api_id=api.id,
            integration_type="AWS_PROXY",
            integration_method="POST",
            integration_uri=function.invoke_arn,
            payload_format_version="2.0",
            timeout_milliseconds=INTEGRATION_TIMEOUT_MS,
        ),
        opts=opts,
    )
    route = aws.apigatewayv2.Route(
        f"{name}-upload-api-route",
        aws.apigatewayv2.RouteArgs(
            api_id=api.id,
            route_key=ROUTE_KEY,
            authorization_type="JWT",
            authorizer_id=authorizer.id,
            target=pulumi.Output.concat("integrations/", integration.id),
        ),
        opts=opts,
    )
    return route, integration, authorizer


def _stage(
    name: str,
    settings: Settings,
    api: aws.apigatewayv2.Api,
    account_id: Any,
    region: Any,
    opts: pulumi.ResourceOptions,
) -> tuple[aws.apigatewayv2.Stage, aws.cloudwatch.LogGroup]:
    """The $default stage (no path segment in the URL), throttled, with access logs."""
    prefix = f"/aws/apigateway/{name}-upload-api-"
    key = aws.kms.Key(
        f"{name}-upload-api-logs-key",
        aws.kms.KeyArgs(
            description=f"{name}: encrypts the upload API's access logs",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.json_dumps(access_log_key_policy(account_id, region, prefix)),
        ),
        opts=opts,
    )
    logs = aws.cloudwatch.LogGroup(
        f"{name}-upload-api-logs",
        aws.cloudwatch.LogGroupArgs(
            name_prefix=prefix,
            retention_in_days=settings.log_retention_days,
            # CloudWatch Logs checks the key policy when the group is created with it.
            kms_key_id=key.arn,
        ),
        opts=opts,
    )
    stage = aws.apigatewayv2.Stage(
        f"{name}-upload-api-stage",
        aws.apigatewayv2.StageArgs(
            api_id=api.id,
            name=STAGE,
            auto_deploy=True,
            access_log_settings=aws.apigatewayv2.StageAccessLogSettingsArgs(
                destination_arn=logs.arn, format=ACCESS_LOG_FORMAT
            ),
            default_route_settings=aws.apigatewayv2.StageDefaultRouteSettingsArgs(
                throttling_rate_limit=THROTTLE_RATE, throttling_burst_limit=THROTTLE_BURST
            ),
        ),
        opts=opts,
    )
    return stage, logs


def _bucket_cors(
    name: str, settings: Settings, buckets: Buckets, opts: pulumi.ResourceOptions
) -> aws.s3.BucketCorsConfiguration | None:
    """The browser POSTs the file to the source bucket itself: S3 lets the configured
    origins do that (and read the response's ETag and Location), nothing else.
    BucketCorsConfiguration, not the V2 one pulumi-aws 7 deprecates in its favour."""
    if not settings.cors_origins:
        return None
    return aws.s3.BucketCorsConfiguration(
        f"{name}-source-cors",
        aws.s3.BucketCorsConfigurationArgs(
            bucket=buckets.source.id,
            cors_rules=[
                aws.s3.BucketCorsConfigurationCorsRuleArgs(
                    id="upload-api-post",
                    allowed_methods=["POST"],
                    allowed_origins=list(settings.cors_origins),
                    expose_headers=["ETag", "Location"],
                    max_age_seconds=CORS_MAX_AGE,
                )
            ],
        ),
        opts=opts,
    )
