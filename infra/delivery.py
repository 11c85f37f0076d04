"""Delivery: a CloudFront distribution in front of the (private) renditions bucket, and
the renditions bucket's one policy.

The bucket stays private with Block Public Access on: CloudFront reads it through an
Origin Access Control (SigV4-signed requests as the service principal
cloudfront.amazonaws.com), and the bucket policy lets that principal read objects only
for this distribution (`AWS:SourceArn`), next to the TLS-only deny every bucket has.
https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-restricting-access-to-s3.html

The policy is one resource created here, after the distribution, holding both
statements: S3 keeps one policy per bucket, so two BucketPolicy resources would
overwrite each other on every `pulumi up`. With `cdn: false` it holds the deny alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import pulumi
import pulumi_aws as aws

from infra import storage
from infra.settings import Settings

# AWS-managed policies, attached by ID (they exist in every account).
# https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-cache-policies.html
# CachingOptimizedForUncompressedObjects: no query strings, headers or cookies in the cache
# key, TTL 1 s..1 year (default 1 day, the origin's Cache-Control in between), and no
# Accept-Encoding in the key: WebP, AVIF, JPEG and PNG are compressed already, so gzip
# or Brotli would only cost CPU and split the cache.
CACHING_OPTIMIZED_UNCOMPRESSED: Final = "b2884449-e4de-46a7-ac36-70bc7f1ddd6d"
# CachingOptimized: the same with gzip and Brotli in the key, for the JSON manifests.
CACHING_OPTIMIZED: Final = "658327ea-f89d-4fab-a63d-7e88639e58f6"
# SecurityHeadersPolicy: Strict-Transport-Security, X-Content-Type-Options: nosniff,
# X-Frame-Options, Referrer-Policy, X-XSS-Protection on every response.
# https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-response-headers-policies.html
SECURITY_HEADERS: Final = "67f7725c-6f97-4210-82d7-5512b31e9d03"
# Where manifests live in the renditions bucket (written by the manifest function).
MANIFEST_PREFIX: Final = "manifests/"
ORIGIN_ID: Final = "renditions"
# Viewers on TLS 1.2 or later with a custom certificate (the default certificate of
# *.cloudfront.net only offers TLSv1, which CloudFront fixes for it).
MINIMUM_PROTOCOL_VERSION: Final = "TLSv1.2_2021"


@dataclass(frozen=True)
class Delivery:
    # None with `cdn: false`.
    distribution: aws.cloudfront.Distribution | None
    origin_access_control: aws.cloudfront.OriginAccessControl | None
    # The renditions bucket's one policy (TLS-only deny, plus the distribution's read).
    bucket_policy: aws.s3.BucketPolicy
    # "d111111abcdef8.cloudfront.net"; None without a CDN.
    domain: pulumi.Output[str] | None
    # Where rendition keys are served from, without a trailing slash: the first alias
    # or the distribution's domain; `renditionsBaseUrl` from config wins (the local
    # stack's HTTP server). None without a CDN and without that config.
    base_url: pulumi.Output[str] | None


def cloudfront_read(bucket_arn: Any, distribution_arn: Any) -> dict[str, Any]:
    """Statement: CloudFront may read objects, only on behalf of this distribution.

    Only s3:GetObject: without s3:ListBucket a missing key answers 403, never a listing.
    """
    return {
        "Sid": "AllowCloudFrontRead",
        "Effect": "Allow",
        "Principal": {"Service": "cloudfront.amazonaws.com"},
        "Action": "s3:GetObject",
        "Resource": pulumi.Output.concat(bucket_arn, "/*"),
        "Condition": {"StringEquals": {"AWS:SourceArn": distribution_arn}},
    }


def renditions_policy_document(bucket_arn: Any, distribution_arn: Any | None) -> dict[str, Any]:
    """The renditions bucket's policy: the TLS-only deny, and the distribution's read."""
    document = storage.deny_insecure_transport(bucket_arn)
    if distribution_arn is not None:
        document["Statement"].append(cloudfront_read(bucket_arn, distribution_arn))
    return document


def _viewer_certificate(settings: Settings) -> aws.cloudfront.DistributionViewerCertificateArgs:
    if not settings.cdn_certificate_arn:
        return aws.cloudfront.DistributionViewerCertificateArgs(cloudfront_default_certificate=True)
    # An ACM certificate (in us-east-1, checked by settings) for the aliases; SNI only,
    # as dedicated-IP custom SSL is billed monthly.
    # https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/cnames-and-https-requirements.html
    return aws.cloudfront.DistributionViewerCertificateArgs(
        acm_certificate_arn=settings.cdn_certificate_arn,
        ssl_support_method="sni-only",
        minimum_protocol_version=MINIMUM_PROTOCOL_VERSION,
    )


def _distribution(
    name: str,
    settings: Settings,
    bucket: aws.s3.Bucket,
    oac: aws.cloudfront.OriginAccessControl,
    parent: pulumi.Resource,
) -> aws.cloudfront.Distribution:
    manifests = aws.cloudfront.DistributionOrderedCacheBehaviorArgs(
        path_pattern=f"{MANIFEST_PREFIX}*",
        target_origin_id=ORIGIN_ID,
        allowed_methods=["GET", "HEAD"],
        cached_methods=["GET", "HEAD"],
        viewer_protocol_policy="redirect-to-https",
        cache_policy_id=CACHING_OPTIMIZED,
        response_headers_policy_id=SECURITY_HEADERS,
        compress=True,  # JSON shrinks several times over
    )
    return aws.cloudfront.Distribution(
        f"{name}-cdn",
        aws.cloudfront.DistributionArgs(
            comment=f"{name}: renditions",
            enabled=True,
            # HTTP/3 (QUIC) for viewers that speak it, HTTP/2 otherwise.
            http_version="http2and3",
            is_ipv6_enabled=True,
            price_class=settings.cdn_price_class,
            aliases=list(settings.cdn_aliases) or None,
            origins=[
                aws.cloudfront.DistributionOriginArgs(
                    origin_id=ORIGIN_ID,
                    # The regional endpoint: the global one redirects for new buckets
                    # outside us-east-1 until DNS catches up.
                    domain_name=bucket.bucket_regional_domain_name,
                    origin_access_control_id=oac.id,
                )
            ],
            default_cache_behavior=aws.cloudfront.DistributionDefaultCacheBehaviorArgs(
                target_origin_id=ORIGIN_ID,
                allowed_methods=["GET", "HEAD"],
                cached_methods=["GET", "HEAD"],
                viewer_protocol_policy="redirect-to-https",
                cache_policy_id=CACHING_OPTIMIZED_UNCOMPRESSED,
                response_headers_policy_id=SECURITY_HEADERS,
                compress=False,  # images are compressed already
            ),
            ordered_cache_behaviors=[manifests],
            restrictions=aws.cloudfront.DistributionRestrictionsArgs(
                geo_restriction=aws.cloudfront.DistributionRestrictionsGeoRestrictionArgs(
                    restriction_type="none"
                )
            ),
            viewer_certificate=_viewer_certificate(settings),
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def create_delivery(
    name: str,
    settings: Settings,
    buckets: storage.Buckets,
    parent: pulumi.Resource,
) -> Delivery:
    bucket = buckets.destination
    distribution: aws.cloudfront.Distribution | None = None
    oac: aws.cloudfront.OriginAccessControl | None = None
    domain: pulumi.Output[str] | None = None
    if settings.cdn:
        oac = aws.cloudfront.OriginAccessControl(
            f"{name}-renditions-oac",
            aws.cloudfront.OriginAccessControlArgs(
                name=f"{name}-renditions",
                description="CloudFront reads the renditions bucket, signed with SigV4",
                origin_access_control_origin_type="s3",
                signing_behavior="always",
                signing_protocol="sigv4",
            ),
            opts=pulumi.ResourceOptions(parent=parent),
        )
        distribution = _distribution(name, settings, bucket, oac, parent)
        domain = distribution.domain_name
    policy = aws.s3.BucketPolicy(
        # The name the bucket's TLS-only policy always had: an update, not a replacement.
        f"{name}-renditions-policy",
        aws.s3.BucketPolicyArgs(
            bucket=bucket.id,
            policy=pulumi.Output.json_dumps(
                renditions_policy_document(
                    bucket.arn, distribution.arn if distribution is not None else None
                )
            ),
        ),
        # S3 refuses a bucket policy while Block Public Access is being set up.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[buckets.destination_access_block]),
    )
    return Delivery(
        distribution=distribution,
        origin_access_control=oac,
        bucket_policy=policy,
        domain=domain,
        base_url=base_url(settings, domain),
    )


def base_url(settings: Settings, domain: pulumi.Output[str] | None) -> pulumi.Output[str] | None:
    """Where renditions are served: config's renditionsBaseUrl, else https:// and the
    first alias, else the distribution's own domain."""
    if settings.renditions_base_url:
        return pulumi.Output.from_input(settings.renditions_base_url)
    if domain is None:
        return None
    if settings.cdn_aliases:
        return pulumi.Output.from_input(f"https://{settings.cdn_aliases[0]}")
    return pulumi.Output.concat("https://", domain)
