"""The local stack: the Pulumi program deployed on moto, and helpers to drive and inspect it.

`deploy_local("dev")` starts moto in this process (or uses a moto server, for `serve`),
runs the real Pulumi program against it (imagepipe.local.program and .providers) and
returns a `LocalStack`: the stack's outputs plus what a person would do with the AWS
console and CLI. Local only, not in the program: an SQS queue subscribed to the topic, so
`notifications()` can show what subscribers get. moto is process-global: one in-process
LocalStack at a time (close it before the next).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from imagepipe.executions import ExecutionInfo, describe, describe_many, history
from imagepipe.local import lambda_runtime, moto_patches
from imagepipe.local.clients import FAKE_CREDENTIALS, Clients
from imagepipe.local.delivery import DeliveryServer, Origin
from imagepipe.local.pipe import PipePoller, PollResult, pipe_configs
from imagepipe.local.program import run_program, settings_for, stack_config
from imagepipe.local.providers import CreatedResource, MotoMocks
from imagepipe.local.upload_api import LocalEndpoint, LocalUploadApi
from imagepipe.messages import DeadLetter as DeadLetter  # re-exported for the demo
from imagepipe.messages import parse_json
from imagepipe.target import Target
from infra.packaging import placeholder_layer
from infra.settings import Settings

# moto runs state machines (its Step Functions interpreter) only when asked to.
MOTO_CONFIG: Final[dict[str, Any]] = {"stepfunctions": {"execute_state_machine": True}}


class PumpTimeoutError(TimeoutError):
    """Executions were still running when `pump` gave up."""


@dataclass(frozen=True)
class Notification:
    """One message published to the notification topic, as an SQS subscriber gets it."""

    subject: str | None
    message: Any  # the parsed JSON summary
    attributes: dict[str, str]


class LocalStack:
    """A deployed local stack: outputs, resources, and helpers to use it."""

    def __init__(
        self,
        *,
        stack: str,
        settings: Settings,
        clients: Clients,
        outputs: dict[str, Any],
        resources: list[CreatedResource],
        definition_changes: dict[str, list[str]] | None = None,
        mock: Any = None,
        delivery: DeliveryServer | None = None,
        upload_api: LocalUploadApi | None = None,
    ) -> None:
        self.stack = stack
        self.settings = settings
        self.clients = clients
        self.outputs = outputs
        self.resources = resources
        # Local-only changes moto needed in state machine definitions
        # (moto_patches.moto_compatible).
        self.definition_changes = definition_changes or {}
        self._mock = mock
        # The CDN's stand-in, serving the renditions at outputs["renditionsBaseUrl"].
        self.delivery = delivery
        # The upload API's stand-in for API Gateway, at outputs["uploadApiUrl"], with its
        # test issuer (imagepipe/local/upload_api.py).
        self.upload_api = upload_api
        self.source_bucket: str = outputs["sourceBucket"]
        self.destination_bucket: str = outputs["destinationBucket"]
        self.backup_bucket: str = outputs["backupBucket"]
        self.state_machine_arn: str = outputs["stateMachineArn"]
        self.dead_letter_queue_url: str = outputs["deadLetterQueueUrl"]
        self.topic_arn: str = outputs["topicArn"]
        self.pollers = [PipePoller(clients, config) for config in pipe_configs(clients)]
        uploads = [p for p in self.pollers if p.config.target_arn == self.state_machine_arn]
        if not uploads:
            raise RuntimeError("the program created no SQS pipe to the upload state machine")
        self.ingest_queue_url: str = uploads[0].queue_url
        self.notifications_queue_url = self._subscribe_capture_queue()
        self._dead_letters: list[DeadLetter] = []
        self._notifications: list[Notification] = []

    # -- setup and teardown --------------------------------------------------------

    def _subscribe_capture_queue(self) -> str:
        """Local only: an SQS subscriber on the topic, to see the notifications."""
        sqs, sns = self.clients.client("sqs"), self.clients.client("sns")
        url: str = sqs.create_queue(QueueName=f"imagepipe-{self.stack}-local-notifications")[
            "QueueUrl"
        ]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=arn)
        return url

    def close(self) -> None:
        """Stop the pipe pollers and, in-process, moto (its data is gone afterwards)."""
        for poller in self.pollers:
            poller.stop()
        if self.delivery is not None:
            self.delivery.stop()
        if self.upload_api is not None:
            self.upload_api.close()
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
            lambda_runtime.uninstall()

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- using it ------------------------------------------------------------------

    def upload_key(self, name: str) -> str:
        """The object key for a file name under the stack's upload prefix."""
        return f"{self.settings.upload_prefix}{name}"

    def upload(self, data: bytes | Path | str, key: str, *, bucket: str | None = None) -> str:
        """PutObject `data` (bytes, or a file path) at `key` in the source bucket (or `bucket`)."""
        body = data if isinstance(data, bytes) else Path(data).read_bytes()
        self.clients.client("s3").put_object(
            Bucket=bucket or self.source_bucket, Key=key, Body=body
        )
        return key

    def function_name(self, kind: str) -> str:
        """The deployed name of the `kind` ("inspect", "resize") function."""
        handler = f"imagefn.{kind}_handler.handler"
        paginator = self.clients.client("lambda").get_paginator("list_functions")
        for page in paginator.paginate():
            for function in page["Functions"]:
                if function.get("Handler") == handler:
                    return str(function["FunctionName"])
        raise KeyError(f"no function with handler {handler}")

    def poll(self) -> PollResult:
        """Run the pipe until the ingest queue is empty (without waiting for executions)."""
        total = PollResult()
        for poller in self.pollers:
            result = poller.drain()
            total.started += result.started
            total.filtered += result.filtered
            total.failed += result.failed
        return total

    def running(self) -> list[str]:
        """Running executions of every state machine (pipes may target several)."""
        sfn = self.clients.client("stepfunctions")
        arns: list[str] = []
        for machines in sfn.get_paginator("list_state_machines").paginate():
            for machine in machines["stateMachines"]:
                for page in sfn.get_paginator("list_executions").paginate(
                    stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING"
                ):
                    arns += [e["executionArn"] for e in page["executions"]]
        return arns

    def wait(self, timeout: float = 120.0) -> None:
        """Wait until no execution is running (moto runs each in its own thread)."""
        deadline = time.monotonic() + timeout
        while self.running():
            if time.monotonic() > deadline:
                raise PumpTimeoutError(f"executions still running after {timeout:.0f}s")
            time.sleep(0.05)

    def pump(self, timeout: float = 120.0) -> list[str]:
        """Poll the pipe and wait for the executions, until nothing new happens.

        Returns the ARNs of the executions started.
        """
        deadline = time.monotonic() + timeout
        started: list[str] = []
        while True:
            result = self.poll()
            started += result.started
            self.wait(max(0.0, deadline - time.monotonic()))
            if not (result.started or result.filtered):
                return started

    def describe(self, arn: str) -> ExecutionInfo:
        """The execution as the CLI models it (one model of an execution everywhere)."""
        return describe(self.clients, arn)

    def target(self) -> Target:
        """This stack as the `imagepipe` commands see any stack: outputs, settings and
        clients (in-process moto, or the server `serve` runs)."""
        return Target(
            stack=self.stack,
            local=True,
            region=self.clients.region,
            outputs=dict(self.outputs),
            settings=self.settings,
            endpoint=self.clients.endpoint_url,
            credentials=dict(FAKE_CREDENTIALS),
        )

    def state_machine_arn_of(self, kind: str) -> str:
        """The ARN of the `kind` ("backfill", "removal") state machine, from the stack's
        outputs (KeyError when the stack has none, e.g. removal without deleteDerivatives)."""
        arn = self.outputs.get(f"{kind}StateMachineArn")
        if not arn:
            raise KeyError(f"no {kind} state machine")
        return str(arn)

    def executions(self) -> list[ExecutionInfo]:
        """Every execution of the upload state machine (stateMachineArn), oldest first."""
        sfn = self.clients.client("stepfunctions")
        arns: list[str] = []
        for page in sfn.get_paginator("list_executions").paginate(
            stateMachineArn=self.state_machine_arn
        ):
            arns += [e["executionArn"] for e in page["executions"]]
        return sorted(describe_many(self.clients, arns), key=lambda e: e.started)

    def history(self, arn: str) -> list[dict[str, Any]]:
        """GetExecutionHistory's events, oldest first."""
        return history(self.clients, arn)

    def _drain(self, queue_url: str) -> list[str]:
        sqs = self.clients.client("sqs")
        bodies: list[str] = []
        while True:
            messages = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(message["Body"])
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    def dlq_messages(self) -> list[DeadLetter]:
        """Every dead-letter message so far. They are moved out of the queue into this
        handle (received and deleted), so each call returns all seen, not only new ones."""
        self._dead_letters += [
            DeadLetter(parse_json(b)) for b in self._drain(self.dead_letter_queue_url)
        ]
        return list(self._dead_letters)

    def notifications(self) -> list[Notification]:
        """Every notification published so far (captured by the local subscriber queue)."""
        for body in self._drain(self.notifications_queue_url):
            envelope = parse_json(body)
            self._notifications.append(
                Notification(
                    subject=envelope.get("Subject"),
                    message=parse_json(envelope.get("Message")),
                    attributes={
                        k: v.get("Value", "")
                        for k, v in (envelope.get("MessageAttributes") or {}).items()
                    },
                )
            )
        return list(self._notifications)

    def queue_depth(self, queue_url: str) -> int:
        """Messages in a queue, visible or in flight."""
        attributes = self.clients.client("sqs").get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def objects(self, bucket: str, prefix: str = "") -> dict[str, dict[str, Any]]:
        """Key -> ListObjectsV2 entry for every object under `prefix`."""
        paginator = self.clients.client("s3").get_paginator("list_objects_v2")
        found: dict[str, dict[str, Any]] = {}
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                found[item["Key"]] = item
        return found

    def read(self, bucket: str, key: str) -> bytes:
        body: bytes = self.clients.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        return body

    def download_renditions(self, out_dir: Path | str) -> list[Path]:
        """Copy every rendition to `out_dir/<key>`; returns the files written."""
        out = Path(out_dir)
        written: list[Path] = []
        for key in sorted(self.objects(self.destination_bucket)):
            target = out / key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.read(self.destination_bucket, key))
            written.append(target)
        return written


