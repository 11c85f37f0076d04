"""What each role may do where AWS's own semantics depend on it: S3 existence checks,
the Distributed Map's ItemReader, ResultWriter and child executions."""

from __future__ import annotations

from tests.infra.conftest import Deployed
from tests.infra.test_program import BUCKET, _grants, role_policies, statements


def test_inspect_may_list_the_renditions_bucket_so_a_missing_rendition_is_a_404(
    deployed: Deployed,
) -> None:
    """HeadObject on a missing key answers 403, not 404, without s3:ListBucket on the
    bucket; --only-missing would then dead-letter every object lacking a rendition."""
    policies = role_policies(deployed)
    renditions = deployed.one(BUCKET, "-renditions").outputs["arn"]
    assert _grants(policies["imagepipe-dev-inspect-role"], "s3:ListBucket") == [renditions]
    # The bucket ARN itself (ListBucket is a bucket action), with no condition: a HEAD
    # request carries no s3:prefix for a condition to test.
    [listing] = [
        s
        for s in statements(policies["imagepipe-dev-inspect-role"])
        if "s3:ListBucket" in s["Action"]
    ]
    assert "Condition" not in listing
    # Nobody else lists the renditions bucket.
    for role, doc in policies.items():
        if role != "imagepipe-dev-inspect-role":
            assert renditions not in _grants(doc, "s3:ListBucket"), role
