"""A stack name AWS would refuse in any resource name is refused before any resource exists."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from infra import names
from infra.settings import Settings, StackNameError, load_settings
from tests.infra.conftest import Deployed, Recorder

# Pulumi type -> (input holding an explicit name, input holding a name prefix), for
# every resource type that has a name of its own.
NAMED: dict[str, tuple[str, str | None]] = {
    "aws:s3/bucket:Bucket": ("bucket", "bucketPrefix"),
    "aws:sqs/queue:Queue": ("name", "namePrefix"),
    "aws:sns/topic:Topic": ("name", "namePrefix"),
    "aws:iam/role:Role": ("name", "namePrefix"),
    "aws:iam/rolePolicy:RolePolicy": ("name", "namePrefix"),
    "aws:lambda/function:Function": ("name", None),
    "aws:lambda/layerVersion:LayerVersion": ("layerName", None),
    "aws:cloudwatch/logGroup:LogGroup": ("name", "namePrefix"),
    "aws:sfn/stateMachine:StateMachine": ("name", "namePrefix"),
    "aws:pipes/pipe:Pipe": ("name", "namePrefix"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("name", None),
    "aws:cloudfront/originAccessControl:OriginAccessControl": ("name", None),
    "aws:dynamodb/table:Table": ("name", None),
}
# Resource types whose AWS resource has no name of its own (or is not an AWS resource).
UNNAMED = {
    "imagepipeline:index:ImagePipeline",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketPolicy:BucketPolicy",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketNotification:BucketNotification",
    "aws:sqs/queuePolicy:QueuePolicy",
    "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy",
    "aws:sns/topicPolicy:TopicPolicy",
    "aws:sns/topicSubscription:TopicSubscription",
    "aws:kms/key:Key",
    "aws:cloudfront/distribution:Distribution",
}


def physical_names(deployed: Deployed) -> set[str]:
    """Each named resource's name as the provider gives it: explicit, prefix + unique
    suffix, or the logical name auto-named."""
    found = set()
    for resource in deployed.resources:
        if resource.typ in UNNAMED:
            continue
        assert resource.typ in NAMED, f"{resource.typ}: named or not? (tests/infra/test_names.py)"
        explicit, prefix = NAMED[resource.typ]
        if resource.inputs.get(explicit):
            found.add(resource.inputs[explicit])
        elif prefix and resource.inputs.get(prefix):
            found.add(resource.inputs[prefix] + names.PREFIX_SUFFIX)
        else:
            found.add(resource.name + names.AUTONAME_SUFFIX)
    return found


@pytest.mark.parametrize("delete_derivatives", [False, True], ids=["default", "removals"])
def test_every_name_the_program_gives_is_checked(
    deploy_with: Any, delete_derivatives: bool
) -> None:
    deployed = deploy_with(
        Settings(delete_derivatives=delete_derivatives, notification_email="a@b.c")
    )
    derived = names.derived_names("dev", delete_derivatives=delete_derivatives)
    assert physical_names(deployed) == {d.name for d in derived}


@pytest.mark.parametrize(
    ("stack", "delete_derivatives", "words"),
    [
        ("a" * 29, True, "IAM role name imagepipe-" + "a" * 29 + "-removal-pipe-role-xxxxxxx"),
        ("a" * 29, True, "would be 65 characters, AWS allows 64 (stack names up to 28"),
        ("a" * 33, False, "would be 65 characters, AWS allows 64 (stack names up to 32"),
        ("a" * 60, False, "S3 bucket name"),
        ("my.stack", False, "S3 bucket name imagepipe-my.stack-source-xxxxxxx may only contain"),
        ("my_stack", False, "lowercase letters, digits and '-'"),
    ],
)
def test_a_stack_name_aws_would_refuse_names_the_resource_and_the_limit(
    stack: str, delete_derivatives: bool, words: str
) -> None:
    with pytest.raises(StackNameError) as caught:
        names.check_stack_name(stack, delete_derivatives=delete_derivatives)
    message = str(caught.value)
    assert message.startswith(f"stack name {stack!r} "), message
    assert words in message, message


@pytest.mark.parametrize("stack", ["dev", "prod", "Prod-EU-1", "a" * 28])
def test_ordinary_stack_names_pass(stack: str) -> None:
    names.check_stack_name(stack, delete_derivatives=True)


def test_the_longest_name_of_each_kind_fits_its_limit_at_the_longest_stack() -> None:
    for derived in names.derived_names("a" * 28, delete_derivatives=True):
        assert derived.problem() is None, derived


def test_the_program_checks_its_stack_name_before_any_resource_exists() -> None:
    recorder = Recorder()
    pulumi.runtime.set_mocks(recorder, project="imagepipeline", stack="team.alpha", preview=False)
    pulumi.runtime.set_all_config({})
    with pytest.raises(StackNameError, match=r"stack name 'team\.alpha' cannot be used"):
        load_settings()
    assert recorder.resources == []
    # The stack the program runs as is the one checked.
    load_settings("dev")
