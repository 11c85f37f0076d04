"""The ImagePipeline component: one upload in, renditions and a notification out."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import pulumi
import pulumi_aws as aws

from infra.alarms import create_alarms
from infra.delivery import create_delivery
from infra.functions import create_functions
from infra.messaging import create_messaging
from infra.packaging import Artifact
from infra.settings import Settings
from infra.storage import create_buckets
from infra.upload_api import create_upload_api
from infra.workflow import create_workflow

TYPE_TOKEN = "imagepipeline:index:ImagePipeline"  # noqa: S105 (a type token, not a secret)
# The component's outputs, registered by these attribute names.
OUTPUTS = (
    "source_bucket", "destination_bucket", "backup_bucket", "state_machine_arn",
    "backfill_state_machine_arn", "removal_state_machine_arn", "executions_console_url",
    "dead_letter_queue_url", "topic_arn", "catalogue_table", "upload_command", "cdn_domain",
    "renditions_base_url", "upload_api_url",
)  # fmt: skip


@dataclass(frozen=True)
class ImagePipelineArgs:
    """What the component needs: validated settings (see infra.settings), and optionally
    prebuilt Lambda artifacts to deploy instead of building them (a prebuilt layer is
    still checked against the runtime's glibc)."""

    settings: Settings
    function_code: Artifact | None = None
    layer: Artifact | None = None


class ImagePipeline(pulumi.ComponentResource):
    """S3 upload -> SQS -> EventBridge Pipe -> Step Functions -> Lambda renditions -> SNS."""

    source_bucket: pulumi.Output[str]
    destination_bucket: pulumi.Output[str]
    backup_bucket: pulumi.Output[str]
    state_machine_arn: pulumi.Output[str]
    backfill_state_machine_arn: pulumi.Output[str]
    removal_state_machine_arn: pulumi.Output[str] | None
    executions_console_url: pulumi.Output[str]
    dead_letter_queue_url: pulumi.Output[str]
    topic_arn: pulumi.Output[str]
    catalogue_table: pulumi.Output[str]
    upload_command: pulumi.Output[str]
    # None with `cdn: false` (and for the base URL, without renditionsBaseUrl).
    cdn_domain: pulumi.Output[str] | None
    renditions_base_url: pulumi.Output[str] | None
    # None without `uploadApi`.
    upload_api_url: pulumi.Output[str] | None

    def __init__(
        self, name: str, args: ImagePipelineArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        settings = args.settings
        account_id = aws.get_caller_identity_output(
            opts=pulumi.InvokeOutputOptions(parent=self)
        ).account_id
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region

        buckets = create_buckets(name, settings, self)
        # The distribution, and after it the renditions bucket's one policy.
        delivery = create_delivery(name, settings, buckets, self)
        messaging = create_messaging(name, settings, buckets, account_id, self)
        functions = create_functions(
            name, settings, buckets, account_id, self,
            code=args.function_code, layer_zip=args.layer, base_url=delivery.base_url,
        )  # fmt: skip
        workflow = create_workflow(
            name, settings, buckets, messaging, functions, account_id, region, self,
            delivery.distribution,
        )  # fmt: skip
        create_alarms(name, messaging, workflow, self)
        upload_api = create_upload_api(
            name, settings, buckets, functions.maker, account_id, region, self
        )

        self.source_bucket = buckets.source.bucket
        self.destination_bucket = buckets.destination.bucket
        self.backup_bucket = buckets.backup.bucket
        self.state_machine_arn = workflow.state_machine.arn
        self.backfill_state_machine_arn = workflow.backfill.arn
        self.removal_state_machine_arn = workflow.removal.arn if workflow.removal else None
        self.executions_console_url = pulumi.Output.all(region, workflow.state_machine.arn).apply(
            lambda v: (
                f"https://{v[0]}.console.aws.amazon.com/states/home?region={v[0]}"
                f"#/statemachines/view/{quote(v[1], safe='')}"
            )
        )
        self.dead_letter_queue_url = messaging.dead_letter_queue.url
        self.topic_arn = messaging.topic.arn
        self.catalogue_table = workflow.catalogue.table.name
        self.cdn_domain, self.renditions_base_url = delivery.domain, delivery.base_url
        self.upload_api_url = upload_api.url if upload_api is not None else None
        self.upload_command = buckets.source.bucket.apply(
            lambda b: f"aws s3 cp ./photo.jpg s3://{b}/{settings.upload_prefix}photo.jpg"
        )
        self.register_outputs({key: getattr(self, key) for key in OUTPUTS})
