"""The local stack: the Pulumi program deployed on moto.

`deploy_local("dev")` starts moto in this process (or uses a moto server, for `serve`),
runs the real Pulumi program against it (imagepipe.local.program and .providers) and
returns a `LocalStack`: the stack's outputs, its `Target` (what the `imagepipe` commands
use) and the local stand-ins (pipe pollers, CDN, upload API). Local only, not in the
program: an SQS queue subscribed to the topic, so people (and tests/support/drive.py) can
see what subscribers get. moto is process-global: one in-process LocalStack at a time
(close it before the next). Tests drive it with tests/support/drive.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, ExitStack
from typing import Any, Final

from imagepipe.local import lambda_runtime, moto_patches
from imagepipe.local.clients import emulator
from imagepipe.local.delivery import DeliveryServer
from imagepipe.local.pipe import PipePoller, pipe_configs
from imagepipe.local.program import run_program, settings_for, stack_config
from imagepipe.local.providers import CreatedResource, MotoMocks
from imagepipe.local.upload_api import LocalUploadApi
from imagepipe.target import Target
from infra.packaging import placeholder_layer

# moto runs state machines (its Step Functions interpreter) only when asked to.
MOTO_CONFIG: Final[dict[str, Any]] = {"stepfunctions": {"execute_state_machine": True}}


class LocalStack(AbstractContextManager["LocalStack"]):
    """A deployed local stack: its Target (outputs, settings, clients), resources, and the
    local stand-ins for what moto does not run; closed at the end of a `with` block."""

    def __init__(
        self,
        clients: Target,
        resources: list[CreatedResource],
        undo: ExitStack,
        delivery: DeliveryServer | None = None,
        upload_api: LocalUploadApi | None = None,
    ) -> None:
        # This stack as the `imagepipe` commands see any stack (in-process moto, or the
        # server `serve` runs).
        self.clients = clients
        self.stack, self.settings, self.outputs = clients.stack, clients.settings, clients.outputs
        self.resources = resources
        self._undo = undo  # stops the stand-ins and, in-process, moto
        # The CDN's stand-in, serving the renditions at outputs["renditionsBaseUrl"].
        self.delivery = delivery
        # The upload API's stand-in for API Gateway, at outputs["uploadApiUrl"], with its
        # test issuer (imagepipe/local/upload_api.py).
        self.upload_api = upload_api
        self.source_bucket: str = self.outputs["sourceBucket"]
        self.destination_bucket: str = self.outputs["destinationBucket"]
        self.backup_bucket: str = self.outputs["backupBucket"]
        self.state_machine_arn: str = self.outputs["stateMachineArn"]
        self.dead_letter_queue_url: str = self.outputs["deadLetterQueueUrl"]
        self.pollers = [PipePoller(clients, config) for config in pipe_configs(clients)]
        uploads = [p for p in self.pollers if p.config.target_arn == self.state_machine_arn]
        if not uploads:
            raise RuntimeError("the program created no SQS pipe to the upload state machine")
        self.ingest_queue_url: str = uploads[0].queue_url
        self.notifications_queue_url = self._subscribe_capture_queue()

    # -- setup and teardown --------------------------------------------------------

    def _subscribe_capture_queue(self) -> str:
        """Local only: an SQS subscriber on the topic, to see the notifications."""
        sqs, sns = self.clients.client("sqs"), self.clients.client("sns")
        name = f"imagepipe-{self.stack}-local-notifications"
        url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        arn = attributes["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=self.outputs["topicArn"], Protocol="sqs", Endpoint=arn)
        return url

    def close(self) -> None:
        """Stop the pipe pollers and, in-process, moto (its data is gone afterwards)."""
        for poller in self.pollers:
            poller.stop()
        self._undo.close()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- using it ------------------------------------------------------------------

    def upload_key(self, name: str) -> str:
        """The object key for a file name under the stack's upload prefix."""
        return f"{self.settings.upload_prefix}{name}"

    def queue_depth(self, queue_url: str) -> int:
        """Messages in a queue, visible or in flight."""
        attributes = self.clients.client("sqs").get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(count) for count in attributes.values())


def _stand_ins(
    stack: str, config: Mapping[str, Any], delivery_port: int, undo: ExitStack
) -> tuple[dict[str, Any], LocalUploadApi | None, DeliveryServer | None]:
    """The config the local stack deploys with, and the stand-ins it names, started (and
    stopped by `undo`): the upload API's endpoint (unless `config` says `uploadApi`) and,
    with a CDN, the server that is the stack's renditionsBaseUrl."""
    # The functions run on this machine's Python and Pillow and never load the layer: a
    # placeholder spares downloading Lambda-platform wheels (infra/packaging.py).
    overrides = {"layerArchive": str(placeholder_layer().path), **config}
    api = None if "uploadApi" in config else LocalUploadApi()
    if api is not None:
        undo.callback(api.close)
        overrides = {**api.config(), **overrides}
    delivery = None
    if settings_for(stack_config(stack, overrides)).cdn:
        delivery = DeliveryServer(delivery_port)
        undo.callback(delivery.close)
        overrides = {"renditionsBaseUrl": delivery.base_url, **overrides}
    return overrides, api, delivery


def deploy_local(
    stack: str = "dev",
    *,
    config: Mapping[str, Any] | None = None,
    endpoint: str | None = None,
    delivery_port: int = 0,
) -> LocalStack:
    """Deploy the Pulumi program's stack `stack` on moto and return a handle on it.

    `config` overrides stack config values for this deployment, like `pulumi config set`
    (e.g. `{"deleteDerivatives": True}`). Without `endpoint`, moto runs in this process
    (`mock_aws`, started here and stopped by `LocalStack.close`). With `endpoint` (a moto
    server's URL, see `imagepipe.local.serve`), the server must already run with
    state machine execution on. With a CDN (config `cdn`), the renditions are served on
    127.0.0.1:`delivery_port` (any free port for 0), which is the stack's renditionsBaseUrl.
    The upload API is on (unless `config` says `uploadApi`) with a local test issuer,
    served on 127.0.0.1 (a free port): the stack's uploadApiUrl.
    """
    undo = ExitStack()  # what is started here: stopped by LocalStack.close, or on failure
    try:
        if endpoint is None:
            from moto import mock_aws

            # First in, so last out: the stand-ins stop while moto still answers them
            # (the in-process clients name no endpoint: without moto they reach AWS).
            config_arg: Any = MOTO_CONFIG
            undo.enter_context(mock_aws(config=config_arg))
            undo.callback(lambda_runtime.uninstall)
        overrides, api, delivery = _stand_ins(stack, config or {}, delivery_port, undo)
        config_text = stack_config(stack, overrides)
        region = config_text.get("aws:region", "us-east-1")
        target = emulator(region, endpoint, stack=stack, settings=settings_for(config_text))
        moto_patches.install()
        lambda_runtime.install()
        mocks = MotoMocks(target)
        target.outputs.update(run_program(mocks, stack, config_text))
        if delivery is not None:
            delivery.bind(target, mocks.created, mocks.account_id)
        upload_api = api.bind(target, mocks.created, mocks.account_id) if api else None
        return LocalStack(target, mocks.created, undo, delivery, upload_api)
    except BaseException:
        undo.close()
        raise
