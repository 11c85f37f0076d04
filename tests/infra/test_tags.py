"""The `tags` config reaches every taggable resource, through the stack transform that
__main__.py registers (run here under mocks that apply it as the engine would)."""

from __future__ import annotations

import json
import runpy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pytest
from pulumi.runtime import settings as runtime_settings

from infra import names, tags
from infra.packaging import placeholder_layer
from infra.settings import PROJECT_DIR, ConfigError, settings_from_mapping
from tests.infra.conftest import Recorder, Resource

CONFIGURED = {"team": "media", "cost-centre": "4711"}


@dataclass
class Transforming(Recorder):
    """The test mocks, also running the stack transforms the program registers (the mock
    monitor leaves that to the mocks), before recording each resource."""

    transforms: list[pulumi.ResourceTransform] = field(default_factory=list)

    def register_transform(self, transform: pulumi.ResourceTransform) -> None:
        self.transforms.append(transform)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        for transform in self.transforms:
            result = transform(
                pulumi.ResourceTransformArgs(
                    args.custom or False, args.typ, args.name, args.inputs, pulumi.ResourceOptions()
                )
            )
            assert not isinstance(result, Exception)
            if isinstance(result, pulumi.ResourceTransformResult):
                args.inputs = dict(result.props)
        return super().new_resource(args)


def run_program(config: Mapping[str, str], stack: str = "dev") -> list[Resource]:
    """__main__.py as `pulumi up` runs it, under mocks; with the placeholder layer unless
    `config` names one (nothing here loads it: test_packaging.py builds the real one)."""
    config = {"imagepipeline:layerArchive": str(placeholder_layer().path), **config}
    recorder = Transforming()
    runtime_settings.reset_options(project="imagepipeline", stack=stack, preview=False)
    pulumi.runtime.set_all_config(dict(config))
    pulumi.runtime.set_mocks(recorder, project="imagepipeline", stack=stack, preview=False)

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> None:
        runpy.run_path(str(PROJECT_DIR / "__main__.py"), run_name="__main__")

    try:
        program()
    finally:
        pulumi.runtime.set_all_config({})
    return recorder.resources


@pytest.fixture(scope="module")
def tagged() -> list[Resource]:
    return run_program(
        {
            "imagepipeline:tags": json.dumps(CONFIGURED),
            "imagepipeline:deleteDerivatives": "true",
            "imagepipeline:notificationEmail": "ops@example.com",
        }
    )


def test_every_taggable_resource_carries_the_configured_tags(tagged: list[Resource]) -> None:
    expected = {"imagepipe:stack": "dev", **CONFIGURED}
    taggable = [r for r in tagged if tags.takes_tags(r.typ)]
    for resource in taggable:
        assert resource.inputs.get("tags") == expected, (resource.typ, resource.name)
    # The check saw the kinds of resource that are taggable, not an empty list.
    assert {r.typ.split(":")[1] for r in taggable} >= {
        "s3/bucket", "sqs/queue", "sns/topic", "kms/key", "iam/role", "lambda/function",
        "cloudwatch/logGroup", "cloudwatch/metricAlarm", "sfn/stateMachine", "pipes/pipe",
    }  # fmt: skip
    # And nothing that takes no tags was given any (the provider would refuse them).
    for resource in tagged:
        if not tags.takes_tags(resource.typ):
            assert "tags" not in resource.inputs, resource.typ


def test_which_types_take_tags_is_read_from_pulumi_aws() -> None:
    assert tags.takes_tags("aws:lambda/function:Function")
    assert tags.takes_tags("aws:s3/bucket:Bucket")
    assert not tags.takes_tags("aws:lambda/layerVersion:LayerVersion")  # not taggable
    assert not tags.takes_tags("aws:iam/rolePolicy:RolePolicy")
    assert not tags.takes_tags("imagepipeline:index:ImagePipeline")
    assert not tags.takes_tags("pulumi:providers:aws")


def test_tags_a_resource_sets_itself_win() -> None:
    transform = tags.tag_transform({"team": "media", "imagepipe:stack": "dev"})
    args = pulumi.ResourceTransformArgs(
        True, "aws:sqs/queue:Queue", "q", {"tags": {"team": "search"}}, pulumi.ResourceOptions()
    )
    result = transform(args)
    assert isinstance(result, pulumi.ResourceTransformResult)
    assert result.props["tags"] == {"team": "search", "imagepipe:stack": "dev"}


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({"aws:team": "x"}, "aws:"),
        ({"k" * 129: "x"}, "128"),
        ({"team": "v" * 257}, "256"),
        ({f"t{i}": "x" for i in range(50)}, "49"),
        ({"team": "a|b"}, "characters"),
        ({names.STACK_TAG: "other"}, names.STACK_TAG),
    ],
)
def test_tags_aws_would_refuse_are_refused(value: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping({"tags": value})
    message = str(caught.value)
    assert message.startswith("imagepipeline:tags: ") and words in message, message
