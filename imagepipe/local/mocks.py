"""Apply the real Pulumi program to moto: a `pulumi.runtime.Mocks` that creates resources.

Pulumi's mock monitor hands every resource registration to `Mocks.new_resource` with
its resolved inputs (camelCase, as the provider schema names them). `MotoMocks` turns
each one into the AWS API calls the provider would make, against moto, and returns
the outputs moto hands back (real ARNs, names, queue URLs), so later resources are
wired exactly as in AWS. Nothing here describes the pipeline: that is `__main__.py`
and `infra/`, run unchanged by `run_program`.

Contract:
- every resource type the program registers is created, or `UnsupportedResourceError`
  names the type (a new resource in `infra/` must be taught here, never skipped);
- names follow Pulumi's auto-naming: an explicit name wins, then `namePrefix` plus a
  unique suffix, else `<logical name>-<7 hex>`;
- the S3 -> SQS notification is moto's own, so uploads land in the ingest queue the
  way S3 delivers them (including S3's `s3:TestEvent`).
"""

from __future__ import annotations

import io
import json
import logging
import runpy
import secrets
import threading
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pulumi
import yaml

from imagepipe.local import enforce, lambda_runtime
from imagepipe.local.clients import Clients
from imagepipe.local.iam import service_allowed
from infra.settings import PROJECT, PROJECT_DIR, Settings, load_settings, read_stack_config

PROGRAM: Final = PROJECT_DIR / "__main__.py"
LOG: Final = logging.getLogger(__name__)

Inputs = Mapping[str, Any]
Outputs = dict[str, Any]


class UnsupportedResourceError(RuntimeError):
    """The program registered a resource (or called a function) the local stack cannot create."""


class RefusedByAwsError(RuntimeError):
    """AWS would refuse to create the resource as configured (the deploy would fail)."""


@dataclass(frozen=True)
class CreatedResource:
    """One resource as created in the emulator: Pulumi type, logical name, id, outputs."""

    typ: str
    name: str
    id: str
    outputs: Outputs


def unique_suffix() -> str:
    """Pulumi auto-naming's random part: 7 hex digits."""
    return secrets.token_hex(4)[:7]


def physical_name(
    logical: str, inputs: Inputs, key: str = "name", prefix_key: str = "namePrefix"
) -> str:
    """The name the provider would give: explicit, else prefix + unique id, else auto-name."""
    explicit = inputs.get(key)
    if explicit:
        return str(explicit)
    prefix = inputs.get(prefix_key)
    if prefix:
        # The AWS provider appends a 26-character unique id to a name prefix.
        return f"{prefix}{secrets.token_hex(13)}"
    return f"{logical}-{unique_suffix()}"


def pascal(value: Any, renames: Mapping[str, str] | None = None) -> Any:
    """camelCase keys (Pulumi inputs) to the API's PascalCase, recursively; drops None.

    Only for structures whose keys are all schema names: never for maps of user keys
    (environment variables, tags), which must keep their spelling.
    """
    renames = renames or {}
    if isinstance(value, dict):
        return {
            renames.get(k, k[:1].upper() + k[1:]): pascal(v, renames)
            for k, v in value.items()
            if v is not None
        }
    if isinstance(value, list):
        return [pascal(v, renames) for v in value]
    return value


