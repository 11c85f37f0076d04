"""The CDN in front of the renditions bucket (infra/delivery.py), under Pulumi's mocks:
the distribution, its origin access control, the one merged bucket policy, and the
settings for a custom domain."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra import delivery
from infra.settings import ConfigError, Settings, settings_from_mapping
from tests.infra.conftest import Deployed

DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
OAC = "aws:cloudfront/originAccessControl:OriginAccessControl"
POLICY = "aws:s3/bucketPolicy:BucketPolicy"
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"


def test_the_distribution_serves_the_bucket_through_its_access_control(
    deployed: Deployed,
) -> None:
    cdn = deployed.one(DISTRIBUTION)
    oac = deployed.one(OAC)
    assert oac.inputs["originAccessControlOriginType"] == "s3"
    assert oac.inputs["signingBehavior"] == "always"
    assert oac.inputs["signingProtocol"] == "sigv4"
    [origin] = cdn.inputs["origins"]
    assert origin["originAccessControlId"] == f"{oac.name}-id"  # the mocks' ids
    bucket = deployed.one("aws:s3/bucket:Bucket", "-renditions")
    assert "s3OriginConfig" not in origin  # OAC, not a legacy origin access identity
    assert origin["domainName"] == bucket.outputs["bucketRegionalDomainName"]
    assert cdn.inputs["httpVersion"] == "http2and3"
    assert cdn.inputs["enabled"] is True
    assert cdn.inputs["viewerCertificate"] == {"cloudfrontDefaultCertificate": True}
    default = cdn.inputs["defaultCacheBehavior"]
    assert default["viewerProtocolPolicy"] == "redirect-to-https"
    assert default["allowedMethods"] == ["GET", "HEAD"]
    assert default["cachePolicyId"] == delivery.CACHING_OPTIMIZED_UNCOMPRESSED
    assert default["responseHeadersPolicyId"] == delivery.SECURITY_HEADERS
    assert default["compress"] is False  # images are compressed already
    [manifests] = cdn.inputs["orderedCacheBehaviors"]
    assert manifests["pathPattern"] == "manifests/*"
    assert manifests["compress"] is True
    assert manifests["viewerProtocolPolicy"] == "redirect-to-https"
    assert deployed.outputs["cdn_domain"] == "d111111abcdef8.cloudfront.net"
    assert deployed.outputs["renditions_base_url"] == "https://d111111abcdef8.cloudfront.net"


def test_the_renditions_bucket_has_one_policy_with_the_deny_and_the_distributions_read(
    deployed: Deployed,
) -> None:
    bucket = deployed.one("aws:s3/bucket:Bucket", "-renditions")
    policies = [p for p in deployed.of_type(POLICY) if "-renditions" in p.name]
    assert len(policies) == 1  # two policies on one bucket overwrite each other
    statements = policies[0].policy()["Statement"]
    deny, read = statements
    assert deny["Sid"] == "DenyInsecureTransport" and deny["Effect"] == "Deny"
    arn = bucket.outputs["arn"]
    assert read == {
        "Sid": "AllowCloudFrontRead",
        "Effect": "Allow",
        "Principal": {"Service": "cloudfront.amazonaws.com"},
        "Action": "s3:GetObject",
        "Resource": f"{arn}/*",
        "Condition": {"StringEquals": {"AWS:SourceArn": deployed.one(DISTRIBUTION).outputs["arn"]}},
    }


def test_the_workflow_may_invalidate_its_own_distribution_only(deployed: Deployed) -> None:
    role = deployed.one("aws:iam/rolePolicy:RolePolicy", "-workflow-role-policy")
    [statement] = [
        s for s in role.policy()["Statement"] if "cloudfront:CreateInvalidation" in s["Action"]
    ]
    assert statement["Action"] == ["cloudfront:CreateInvalidation"]
    assert statement["Resource"] == [deployed.one(DISTRIBUTION).outputs["arn"]]


def test_without_a_cdn_the_bucket_keeps_its_tls_only_policy(deploy_with: Any) -> None:
    deployed = deploy_with(Settings(cdn=False))
    assert not deployed.of_type(DISTRIBUTION) and not deployed.of_type(OAC)
    [policy] = [p for p in deployed.of_type(POLICY) if "-renditions" in p.name]
    assert [s["Sid"] for s in policy.policy()["Statement"]] == ["DenyInsecureTransport"]
    role = deployed.one("aws:iam/rolePolicy:RolePolicy", "-workflow-role-policy")
    assert "cloudfront" not in json.dumps(role.policy())


def test_a_custom_domain_takes_its_certificate_and_price_class(deploy_with: Any) -> None:
    settings = settings_from_mapping(
        {
            "cdnAliases": ["images.example.com"],
            "cdnCertificateArn": CERT,
            "cdnPriceClass": "PriceClass_100",
        }
    )
    deployed = deploy_with(settings)
    cdn = deployed.one(DISTRIBUTION)
    assert cdn.inputs["aliases"] == ["images.example.com"]
    assert cdn.inputs["priceClass"] == "PriceClass_100"
    assert cdn.inputs["viewerCertificate"] == {
        "acmCertificateArn": CERT,
        "sslSupportMethod": "sni-only",
        "minimumProtocolVersion": "TLSv1.2_2021",
    }
    assert deployed.outputs["renditions_base_url"] == "https://images.example.com"


@pytest.mark.parametrize(
    ("values", "key", "says"),
    [
        ({"cdnAliases": ["images.example.com"]}, "cdnCertificateArn", "must be set"),
        ({"cdnCertificateArn": CERT}, "cdnAliases", "must name"),
        (
            {
                "cdnAliases": ["a.example.com"],
                "cdnCertificateArn": CERT.replace("us-east-1", "eu-west-1"),
            },
            "cdnCertificateArn",
            "us-east-1",
        ),
        ({"cdnAliases": ["not a domain"], "cdnCertificateArn": CERT}, "cdnAliases", "not a domain"),
        ({"cdnPriceClass": "PriceClass_50"}, "cdnPriceClass", "PriceClass_100"),
        (
            {"cdn": False, "cdnAliases": ["a.example.com"], "cdnCertificateArn": CERT},
            "cdnAliases",
            "cdn: true",
        ),
        ({"renditionsBaseUrl": "ftp://x"}, "renditionsBaseUrl", "http(s) URL"),
    ],
)
def test_bad_cdn_settings_are_refused_naming_the_key(
    values: dict[str, Any], key: str, says: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(values)
    message = str(caught.value)
    assert message.startswith(f"imagepipeline:{key}: "), message
    assert says in message, message
    assert "\n" not in message
