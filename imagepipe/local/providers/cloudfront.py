"""CloudFront: origin access controls and distributions.

The distribution is created in moto from the program's inputs (origins with their origin
access control, cache behaviors with their managed policy IDs, viewer certificate,
aliases, price class, HTTP version), so later resources get its real ID, ARN and domain.
moto serves nothing at that domain: the local stack's delivery server
(imagepipe/local/delivery.py) serves the renditions bucket at the same paths instead.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any, Final

from imagepipe.local.providers import base
from imagepipe.local.providers.base import Context, Handler, Inputs, Outputs

# Route 53's hosted zone for every *.cloudfront.net alias target.
CLOUDFRONT_ZONE_ID: Final = "Z2FDTNDATAQYW2"


def _items(values: Sequence[Any] | None) -> dict[str, Any]:
    """CloudFront's list shape: {"Quantity": n, "Items": [...]}."""
    listed = list(values or [])
    return {"Quantity": len(listed), "Items": listed} if listed else {"Quantity": 0}


def _origin_access_control(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    response = ctx.clients.client("cloudfront").create_origin_access_control(
        OriginAccessControlConfig={
            "Name": base.physical_name(logical, inputs),
            "Description": inputs.get("description") or "",
            "SigningProtocol": inputs["signingProtocol"],
            "SigningBehavior": inputs["signingBehavior"],
            "OriginAccessControlOriginType": inputs["originAccessControlOriginType"],
        }
    )
    oac_id = response["OriginAccessControl"]["Id"]
    arn = f"arn:aws:cloudfront::{ctx.account_id}:origin-access-control/{oac_id}"
    return oac_id, {"etag": response.get("ETag", ""), "arn": arn}


def _behavior(inputs: Mapping[str, Any]) -> dict[str, Any]:
    policies = ("cachePolicyId", "responseHeadersPolicyId", "originRequestPolicyId")
    return {
        "TargetOriginId": inputs["targetOriginId"],
        "ViewerProtocolPolicy": inputs["viewerProtocolPolicy"],
        "AllowedMethods": {
            **_items(inputs.get("allowedMethods")),
            "CachedMethods": _items(inputs.get("cachedMethods")),
        },
        "Compress": bool(inputs.get("compress")),
        **base.given(inputs, "pathPattern", *policies),
    }


def _origin(inputs: Mapping[str, Any]) -> dict[str, Any]:
    origin: dict[str, Any] = {
        "Id": inputs["originId"],
        "DomainName": inputs["domainName"],
        **base.given(inputs, "originAccessControlId", "originPath"),
    }
    if inputs.get("originAccessControlId"):
        # With an origin access control, the S3 origin config names no identity.
        origin["S3OriginConfig"] = {"OriginAccessIdentity": ""}
    return origin


def _viewer_certificate(inputs: Mapping[str, Any]) -> dict[str, Any]:
    if inputs.get("acmCertificateArn"):
        return {
            "ACMCertificateArn": inputs["acmCertificateArn"],
            "SSLSupportMethod": inputs.get("sslSupportMethod") or "sni-only",
            "MinimumProtocolVersion": inputs.get("minimumProtocolVersion") or "TLSv1.2_2021",
        }
    return {"CloudFrontDefaultCertificate": True}


def _distribution(ctx: Context, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
    geo = (inputs.get("restrictions") or {}).get("geoRestriction") or {}
    config: dict[str, Any] = {
        "CallerReference": f"{logical}-{secrets.token_hex(4)}",
        "Aliases": _items(inputs.get("aliases")),
        "Origins": _items([_origin(o) for o in inputs["origins"]]),
        "DefaultCacheBehavior": _behavior(inputs["defaultCacheBehavior"]),
        "CacheBehaviors": _items([_behavior(b) for b in inputs.get("orderedCacheBehaviors") or []]),
        "Comment": inputs.get("comment") or "",
        "Enabled": bool(inputs["enabled"]),
        "PriceClass": inputs.get("priceClass") or "PriceClass_All",
        "HttpVersion": inputs.get("httpVersion") or "http2",
        "IsIPV6Enabled": bool(inputs.get("isIpv6Enabled")),
        "ViewerCertificate": _viewer_certificate(inputs.get("viewerCertificate") or {}),
        "Restrictions": {
            "GeoRestriction": {
                "RestrictionType": geo.get("restrictionType", "none"),
                **_items(geo.get("locations")),
            }
        },
    }
    response = ctx.clients.client("cloudfront").create_distribution(DistributionConfig=config)
    distribution = response["Distribution"]
    return distribution["Id"], {
        "arn": distribution["ARN"],
        "domainName": distribution["DomainName"],
        "etag": response.get("ETag", ""),
        "status": distribution.get("Status", "Deployed"),
        "hostedZoneId": CLOUDFRONT_ZONE_ID,
        "callerReference": config["CallerReference"],
    }


RESOURCES: Final[dict[str, Handler]] = {
    "aws:cloudfront/originAccessControl:OriginAccessControl": _origin_access_control,
    "aws:cloudfront/distribution:Distribution": _distribution,
}
