"""API Gateway v2 (HTTP APIs): the API, its JWT authorizer, integration, route and stage.

moto keeps their configuration; nothing in moto serves them. The local stack does
(imagepipe.local.upload_api): it reads this configuration back from moto, so what it
enforces (the route's authorizer, the issuer and audiences, CORS) is what the program
deployed. `serve_at(url)` says where that local endpoint listens, which becomes the
stage's invoke URL (on AWS, https://{api-id}.execute-api.{region}.amazonaws.com/).

Refused as API Gateway refuses them: a route whose JWT authorization names no JWT
authorizer of the API, a target that is not one of the API's integrations, an
integration timeout outside 50..30000 ms, a stage logging to a log group that does not
exist.
"""

from __future__ import annotations

from typing import Final

from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

from imagepipe.local.providers import base
from imagepipe.local.providers.base import Context, Handler, Inputs, Outputs, RefusedByAwsError

_served_at: dict[str, str] = {}  # "url" -> where the local stack serves HTTP APIs


def serve_at(url: str | None) -> None:
    """The base URL of the local endpoint for the APIs deployed next (None: AWS's form)."""
    _served_at["url"] = (url or "").rstrip("/")


def _api(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    api = ctx.clients.client("apigatewayv2").create_api(
        Name=inputs.get("name") or logical,
        ProtocolType=inputs["protocolType"],
        **base.given(inputs, "description"),
        **base.pascal(base.given(inputs, "corsConfiguration")),
    )
    api_id = api["ApiId"]
    return api_id, {
        "apiEndpoint": _served_at.get("url") or api["ApiEndpoint"],
        "arn": f"arn:aws:apigateway:{ctx.region}::/apis/{api_id}",
        "executionArn": f"arn:aws:execute-api:{ctx.region}:{ctx.account_id}:{api_id}",
    }


def _authorizer(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    authorizer = ctx.clients.client("apigatewayv2").create_authorizer(
        ApiId=inputs["apiId"],
        AuthorizerType=inputs["authorizerType"],
        IdentitySource=list(inputs.get("identitySources") or []),
        Name=inputs.get("name") or logical,
        **base.pascal(base.given(inputs, "jwtConfiguration"), {"audiences": "Audience"}),
    )
    return authorizer["AuthorizerId"], {}


def _integration(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    timeout = int(inputs.get("timeoutMilliseconds") or 30_000)
    if not 50 <= timeout <= 30_000:
        raise RefusedByAwsError(
            f"integration {logical}: timeoutInMillis must be 50 to 30000 for an HTTP API, "
            f"got {timeout} (BadRequestException)"
        )
    integration = ctx.clients.client("apigatewayv2").create_integration(
        ApiId=inputs["apiId"],
        IntegrationType=inputs["integrationType"],
        TimeoutInMillis=timeout,
        **base.given(
            inputs, "integrationMethod", "integrationUri", "payloadFormatVersion", "description"
        ),
    )
    return integration["IntegrationId"], {}


def _check_route(ctx: Context, logical: str, inputs: Inputs) -> None:
    client, api_id = ctx.clients.client("apigatewayv2"), inputs["apiId"]
    if inputs.get("authorizationType") == "JWT":
        authorizer_id = str(inputs.get("authorizerId") or "")
        try:  # moto has no GetAuthorizers: one by id
            found = client.get_authorizer(ApiId=api_id, AuthorizerId=authorizer_id or "-")
        except ClientError:
            found = {}
        if found.get("AuthorizerType") != "JWT":
            raise RefusedByAwsError(
                f"route {logical}: authorizationType JWT needs the id of a JWT authorizer of "
                f"API {api_id}, got {authorizer_id!r} (BadRequestException)"
            )
    target = str(inputs.get("target") or "")
    if target:
        integrations = client.get_integrations(ApiId=api_id)["Items"]
        if target not in {f"integrations/{i['IntegrationId']}" for i in integrations}:
            raise RefusedByAwsError(
                f"route {logical}: target {target!r} is not an integration of API {api_id} "
                "(NotFoundException)"
            )


def _route(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    _check_route(ctx, logical, inputs)
    route = ctx.clients.client("apigatewayv2").create_route(
        ApiId=inputs["apiId"],
        RouteKey=inputs["routeKey"],
        **base.given(inputs, "authorizationType", "authorizerId", "target", "authorizationScopes"),
    )
    return route["RouteId"], {}


def _stage(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    api_id, name = inputs["apiId"], inputs.get("name") or logical
    logs = inputs.get("accessLogSettings")
    if logs:
        group = str(logs["destinationArn"]).split(":log-group:", 1)[-1].removesuffix(":*")
        found = ctx.clients.client("logs").describe_log_groups(logGroupNamePrefix=group)
        if not any(g["logGroupName"] == group for g in found["logGroups"]):
            raise RefusedByAwsError(
                f"stage {logical}: access log destination {logs['destinationArn']} does not "
                "exist (BadRequestException)"
            )
    ctx.clients.client("apigatewayv2").create_stage(
        ApiId=api_id,
        StageName=name,
        AutoDeploy=bool(inputs.get("autoDeploy")),
        **base.pascal(base.given(inputs, "accessLogSettings", "defaultRouteSettings")),
    )
    root = _served_at.get("url") or f"https://{api_id}.execute-api.{ctx.region}.amazonaws.com"
    # The $default stage is served at the API's root; any other under its name.
    invoke_url = f"{root}/" if name == "$default" else f"{root}/{name}"
    execution_arn = f"arn:aws:execute-api:{ctx.region}:{ctx.account_id}:{api_id}/{name}"
    return name, {
        "invokeUrl": invoke_url,
        "executionArn": execution_arn,
        "arn": f"arn:aws:apigateway:{ctx.region}::/apis/{api_id}/stages/{name}",
    }


RESOURCES: Final[dict[str, Handler]] = {
    "aws:apigatewayv2/api:Api": _api,
    "aws:apigatewayv2/authorizer:Authorizer": _authorizer,
    "aws:apigatewayv2/integration:Integration": _integration,
    "aws:apigatewayv2/route:Route": _route,
    "aws:apigatewayv2/stage:Stage": _stage,
}