def deploy_local(
    stack: str = "dev",
    *,
    config: Mapping[str, Any] | None = None,
    clients: Clients | None = None,
    delivery_port: int = 0,
    upload_api_port: int = 0,
) -> LocalStack:
    """Deploy the Pulumi program's stack `stack` on moto and return a handle on it.

    `config` overrides stack config values for this deployment, like `pulumi config set`
    (e.g. `{"deleteDerivatives": True}`). Without `clients`, moto runs in this process
    (`mock_aws`, started here and stopped by `LocalStack.close`). With `clients` (pointing
    at a moto server, see `imagepipe.local.serve`), the server must already run with
    state machine execution on. With a CDN (config `cdn`), the renditions are served on
    127.0.0.1:`delivery_port` (any free port for 0), which is the stack's renditionsBaseUrl.
    The upload API is on (unless `config` says `uploadApi`) with a local test issuer,
    served on 127.0.0.1:`upload_api_port`: the stack's uploadApiUrl.
    """
    # The functions run on this machine's Python and Pillow and never load the layer: a
    # placeholder spares downloading Lambda-platform wheels (infra/packaging.py).
    overrides = {"layerArchive": str(placeholder_layer().path), **(config or {})}
    endpoint = None if "uploadApi" in (config or {}) else LocalEndpoint.start(upload_api_port)
    if endpoint is not None:
        overrides = {**endpoint.config(), **overrides}
    delivery = None
    if settings_for(stack_config(stack, overrides)).cdn:
        delivery = DeliveryServer(port=delivery_port).start()
        overrides = {"renditionsBaseUrl": delivery.base_url, **overrides}
    config_text = stack_config(stack, overrides)
    region = config_text.get("aws:region", "us-east-1")
    mock = None
    if clients is None:
        from moto import mock_aws

        config_arg: Any = MOTO_CONFIG
        mock = mock_aws(config=config_arg)
        mock.start()
        clients = Clients(region=region)
    moto_patches.install()
    lambda_runtime.install()
    try:
        mocks = MotoMocks(clients)
        outputs = run_program(mocks, stack, config_text)
        if delivery is not None:
            _serve_renditions(delivery, clients, mocks, outputs["destinationBucket"])
        return LocalStack(
            stack=stack,
            settings=settings_for(config_text),
            clients=clients,
            outputs=outputs,
            resources=mocks.created,
            definition_changes=mocks.definition_changes,
            mock=mock,
            delivery=delivery,
            upload_api=endpoint.bind(clients, mocks.created, mocks.account_id)
            if endpoint
            else None,
        )
    except BaseException:
        if delivery is not None:
            delivery.stop()
        if endpoint is not None:
            endpoint.stop()
        if mock is not None:
            mock.stop()
        raise


def _serve_renditions(
    delivery: DeliveryServer, clients: Clients, mocks: MotoMocks, bucket: str
) -> None:
    """Point the delivery server at the bucket the program's distribution serves."""
    [distribution] = [
        r for r in mocks.created if r.typ == "aws:cloudfront/distribution:Distribution"
    ]
    delivery.clients = clients
    delivery.origin = Origin(bucket, str(distribution.outputs["arn"]), mocks.account_id)


@contextmanager
def local_stack(
    stack: str = "dev", config: Mapping[str, Any] | None = None
) -> Iterator[LocalStack]:
    """`deploy_local` as a context manager that closes the stack."""
    deployed = deploy_local(stack, config=config)
    try:
        yield deployed
    finally:
        deployed.close()
