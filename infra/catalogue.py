"""DynamoDB: the catalogue, one record per original (partition key: its S3 key).

Written by the state machines through Step Functions' DynamoDB integration (no Lambda
for plain writes); read by `imagepipe show` and `imagepipe catalogue`. A global secondary
index on the content hash, sorted by when each original was received, finds the earliest
original with identical bytes (one item read, however many copies there are).

- On demand: uploads are bursty, and an idle stack then costs nothing but storage.
- Encrypted at rest with the AWS managed key (`aws/dynamodb`): DynamoDB always encrypts,
  and `server_side_encryption.enabled` makes it a KMS key that CloudTrail shows in use
  and the policy pack can require; callers need no KMS grant for an AWS managed key.
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/EncryptionAtRest.html
- Point-in-time recovery: a bad deploy or a stray script can be undone to the second.
- Deletion protection off: dev stacks must destroy cleanly, and a deleted table with
  PITR leaves a restorable system backup (35 days), per
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/PointInTimeRecovery_Howitworks.html
  The records are about objects the buckets keep (they refuse to be destroyed non-empty);
  a production stack that wants more can protect the resource in its own options.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import pulumi
import pulumi_aws as aws

PARTITION_KEY: Final = "key"
CONTENT_HASH_INDEX: Final = "contentHash"
# The index's sort key: the earliest original with some bytes is the first item.
CONTENT_HASH_INDEX_SORT_KEY: Final = "receivedAt"
# The index carries the status too, so "an earlier processed original with these bytes"
# is answered from the index alone.
CONTENT_HASH_INDEX_ATTRIBUTES: Final = ("status",)
STATUSES: Final = ("processing", "processed", "rejected", "failed", "deleted")


@dataclass(frozen=True)
class Catalogue:
    table: aws.dynamodb.Table

    @property
    def index_arn(self) -> pulumi.Output[str]:
        """The content-hash index's ARN (what IAM names for a Query on it)."""
        return pulumi.Output.concat(self.table.arn, "/index/", CONTENT_HASH_INDEX)


def create_catalogue(name: str, parent: pulumi.Resource) -> Catalogue:
    table = aws.dynamodb.Table(
        f"{name}-catalogue",
        aws.dynamodb.TableArgs(
            billing_mode="PAY_PER_REQUEST",
            hash_key=PARTITION_KEY,
            attributes=[
                aws.dynamodb.TableAttributeArgs(name=PARTITION_KEY, type="S"),
                aws.dynamodb.TableAttributeArgs(name="contentHash", type="S"),
                aws.dynamodb.TableAttributeArgs(name=CONTENT_HASH_INDEX_SORT_KEY, type="S"),
            ],
            global_secondary_indexes=[
                aws.dynamodb.TableGlobalSecondaryIndexArgs(
                    name=CONTENT_HASH_INDEX,
                    hash_key="contentHash",
                    # Changing an index's keys deletes and recreates the index in place
                    # (UpdateTable), the table and its records stay.
                    range_key=CONTENT_HASH_INDEX_SORT_KEY,
                    projection_type="INCLUDE",
                    non_key_attributes=list(CONTENT_HASH_INDEX_ATTRIBUTES),
                )
            ],
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            deletion_protection_enabled=False,
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return Catalogue(table=table)
