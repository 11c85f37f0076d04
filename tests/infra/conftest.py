"""Run the Pulumi program under Pulumi's mock runtime and record every resource."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pytest

from infra.packaging import placeholder_layer
from infra.pipeline import ImagePipeline, ImagePipelineArgs
from infra.settings import Settings

ACCOUNT = "123456789012"
REGION = "eu-west-1"


def fake_arn(typ: str, name: str) -> str:
    service = typ.split(":")[1].split("/")[0]
    if service == "s3":
        return f"arn:aws:s3:::{name}"
    if service == "lambda":
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    if service == "sfn":
        return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"
    if service == "iam":
        return f"arn:aws:iam::{ACCOUNT}:role/{name}"
    if service == "cloudfront":  # global: no region
        kind = "distribution" if typ.endswith(":Distribution") else "origin-access-control"
        return f"arn:aws:cloudfront::{ACCOUNT}:{kind}/{name}-id"
    if service == "cloudwatch":
        return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}"
    if service == "dynamodb":
        return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{name}"


@dataclass
class Resource:
    typ: str
    name: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]

    def policy(self, key: str = "policy") -> dict[str, Any]:
        value = self.inputs[key]
        return json.loads(value) if isinstance(value, str) else value  # type: ignore[no-any-return]


@dataclass
class Recorder(pulumi.runtime.Mocks):
    resources: list[Resource] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = dict(args.inputs)
        physical = args.name
        outputs.setdefault("arn", fake_arn(args.typ, physical))
        outputs.setdefault("name", physical)
        outputs.setdefault("bucket", physical)
        outputs.setdefault("url", f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{physical}")
        if args.typ == "aws:s3/bucket:Bucket":
            outputs.setdefault("bucketRegionalDomainName", f"{physical}.s3.{REGION}.amazonaws.com")
        if args.typ == "aws:cloudfront/distribution:Distribution":
            outputs.setdefault("domainName", "d111111abcdef8.cloudfront.net")
        if args.typ == "aws:apigatewayv2/api:Api":
            outputs.setdefault("executionArn", f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{physical}")
            outputs.setdefault(
                "apiEndpoint", f"https://{physical}.execute-api.{REGION}.amazonaws.com"
            )
        if args.typ == "aws:apigatewayv2/stage:Stage":
            outputs.setdefault("invokeUrl", f"https://api-id.execute-api.{REGION}.amazonaws.com/")
        if args.typ == "aws:lambda/function:Function":
            outputs.setdefault(
                "invokeArn",
                f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
                f"{fake_arn(args.typ, physical)}/invocations",
            )
        self.resources.append(Resource(args.typ, args.name, dict(args.inputs), outputs))
        return f"{physical}-id", outputs

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            identity = {
                "accountId": ACCOUNT,
                "arn": f"arn:aws:iam::{ACCOUNT}:user/ci",
                "userId": "ci",
            }
            return identity, []
        if args.token == "aws:index/getRegion:getRegion":
            return {"region": REGION, "name": REGION, "id": REGION}, []
        raise NotImplementedError(args.token)


@dataclass
class Deployed:
    resources: list[Resource]
    outputs: dict[str, Any]

    def of_type(self, typ: str) -> list[Resource]:
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str, name_suffix: str = "") -> Resource:
        found = [r for r in self.of_type(typ) if r.name.endswith(name_suffix)]
        assert len(found) == 1, f"expected one {typ} ending {name_suffix!r}, got {found}"
        return found[0]

    def by_arn(self, arn: str) -> Resource:
        found = [r for r in self.resources if r.outputs.get("arn") == arn]
        assert len(found) == 1, arn
        return found[0]


def deploy(settings: Settings, args: ImagePipelineArgs | None = None) -> Deployed:
    """The component under mocks. Its layer is the placeholder the local stack deploys
    too (nothing here loads it), unless `args` says otherwise: the layer build has its
    own tests (test_packaging.py)."""
    args = args or ImagePipelineArgs(settings=settings, layer=placeholder_layer())
    recorder = Recorder()
    pulumi.runtime.set_mocks(recorder, project="imagepipeline", stack="dev", preview=False)
    outputs: dict[str, Any] = {}

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def build() -> pulumi.Output[Any]:
        pipeline = ImagePipeline("imagepipe-dev", args)
        names = [
            "source_bucket", "destination_bucket", "backup_bucket", "state_machine_arn",
            "backfill_state_machine_arn",
            "executions_console_url", "dead_letter_queue_url", "topic_arn", "upload_command",
            "cdn_domain", "renditions_base_url", "upload_api_url",
        ]  # fmt: skip
        return pulumi.Output.all(*[getattr(pipeline, n) for n in names]).apply(
            lambda values: outputs.update(zip(names, values, strict=True))
        )

    build()
    return Deployed(recorder.resources, outputs)


@pytest.fixture(scope="session")
def deployed() -> Deployed:
    """The default settings, deployed once for the session (resources are only read)."""
    return deploy(Settings())


@pytest.fixture
def deploy_with() -> Iterator[Callable[[Settings], Deployed]]:
    yield deploy
