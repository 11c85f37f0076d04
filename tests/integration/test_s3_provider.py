"""The local S3 provider sends what the Pulumi (Terraform) provider sends: a
BucketPublicAccessBlock puts all four settings, off ones as false, so a block with every
setting off is created as on AWS (S3 refuses a PublicAccessBlockConfiguration that names
no setting: 'Must specify at least one configuration', as moto does)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from imagepipe.local.clients import emulator
from imagepipe.local.providers import MotoMocks, s3

pytestmark = pytest.mark.integration

BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"


@pytest.fixture
def ctx() -> Iterator[MotoMocks]:
    with mock_aws():
        yield MotoMocks(emulator("eu-west-1"))


@pytest.mark.parametrize(
    "inputs",
    [
        {},  # every setting off (the provider's default)
        {"blockPublicAcls": False, "blockPublicPolicy": False},
        {"blockPublicAcls": True, "ignorePublicAcls": True},
        dict.fromkeys(("blockPublicAcls", "ignorePublicAcls", "blockPublicPolicy"), True)
        | {"restrictPublicBuckets": True},
    ],
)
def test_a_public_access_block_puts_every_setting(ctx: MotoMocks, inputs: dict[str, bool]) -> None:
    bucket, _ = s3.RESOURCES["aws:s3/bucket:Bucket"](ctx, "photos", {"bucket": "photos-bucket"})
    s3.RESOURCES[BLOCK](ctx, "photos-public-access", {"bucket": bucket, **inputs})
    stored = ctx.clients.client("s3").get_public_access_block(Bucket=bucket)
    names = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    assert stored["PublicAccessBlockConfiguration"] == {
        name: bool(inputs.get(name[:1].lower() + name[1:])) for name in names
    }