def whole_numbers(value: Any) -> Any:
    """Pulumi's wire format carries every number as a float: 30 arrives as 30.0, which
    AWS APIs taking integers (as text, e.g. SQS attributes) refuse. Restore integers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [whole_numbers(v) for v in value]
    return value


def as_json(value: Any) -> str:
    """Policies arrive as JSON text (Output.json_dumps); accept a structure too."""
    return value if isinstance(value, str) else json.dumps(value)


def archive_bytes(archive: Any) -> bytes:
    """The zip bytes of a `pulumi.FileArchive` (a zip file, or a directory zipped here)."""
    path = Path(getattr(archive, "path", ""))
    if not isinstance(archive, pulumi.FileArchive):
        raise UnsupportedResourceError(
            f"only pulumi.FileArchive code is supported locally, got {type(archive).__name__}"
        )
    if path.is_file():
        return path.read_bytes()
    if path.is_dir():
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                zf.write(file, file.relative_to(path).as_posix())
        return buffer.getvalue()
    raise UnsupportedResourceError(f"archive path {path} does not exist")


def _flag(value: Any) -> str:
    return "true" if value else "false"


_QUEUE_ATTRIBUTES: Final = {
    "delaySeconds": "DelaySeconds",
    "maxMessageSize": "MaximumMessageSize",
    "messageRetentionSeconds": "MessageRetentionPeriod",
    "receiveWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds",
    "visibilityTimeoutSeconds": "VisibilityTimeout",
    "redrivePolicy": "RedrivePolicy",
    "redriveAllowPolicy": "RedriveAllowPolicy",
    "policy": "Policy",
    "sqsManagedSseEnabled": "SqsManagedSseEnabled",
    "kmsMasterKeyId": "KmsMasterKeyId",
    "kmsDataKeyReusePeriodSeconds": "KmsDataKeyReusePeriodSeconds",
    "fifoQueue": "FifoQueue",
    "contentBasedDeduplication": "ContentBasedDeduplication",
}

_TOPIC_ATTRIBUTES: Final = {
    "kmsMasterKeyId": "KmsMasterKeyId",
    "displayName": "DisplayName",
    "policy": "Policy",
    "deliveryPolicy": "DeliveryPolicy",
    "fifoTopic": "FifoTopic",
    "contentBasedDeduplication": "ContentBasedDeduplication",
}


def _attributes(inputs: Inputs, mapping: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, attribute in mapping.items():
        value = inputs.get(key)
        if value is None or value == "":
            continue
        out[attribute] = _flag(value) if isinstance(value, bool) else str(value)
    return out


Handler = Callable[[str, Inputs], tuple[str, Outputs]]

# moto's ASL grammar takes only decimals for these numbers, where AWS takes any number.
_DECIMAL_FIELDS: Final = frozenset({"BackoffRate", "ToleratedFailurePercentage"})


def moto_compatible(definition: str) -> tuple[str, list[str]]:
    """A state machine definition moto's interpreter accepts, and what had to change.

    Local-only, logged, and as small as moto allows: the definitions deployed to AWS are
    untouched. Returns the text unchanged (and no changes) when moto takes it as it is.
    - an integer in a field moto's grammar parses only as a decimal (`2` -> `2.0`):
      the same value;
    - a Distributed Map's `ExecutionType: EXPRESS` -> `STANDARD`: moto's interpreter
      runs only STANDARD child workflows. Locally the children are STANDARD executions.
    """
    document = json.loads(definition)
    changes: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                where = f"{path}.{key}" if path else key
                if key in _DECIMAL_FIELDS and type(value) is int:
                    node[key] = float(value)
                    changes.append(f"{where}: {value} -> {float(value)} (same value)")
                elif key == "ExecutionType" and value == "EXPRESS":
                    node[key] = "STANDARD"
                    changes.append(f"{where}: EXPRESS -> STANDARD (moto runs no EXPRESS children)")
                else:
                    walk(value, where)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{path}[{index}]")

    walk(document, "")
    if not changes:
        return definition, []
    return json.dumps(document, indent=2, ensure_ascii=False), changes


@dataclass
class MotoMocks(pulumi.runtime.Mocks):
    """Pulumi mocks that create every registered resource in moto through `clients`."""

    clients: Clients
    created: list[CreatedResource] = field(default_factory=list)
    # state machine name -> what moto_compatible changed in its definition (local only)
    definition_changes: dict[str, list[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def region(self) -> str:
        return self.clients.region

    @property
    def account_id(self) -> str:
        return str(self.clients.client("sts").get_caller_identity()["Account"])

    def _handlers(self) -> dict[str, Handler]:
        return {
            "aws:s3/bucket:Bucket": self._bucket,
            "aws:s3/bucketV2:BucketV2": self._bucket,
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": self._public_access_block,
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls": self._ownership,
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": self._encryption,  # noqa: E501
            "aws:s3/bucketPolicy:BucketPolicy": self._bucket_policy,
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": self._lifecycle,
            "aws:s3/bucketNotification:BucketNotification": self._notification,
            "aws:sqs/queue:Queue": self._queue,
            "aws:sqs/queuePolicy:QueuePolicy": self._queue_policy,
            "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy": self._redrive_allow,
            "aws:sns/topic:Topic": self._topic,
            "aws:sns/topicPolicy:TopicPolicy": self._topic_policy,
            "aws:sns/topicSubscription:TopicSubscription": self._subscription,
            "aws:kms/key:Key": self._kms_key,
            "aws:iam/role:Role": self._role,
            "aws:iam/rolePolicy:RolePolicy": self._role_policy,
            "aws:lambda/layerVersion:LayerVersion": self._layer,
            "aws:lambda/function:Function": self._function,
            "aws:cloudwatch/logGroup:LogGroup": self._log_group,
            "aws:cloudwatch/metricAlarm:MetricAlarm": self._alarm,
            "aws:sfn/stateMachine:StateMachine": self._state_machine,
            "aws:pipes/pipe:Pipe": self._pipe,
        }

    # -- the Mocks interface -------------------------------------------------------

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
        inputs: dict[str, Any] = whole_numbers(dict(args.inputs))
        if not args.custom:
            return "", {}  # a component: nothing to create, its children come on their own
        if args.typ.startswith("pulumi:providers:"):
            return f"{args.name}-provider", inputs
        handler = self._handlers().get(args.typ)
        if handler is None:
            raise UnsupportedResourceError(
                f"the local stack cannot create resources of type {args.typ} "
                f"(resource {args.name!r}): teach imagepipe/local/mocks.py this type"
            )
        # Serialized: resources register concurrently, and deploy order is Pulumi's
        # dependency order already (inputs arrive resolved).
        with self._lock:
            resource_id, computed = handler(args.name, inputs)
        outputs = {**inputs, **computed, "id": resource_id}
        self.created.append(CreatedResource(args.typ, args.name, resource_id, outputs))
        return resource_id, outputs

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        function = args.token
        if function == "aws:index/getCallerIdentity:getCallerIdentity":
            identity = self.clients.client("sts").get_caller_identity()
            return {
                "accountId": identity["Account"],
                "arn": identity["Arn"],
                "userId": identity["UserId"],
                "id": identity["Account"],
            }, []
        if function == "aws:index/getRegion:getRegion":
            return {
                "region": self.region,
                "name": self.region,
                "id": self.region,
                "endpoint": f"ec2.{self.region}.amazonaws.com",
                "description": self.region,
            }, []
        raise UnsupportedResourceError(
            f"the local stack cannot answer the function call {args.token}: "
            "teach imagepipe/local/mocks.py this function"
        )

    # -- S3 ----------------------------------------------------------------------

    def _bucket(self, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
        name = physical_name(logical, inputs, "bucket", "bucketPrefix").lower()
        s3 = self.clients.client("s3")
        if self.region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(
                Bucket=name, CreateBucketConfiguration={"LocationConstraint": self.region}
            )
        return name, {
            "bucket": name,
            "arn": f"arn:aws:s3:::{name}",
            "region": self.region,
            "bucketDomainName": f"{name}.s3.amazonaws.com",
            "bucketRegionalDomainName": f"{name}.s3.{self.region}.amazonaws.com",
        }

    def _public_access_block(self, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
        bucket = inputs["bucket"]
        self.clients.client("s3").put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": bool(inputs.get("blockPublicAcls")),
                "IgnorePublicAcls": bool(inputs.get("ignorePublicAcls")),
                "BlockPublicPolicy": bool(inputs.get("blockPublicPolicy")),
                "RestrictPublicBuckets": bool(inputs.get("restrictPublicBuckets")),
            },
        )
        return bucket, {}

    def _ownership(self, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
        bucket = inputs["bucket"]
        self.clients.client("s3").put_bucket_ownership_controls(
            Bucket=bucket,
            OwnershipControls={"Rules": [{"ObjectOwnership": inputs["rule"]["objectOwnership"]}]},
        )
        return bucket, {}

    def _encryption(self, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
        bucket = inputs["bucket"]
        rules = []
        for rule in inputs["rules"]:
            default = rule.get("applyServerSideEncryptionByDefault") or {}
            api_rule: dict[str, Any] = {
                "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": default["sseAlgorithm"]}
            }
            if default.get("kmsMasterKeyId"):
                api_rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] = default[
                    "kmsMasterKeyId"
                ]
            if rule.get("bucketKeyEnabled") is not None:
                api_rule["BucketKeyEnabled"] = bool(rule["bucketKeyEnabled"])
            rules.append(api_rule)
        self.clients.client("s3").put_bucket_encryption(
            Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": rules}
        )
        return bucket, {}

    def _bucket_policy(self, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
        bucket = inputs["bucket"]
        self.clients.client("s3").put_bucket_policy(Bucket=bucket, Policy=as_json(inputs["policy"]))
        return bucket, {}

    def _lifecycle(self, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
        bucket = inputs["bucket"]
        rules = pascal(inputs["rules"], {"id": "ID"})
        self.clients.client("s3").put_bucket_lifecycle_configuration(
            Bucket=bucket, LifecycleConfiguration={"Rules": rules}
        )
        return bucket, {}

    def _notification(self, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
        bucket = inputs["bucket"]

        def target(item: Mapping[str, Any], arn_key: str, api_arn_key: str) -> dict[str, Any]:
            rules = [
                {"Name": name, "Value": item[key]}
                for name, key in (("prefix", "filterPrefix"), ("suffix", "filterSuffix"))
                if item.get(key)
            ]
            out: dict[str, Any] = {api_arn_key: item[arn_key], "Events": list(item["events"])}
            if item.get("id"):
                out["Id"] = item["id"]
            if rules:
                out["Filter"] = {"Key": {"FilterRules": rules}}
            return out

        configuration: dict[str, Any] = {
            "QueueConfigurations": [
                target(q, "queueArn", "QueueArn") for q in inputs.get("queues") or []
            ],
            "TopicConfigurations": [
                target(t, "topicArn", "TopicArn") for t in inputs.get("topics") or []
            ],
            "LambdaFunctionConfigurations": [
                target(f, "lambdaFunctionArn", "LambdaFunctionArn")
                for f in inputs.get("lambdaFunctions") or []
            ],
        }
        if inputs.get("eventbridge"):
            configuration["EventBridgeConfiguration"] = {}
        for queue in configuration["QueueConfigurations"]:
            self._validate_destination(bucket, queue["QueueArn"])
        # moto's own notification machinery: it also sends S3's s3:TestEvent, as AWS does.
        self.clients.client("s3").put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration=configuration
        )
        return bucket, {}

    def _validate_destination(self, bucket: str, queue_arn: str) -> None:
        """As S3 does when the configuration is put: the queue's policy must let S3 send
        for this bucket and account, or the call fails ("Unable to validate the following
        destination configurations")."""
        sqs = self.clients.client("sqs")
        url = sqs.get_queue_url(QueueName=queue_arn.split(":")[-1])["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])
        policy = attributes.get("Attributes", {}).get("Policy")
        context = {
            "aws:SourceArn": f"arn:aws:s3:::{bucket}",
            "aws:SourceAccount": self.account_id,
            "aws:SecureTransport": "true",
        }
        decision = service_allowed(
            policy, "s3.amazonaws.com", "sqs:SendMessage", queue_arn, context
        )
        if not decision.allowed:
            raise RefusedByAwsError(
                f"S3 bucket {bucket}: Unable to validate the following destination "
                f"configurations: the policy of {queue_arn} does not let s3.amazonaws.com "
                "send messages for this bucket (InvalidArgument)"
            )

    # -- SQS / SNS / KMS -----------------------------------------------------------

    def _queue(self, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
        name = physical_name(logical, inputs)
        if inputs.get("fifoQueue") and not name.endswith(".fifo"):
            name += ".fifo"
        sqs = self.clients.client("sqs")
        url = sqs.create_queue(QueueName=name, Attributes=_attributes(inputs, _QUEUE_ATTRIBUTES))[
            "QueueUrl"
        ]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        return url, {"url": url, "arn": arn, "name": name}

    def _queue_policy(self, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
        url = inputs["queueUrl"]
        self.clients.client("sqs").set_queue_attributes(
            QueueUrl=url, Attributes={"Policy": as_json(inputs["policy"])}
        )
        return url, {}

    def _redrive_allow(self, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
        url = inputs["queueUrl"]
        self.clients.client("sqs").set_queue_attributes(
            QueueUrl=url,
            Attributes={"RedriveAllowPolicy": as_json(inputs["redriveAllowPolicy"])},
        )
        return url, {}

    def _topic(self, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
        name = physical_name(logical, inputs)
        if inputs.get("fifoTopic") and not name.endswith(".fifo"):
            name += ".fifo"
        arn = self.clients.client("sns").create_topic(
            Name=name, Attributes=_attributes(inputs, _TOPIC_ATTRIBUTES)
        )["TopicArn"]
        return arn, {"arn": arn, "name": name, "owner": arn.split(":")[4]}

    def _topic_policy(self, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
        arn = inputs["arn"]
        self.clients.client("sns").set_topic_attributes(
            TopicArn=arn, AttributeName="Policy", AttributeValue=as_json(inputs["policy"])
        )
        return arn, {"owner": arn.split(":")[4]}

    def _subscription(self, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
        attributes = {}
        if inputs.get("rawMessageDelivery") is not None:
            attributes["RawMessageDelivery"] = _flag(inputs["rawMessageDelivery"])
        if inputs.get("filterPolicy"):
            attributes["FilterPolicy"] = as_json(inputs["filterPolicy"])
        arn = self.clients.client("sns").subscribe(
            TopicArn=inputs["topic"],
            Protocol=inputs["protocol"],
            Endpoint=inputs["endpoint"],
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        return arn, {"arn": arn}

    def _kms_key(self, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
        kms = self.clients.client("kms")
        params: dict[str, Any] = {"Description": inputs.get("description", "")}
        if inputs.get("policy"):
            params["Policy"] = as_json(inputs["policy"])
        if inputs.get("keyUsage"):
            params["KeyUsage"] = inputs["keyUsage"]
        if inputs.get("customerMasterKeySpec"):
            params["KeySpec"] = inputs["customerMasterKeySpec"]
        metadata = kms.create_key(**params)["KeyMetadata"]
        if inputs.get("enableKeyRotation"):
            kms.enable_key_rotation(KeyId=metadata["KeyId"])
        return metadata["KeyId"], {"arn": metadata["Arn"], "keyId": metadata["KeyId"]}

    # -- IAM -----------------------------------------------------------------------

    def _role(self, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
        name = physical_name(logical, inputs)
        params: dict[str, Any] = {
            "RoleName": name,
            "AssumeRolePolicyDocument": as_json(inputs["assumeRolePolicy"]),
        }
        if inputs.get("description"):
            params["Description"] = inputs["description"]
        if inputs.get("path"):
            params["Path"] = inputs["path"]
        role = self.clients.client("iam").create_role(**params)["Role"]
        return name, {"arn": role["Arn"], "name": name, "uniqueId": role["RoleId"]}

    def _role_policy(self, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
        name = physical_name(logical, inputs)
        role = inputs["role"]
        self.clients.client("iam").put_role_policy(
            RoleName=role, PolicyName=name, PolicyDocument=as_json(inputs["policy"])
        )
        return f"{role}:{name}", {"name": name}

    # -- Lambda and logs -----------------------------------------------------------

    def _layer(self, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
        params: dict[str, Any] = {
            "LayerName": inputs["layerName"],
            "Content": {"ZipFile": archive_bytes(inputs["code"])},
        }
        if inputs.get("description"):
            params["Description"] = inputs["description"]
        if inputs.get("compatibleRuntimes"):
            params["CompatibleRuntimes"] = list(inputs["compatibleRuntimes"])
        if inputs.get("compatibleArchitectures"):
            params["CompatibleArchitectures"] = list(inputs["compatibleArchitectures"])
        layer = self.clients.client("lambda").publish_layer_version(**params)
        arn = layer["LayerVersionArn"]
        return arn, {
            "arn": arn,
            "layerArn": layer["LayerArn"],
            "version": str(layer["Version"]),
            "createdDate": layer.get("CreatedDate", ""),
        }

    def _function(self, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
        name = physical_name(logical, inputs)
        params: dict[str, Any] = {
            "FunctionName": name,
            "Role": inputs["role"],
            "Code": {"ZipFile": archive_bytes(inputs["code"])},
            "Runtime": inputs.get("runtime"),
            "Handler": inputs.get("handler"),
            "Description": inputs.get("description", ""),
            "Timeout": int(inputs.get("timeout", 3)),
            "MemorySize": int(inputs.get("memorySize", 128)),
            "Layers": list(inputs.get("layers") or []),
            "Architectures": list(inputs.get("architectures") or ["x86_64"]),
            # Keys of a user map: copied as they are, values as text like AWS stores them.
            "Environment": {
                "Variables": {
                    k: str(v)
                    for k, v in ((inputs.get("environment") or {}).get("variables") or {}).items()
                }
            },
        }
        if inputs.get("tracingConfig"):
            params["TracingConfig"] = {"Mode": inputs["tracingConfig"]["mode"]}
        function = self.clients.client("lambda").create_function(**params)
        # moto does not keep LoggingConfig; the local runtime writes where AWS would.
        log_group = (inputs.get("loggingConfig") or {}).get("logGroup")
        if log_group:
            lambda_runtime.set_log_group(name, log_group)
        arn = function["FunctionArn"]
        return name, {
            "arn": arn,
            "name": name,
            "qualifiedArn": f"{arn}:$LATEST",
            "version": "$LATEST",
            "invokeArn": (
                f"arn:aws:apigateway:{self.region}:lambda:path/2015-03-31/functions/"
                f"{arn}/invocations"
            ),
            "lastModified": function.get("LastModified", ""),
        }

    def _log_group(self, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
        name = physical_name(logical, inputs)
        logs = self.clients.client("logs")
        logs.create_log_group(logGroupName=name)
        if inputs.get("retentionInDays"):
            logs.put_retention_policy(
                logGroupName=name, retentionInDays=int(inputs["retentionInDays"])
            )
        # The provider's arn has no ':*' suffix (DescribeLogGroups' has one).
        arn = f"arn:aws:logs:{self.region}:{self.account_id}:log-group:{name}"
        return name, {"arn": arn, "name": name}

    def _alarm(self, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
        name = physical_name(logical, inputs)
        params: dict[str, Any] = {
            "AlarmName": name,
            "AlarmDescription": inputs.get("alarmDescription", ""),
            "Namespace": inputs["namespace"],
            "MetricName": inputs["metricName"],
            "Dimensions": [
                {"Name": k, "Value": str(v)} for k, v in (inputs.get("dimensions") or {}).items()
            ],
            "Statistic": inputs["statistic"],
            "Period": int(inputs["period"]),
            "EvaluationPeriods": int(inputs["evaluationPeriods"]),
            "Threshold": float(inputs["threshold"]),
            "ComparisonOperator": inputs["comparisonOperator"],
            "AlarmActions": list(inputs.get("alarmActions") or []),
            "OKActions": list(inputs.get("okActions") or []),
        }
        if inputs.get("treatMissingData"):
            params["TreatMissingData"] = inputs["treatMissingData"]
        self.clients.client("cloudwatch").put_metric_alarm(**params)
        arn = f"arn:aws:cloudwatch:{self.region}:{self.account_id}:alarm:{name}"
        return name, {"arn": arn, "name": name}

    # -- Step Functions and Pipes --------------------------------------------------

    def _state_machine(self, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
        name = physical_name(logical, inputs)
        definition, changes = moto_compatible(inputs["definition"])
        if changes:
            self.definition_changes[name] = changes
            LOG.warning("state machine %s changed for moto: %s", name, "; ".join(changes))
        params: dict[str, Any] = {
            "name": name,
            "definition": definition,
            "roleArn": inputs["roleArn"],
            "type": inputs.get("type", "STANDARD"),
        }
        logging = inputs.get("loggingConfiguration")
        if logging:
            api_logging: dict[str, Any] = {
                "level": logging.get("level", "OFF"),
                "includeExecutionData": bool(logging.get("includeExecutionData")),
            }
            if logging.get("logDestination"):
                api_logging["destinations"] = [
                    {"cloudWatchLogsLogGroup": {"logGroupArn": logging["logDestination"]}}
                ]
            params["loggingConfiguration"] = api_logging
        if inputs.get("tracingConfiguration"):
            params["tracingConfiguration"] = {
                "enabled": bool(inputs["tracingConfiguration"].get("enabled"))
            }
        arn = self.clients.client("stepfunctions").create_state_machine(**params)["stateMachineArn"]
        # IAM checks that moto's copy cannot show (e.g. EXPRESS map children) read the original.
        enforce.register_state_machine(arn, inputs["definition"], inputs["roleArn"])
        return arn, {"arn": arn, "name": name, "status": "ACTIVE"}

    def _pipe(self, logical: str, inputs: Inputs) -> tuple[str, Outputs]:
        """moto stores pipes but runs none: `imagepipe.local.pipe` polls for them."""
        name = physical_name(logical, inputs)
        params: dict[str, Any] = {
            "Name": name,
            "RoleArn": inputs["roleArn"],
            "Source": inputs["source"],
            "Target": inputs["target"],
            "DesiredState": inputs.get("desiredState", "RUNNING"),
        }
        if inputs.get("description"):
            params["Description"] = inputs["description"]
        if inputs.get("sourceParameters"):
            params["SourceParameters"] = pascal(inputs["sourceParameters"])
        if inputs.get("targetParameters"):
            params["TargetParameters"] = pascal(inputs["targetParameters"])
        if inputs.get("enrichment"):
            params["Enrichment"] = inputs["enrichment"]
        arn = self.clients.client("pipes").create_pipe(**params)["Arn"]
        return name, {"arn": arn, "name": name}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def stack_config(
    stack: str, overrides: Mapping[str, Any] | None = None, project_dir: Path = PROJECT_DIR
) -> dict[str, str]:
    """The stack's config as the Pulumi CLI hands it to a program: namespaced keys, text values.

    Project keys come from `infra.settings.read_stack_config` (Pulumi.yaml defaults under
    Pulumi.<stack>.yaml); structured values are JSON text, which `load_settings` parses.
    Keys of other namespaces (aws:region) come from the stack file as they are.
    `overrides` act like `pulumi config set` for this run (keys with or without the
    project namespace).
    """
    config = {
        f"{PROJECT}:{key}": _text(value)
        for key, value in read_stack_config(stack, project_dir).items()
    }
    stack_file = yaml.safe_load((project_dir / f"Pulumi.{stack}.yaml").read_text()) or {}
    for key, value in (stack_file.get("config") or {}).items():
        if not key.startswith(f"{PROJECT}:"):
            config[key] = _text(value)
    for key, value in (overrides or {}).items():
        config[key if ":" in key else f"{PROJECT}:{key}"] = _text(value)
    return config


def settings_for(config: Mapping[str, str]) -> Settings:
    """The Settings the program reads from `config` (its own `load_settings`)."""
    pulumi.runtime.set_all_config(dict(config))
    try:
        return load_settings()
    finally:
        pulumi.runtime.set_all_config({})


def run_program(
    mocks: MotoMocks, stack: str, config: Mapping[str, str], program: Path = PROGRAM
) -> dict[str, Any]:
    """Run the Pulumi program under `mocks` as stack `stack`; return its exported outputs.

    Raises whatever the program or a resource creation raised (the first error).
    """
    from pulumi.runtime import settings as runtime_settings

    # A fresh root Stack per run: a process may deploy several local stacks.
    runtime_settings.reset_options(project=PROJECT, stack=stack, preview=False)
    pulumi.runtime.set_all_config(dict(config))
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False)
    outputs: dict[str, Any] = {}

    def apply() -> pulumi.Output[Any]:
        runpy.run_path(str(program), run_name="__main__")
        root: Any = pulumi.runtime.get_root_resource()
        exported: dict[str, Any] = dict(root.outputs)
        return pulumi.Output.all(**exported).apply(outputs.update)

    # pulumi.runtime.test runs the program and waits for every registration and output.
    run_and_wait: Any = pulumi.runtime.test
    try:
        run_and_wait(apply)()
    finally:
        # Leave no root stack or config behind for the next Pulumi program in this process.
        pulumi.runtime.set_all_config({})
        runtime_settings.reset_options(project=PROJECT, stack=stack, preview=False)
    return outputs
