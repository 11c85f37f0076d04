"""The Pulumi program under mocks: every resource exists, is wired, and is locked down."""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.events.models import EventPattern

from infra.iam import WILDCARD_RESOURCE_ACTIONS
from infra.settings import Settings
from infra.workflow import PIPE_FILTER_PATTERN
from tests.infra.conftest import ACCOUNT, Deployed, Resource

BUCKET = "aws:s3/bucket:Bucket"
QUEUE = "aws:sqs/queue:Queue"
FUNCTION = "aws:lambda/function:Function"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
STATE_MACHINE = "aws:sfn/stateMachine:StateMachine"


def statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    found = doc["Statement"]
    return found if isinstance(found, list) else [found]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_policies(d: Deployed) -> dict[str, dict[str, Any]]:
    """role logical name -> its inline policies, as one document."""
    by_id = {f"{r.name}-id": r.name for r in d.of_type(ROLE)}
    merged: dict[str, dict[str, Any]] = {}
    for policy in d.of_type(ROLE_POLICY):
        document = merged.setdefault(
            by_id[policy.inputs["role"]], {"Version": "2012-10-17", "Statement": []}
        )
        document["Statement"] += statements(policy.policy())
    return merged


def definition(d: Deployed) -> dict[str, Any]:
    return json.loads(d.one(STATE_MACHINE, "-workflow").inputs["definition"])  # type: ignore[no-any-return]


def test_every_part_is_created(deployed: Deployed) -> None:
    assert len(deployed.of_type(BUCKET)) == 3
    assert len(deployed.of_type(QUEUE)) == 2
    assert len(deployed.of_type(FUNCTION)) == 3  # inspect, resize, manifest
    assert len(deployed.of_type("aws:sns/topic:Topic")) == 2  # notifications, alarms
    assert len(deployed.of_type("aws:pipes/pipe:Pipe")) == 1
    assert len(deployed.of_type(STATE_MACHINE)) == 2  # uploads, backfill
    assert len(deployed.of_type("aws:lambda/layerVersion:LayerVersion")) == 1
    # The DLQ, and four ways to end badly for each state machine (tests/infra/test_alarms.py).
    assert len(deployed.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")) == 1 + 4 * 2
    component = deployed.one("imagepipeline:index:ImagePipeline")
    assert component.name == "imagepipe-dev"
    # Children are named after the component.
    assert all(r.name.startswith("imagepipe-dev") for r in deployed.resources)


def test_every_upload_under_the_prefix_notifies_the_ingest_queue(deployed: Deployed) -> None:
    """Prefix only: a .heic, .tif or .txt upload starts an execution too, which records
    and notifies its outcome (Inspect decides from the bytes and allowedSuffixes)."""
    source = deployed.one(BUCKET, "-source")
    ingest = deployed.one(QUEUE, "-ingest")
    notification = deployed.one("aws:s3/bucketNotification:BucketNotification")
    assert notification.inputs["bucket"] == f"{source.name}-id"
    rules = notification.inputs["queues"]
    assert {r["queueArn"] for r in rules} == {ingest.outputs["arn"]}
    assert all(r["events"] == ["s3:ObjectCreated:*"] for r in rules)
    assert [r["filterPrefix"] for r in rules] == ["uploads/"]
    assert all(not r.get("filterSuffix") for r in rules)


def test_ingest_queue_policy_admits_only_our_bucket_and_account(deployed: Deployed) -> None:
    ingest = deployed.one(QUEUE, "-ingest")
    policy = deployed.one("aws:sqs/queuePolicy:QueuePolicy", "-ingest-policy").policy()
    allow = [s for s in statements(policy) if s["Effect"] == "Allow"]
    assert len(allow) == 1
    assert allow[0]["Principal"] == {"Service": "s3.amazonaws.com"}
    assert allow[0]["Resource"] == ingest.outputs["arn"]
    condition = allow[0]["Condition"]
    assert condition["ArnEquals"]["aws:SourceArn"] == deployed.one(BUCKET, "-source").outputs["arn"]
    assert condition["StringEquals"]["aws:SourceAccount"] == ACCOUNT


def test_ingest_queue_redrives_to_the_dead_letter_queue(deployed: Deployed) -> None:
    ingest = deployed.one(QUEUE, "-ingest")
    dlq = deployed.one(QUEUE, "-dlq")
    redrive = json.loads(ingest.inputs["redrivePolicy"])
    assert redrive == {"deadLetterTargetArn": dlq.outputs["arn"], "maxReceiveCount": 5}
    # Sized from the consumer: six times the function timeout.
    assert ingest.inputs["visibilityTimeoutSeconds"] == 6 * Settings().lambda_timeout_seconds
    for queue in (ingest, dlq):
        assert queue.inputs["sqsManagedSseEnabled"] is True


def test_pipe_connects_the_queue_to_the_state_machine_and_drops_test_events(
    deployed: Deployed,
) -> None:
    pipe = deployed.one("aws:pipes/pipe:Pipe")
    assert pipe.inputs["source"] == deployed.one(QUEUE, "-ingest").outputs["arn"]
    assert pipe.inputs["target"] == deployed.one(STATE_MACHINE, "-workflow").outputs["arn"]
    params = pipe.inputs["sourceParameters"]
    assert params["sqsQueueParameters"]["batchSize"] == 1
    target = pipe.inputs["targetParameters"]["stepFunctionStateMachineParameters"]
    assert target["invocationType"] == "FIRE_AND_FORGET"
    [pattern_text] = [f["pattern"] for f in params["filterCriteria"]["filters"]]
    assert json.loads(pattern_text) == PIPE_FILTER_PATTERN

    # Evaluate the pattern the way Pipes does: on the record with its body parsed.
    pattern = EventPattern.load(pattern_text)
    created: Any = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]}
    test_event: Any = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}
    matches: Any = pattern.matches_event  # moto types events as EventBridge events
    assert matches({"body": created})
    assert not matches({"body": test_event})
    # Anything else passes on, to be rejected visibly by the Inspect step.
    assert matches({"body": {"unexpected": True}})


def test_state_machine_is_wired_to_its_functions_topic_backup_and_dlq(deployed: Deployed) -> None:
    states = definition(deployed)["States"]
    inspect = deployed.one(FUNCTION, "-inspect").outputs["arn"]
    resize = deployed.one(FUNCTION, "-resize").outputs["arn"]
    assert states["Inspect upload"]["Parameters"]["FunctionName"] == inspect
    mapped = states["Make renditions"]
    assert mapped["ItemProcessor"]["States"]["Resize"]["Parameters"]["FunctionName"] == resize
    assert mapped["MaxConcurrency"] == Settings().map_max_concurrency
    assert states["Back up original"]["Parameters"]["Bucket"] == deployed.outputs["backup_bucket"]
    assert states["Notify"]["Parameters"]["TopicArn"] == deployed.outputs["topic_arn"]
    dlq_url = deployed.outputs["dead_letter_queue_url"]
    assert states["Dead-letter failure"]["Parameters"]["QueueUrl"] == dlq_url
    assert "Dead-letter rejection" not in states  # rejections are events, not dead letters
    table = deployed.one("aws:dynamodb/table:Table", "-catalogue").outputs["name"]
    for writer in ("Record upload", "Record processed", "Record rejection", "Record failure"):
        assert states[writer]["Parameters"]["TableName"] == table, writer


def test_every_failure_is_caught_and_dead_lettered_before_failing(deployed: Deployed) -> None:
    """Every catch-all reaches the dead-letter queue (through the catalogue's failure
    record); a rejection (ImageRejected from Resize) reaches the Rejected Succeed state."""
    states = definition(deployed)["States"]

    def reaches(target: str, goal: str, seen: frozenset[str] = frozenset()) -> bool:
        """Every way on from `target` gets to `goal` (a Task's Catches too)."""
        if target == goal:
            return True
        if target in seen:
            return False
        state, seen = states[target], seen | {target}
        if state["Type"] == "Pass":
            return reaches(state["Next"], goal, seen)
        if state["Type"] == "Choice":
            nexts = [c["Next"] for c in state["Choices"]] + [state["Default"]]
            return all(reaches(n, goal, seen) for n in nexts)
        if state["Type"] == "Task":
            catches = [c["Next"] for c in state.get("Catch", []) if c["Next"] != "Superseded"]
            return all(reaches(n, goal, seen) for n in [state["Next"], *catches])
        return False

    for name in ("Inspect upload", "Record upload", "Back up original", "Make renditions"):
        catches = states[name]["Catch"]
        assert catches[-1]["ErrorEquals"] == ["States.ALL"], name
        assert reaches(catches[-1]["Next"], "Dead-letter failure"), name
    for name in ("Record processed", "Notify", "Record rejection", "Notify rejection"):
        assert states[name]["Catch"][-1]["Next"] == "Record failure", name
    [rejected] = [
        c for c in states["Make renditions"]["Catch"] if c["ErrorEquals"] == ["ImageRejected"]
    ]
    assert rejected["Next"] == "Read rejection"
    assert [
        states[s]["Next"] for s in ("Read rejection", "Name the reason", "Record rejection")
    ] == [
        "Name the reason",
        "Record rejection",
        "Notify rejection",
    ]
    assert states["Notify rejection"]["Next"] == "Rejected"
    assert states["Dead-letter failure"]["Next"] == "Failed"
    assert (states["Rejected"]["Type"], states["Failed"]["Type"]) == ("Succeed", "Fail")
    assert states["Duplicate event"]["Type"] == "Succeed"


def test_state_machine_logs_and_traces(deployed: Deployed) -> None:
    machine = deployed.one(STATE_MACHINE, "-workflow")
    assert machine.inputs["type"] == "STANDARD"
    assert machine.inputs["tracingConfiguration"] == {"enabled": True}
    logging = machine.inputs["loggingConfiguration"]
    log_group = deployed.one("aws:cloudwatch/logGroup:LogGroup", "-workflow-logs")
    assert logging["logDestination"] == f"{log_group.outputs['arn']}:*"
    assert logging["includeExecutionData"] is True
    assert logging["level"] == "ERROR"


def test_express_is_selectable(deploy_with: Any) -> None:
    deployed = deploy_with(Settings(workflow_type="EXPRESS", workflow_log_level="ALL"))
    machine = deployed.one(STATE_MACHINE, "-workflow")
    assert machine.inputs["type"] == "EXPRESS"
    assert machine.inputs["loggingConfiguration"]["level"] == "ALL"
    # The backfill's Distributed Map needs a Standard parent, whatever the uploads use.
    assert deployed.one(STATE_MACHINE, "-backfill").inputs["type"] == "STANDARD"


def test_buckets_are_private_encrypted_and_tls_only(deployed: Deployed) -> None:
    for bucket in deployed.of_type(BUCKET):
        bucket_id = f"{bucket.name}-id"
        block = deployed.one(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", f"{bucket.name}-public-access"
        )
        assert block.inputs["bucket"] == bucket_id
        for flag in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        ):
            assert block.inputs[flag] is True
        ownership = deployed.one(
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls", f"{bucket.name}-ownership"
        )
        assert ownership.inputs["rule"]["objectOwnership"] == "BucketOwnerEnforced"
        encryption = deployed.one(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            f"{bucket.name}-encryption",
        )
        default = encryption.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
        assert default["sseAlgorithm"] in {"AES256", "aws:kms"}
        policy = deployed.one("aws:s3/bucketPolicy:BucketPolicy", f"{bucket.name}-policy")
        # One policy per bucket; the renditions bucket's also lets its distribution read.
        [deny] = [s for s in statements(policy.policy()) if s["Effect"] == "Deny"]
        assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        arn = bucket.outputs["arn"]
        assert set(deny["Resource"]) == {arn, f"{arn}/*"}


def test_backup_bucket_ages_out_per_config(deployed: Deployed) -> None:
    lifecycle = deployed.one(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "-backup-lifecycle"
    )
    [rule] = [r for r in lifecycle.inputs["rules"] if r["id"] == "age-out-backups"]
    settings = Settings()
    assert rule["transitions"][0]["days"] == settings.backup_transition_days
    assert rule["expiration"]["days"] == settings.backup_expiration_days


def _grants(doc: dict[str, Any], action: str) -> list[str]:
    """Resources an Allow statement grants `action` on."""
    return [
        res
        for s in statements(doc)
        if s["Effect"] == "Allow" and action in as_list(s["Action"])
        for res in as_list(s["Resource"])
    ]


def test_no_role_can_write_to_the_source_bucket(deployed: Deployed) -> None:
    source_arn = deployed.one(BUCKET, "-source").outputs["arn"]
    for role, doc in role_policies(deployed).items():
        for statement in statements(doc):
            writes = [a for a in as_list(statement["Action"]) if a.split(":")[1].startswith(
                ("Put", "Delete", "Restore", "Abort", "Replicate")
            )]  # fmt: skip
            if statement["Effect"] != "Allow" or not writes:
                continue
            for resource in as_list(statement["Resource"]):
                assert not resource.startswith(source_arn), (role, writes, resource)


def test_each_role_holds_exactly_its_own_access(deployed: Deployed) -> None:
    policies = role_policies(deployed)
    source = deployed.one(BUCKET, "-source").outputs["arn"]
    renditions = deployed.one(BUCKET, "-renditions").outputs["arn"]
    backup = deployed.one(BUCKET, "-backup").outputs["arn"]
    inspect = policies["imagepipe-dev-inspect-role"]
    resize = policies["imagepipe-dev-resize-role"]
    workflow = policies["imagepipe-dev-workflow-role"]
    pipe = policies["imagepipe-dev-pipe-role"]

    # Inspect reads uploads, and HEADs renditions for a backfill's onlyMissing.
    assert _grants(inspect, "s3:GetObject") == [f"{source}/uploads/*", f"{renditions}/*"]
    assert _grants(inspect, "s3:PutObject") == []
    assert _grants(resize, "s3:GetObject") == [f"{source}/uploads/*"]
    assert _grants(resize, "s3:PutObject") == [f"{renditions}/*"]
    assert _grants(workflow, "s3:PutObject") == [f"{backup}/*"]
    assert _grants(workflow, "sns:Publish") == [deployed.outputs["topic_arn"]]
    assert _grants(workflow, "sqs:SendMessage") == [deployed.one(QUEUE, "-dlq").outputs["arn"]]
    functions = {
        deployed.one(FUNCTION, s).outputs["arn"] for s in ("-inspect", "-resize", "-manifest")
    }
    assert {g.removesuffix(":*") for g in _grants(workflow, "lambda:InvokeFunction")} == functions
    assert _grants(pipe, "states:StartExecution") == [deployed.outputs["state_machine_arn"]]
    assert _grants(pipe, "sqs:ReceiveMessage") == [deployed.one(QUEUE, "-ingest").outputs["arn"]]
    # Only the workflow publishes and dead-letters.
    for other in (inspect, resize, pipe):
        assert _grants(other, "sns:Publish") == _grants(other, "sqs:SendMessage") == []


def test_iam_has_no_wildcard_actions_and_star_resources_only_where_aws_requires(
    deployed: Deployed,
) -> None:
    docs = list(role_policies(deployed).values())
    docs += [r.policy("assumeRolePolicy") for r in deployed.of_type(ROLE)]
    for doc in docs:
        for statement in statements(doc):
            for action in as_list(statement["Action"]):
                assert "*" not in action, statement
            if "*" in as_list(statement.get("Resource", [])):
                assert as_list(statement["Resource"]) == ["*"], statement
                assert set(as_list(statement["Action"])) <= WILDCARD_RESOURCE_ACTIONS, statement


def test_roles_trust_one_service_in_our_account(deployed: Deployed) -> None:
    services = {}
    for role in deployed.of_type(ROLE):
        [trust] = statements(role.policy("assumeRolePolicy"))
        assert trust["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT
        services[role.name] = trust["Principal"]["Service"]
    assert services == {
        "imagepipe-dev-backfill-role": "states.amazonaws.com",
        "imagepipe-dev-inspect-role": "lambda.amazonaws.com",
        "imagepipe-dev-resize-role": "lambda.amazonaws.com",
        "imagepipe-dev-manifest-role": "lambda.amazonaws.com",
        "imagepipe-dev-workflow-role": "states.amazonaws.com",
        "imagepipe-dev-pipe-role": "pipes.amazonaws.com",
    }


def test_functions_run_the_configured_platform_with_the_layer(deployed: Deployed) -> None:
    settings = Settings()
    layer = deployed.one("aws:lambda/layerVersion:LayerVersion")
    for fn in deployed.of_type(FUNCTION):
        kind = fn.name.rsplit("-", 1)[1]
        assert fn.inputs["handler"] == f"imagefn.{kind}_handler.handler"
        assert fn.inputs["architectures"] == ["arm64"]
        assert fn.inputs["runtime"] == settings.lambda_runtime
        assert fn.inputs["layers"] == [layer.outputs["arn"]]
        assert fn.inputs["tracingConfig"] == {"mode": "Active"}
        assert fn.inputs["memorySize"] == settings.lambda_memory_mb
        assert fn.inputs["loggingConfig"]["logFormat"] == "JSON"
    assert layer.inputs["compatibleArchitectures"] == ["arm64"]
    inspect = deployed.one(FUNCTION, "-inspect").inputs["environment"]["variables"]
    assert json.loads(inspect["RENDITIONS"]) == [r.to_dict() for r in settings.renditions]
    assert inspect["MAX_INPUT_PIXELS"] == str(settings.max_input_pixels)
    resize = deployed.one(FUNCTION, "-resize").inputs["environment"]["variables"]
    assert resize["DESTINATION_BUCKET"] == deployed.outputs["destination_bucket"]
    # Both apply the same pixel limit, or Resize could reject what Inspect accepted.
    assert resize["MAX_INPUT_PIXELS"] == inspect["MAX_INPUT_PIXELS"]


def test_log_groups_keep_logs_as_configured(deploy_with: Any) -> None:
    deployed = deploy_with(Settings(log_retention_days=7))
    groups = deployed.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert len(groups) == 5  # three functions, two state machines
    assert {g.inputs["retentionInDays"] for g in groups} == {7}


def test_alarms_watch_the_dlq_and_failed_executions(deployed: Deployed) -> None:
    alarm_topic = deployed.one("aws:sns/topic:Topic", "-alarms").outputs["arn"]
    dlq = deployed.one("aws:cloudwatch/metricAlarm:MetricAlarm", "-dead-letters").inputs
    assert dlq["metricName"] == "ApproximateNumberOfMessagesVisible"
    assert dlq["dimensions"] == {"QueueName": deployed.one(QUEUE, "-dlq").outputs["name"]}
    assert dlq["threshold"] == 0 and dlq["comparisonOperator"] == "GreaterThanThreshold"
    failed = deployed.one("aws:cloudwatch/metricAlarm:MetricAlarm", "-workflow-failed").inputs
    assert failed["metricName"] == "ExecutionsFailed"
    assert failed["dimensions"] == {"StateMachineArn": deployed.outputs["state_machine_arn"]}
    assert dlq["alarmActions"] == failed["alarmActions"] == [alarm_topic]


def test_topics_are_encrypted_and_email_is_optional(deployed: Deployed, deploy_with: Any) -> None:
    key = deployed.one("aws:kms/key:Key").outputs["arn"]
    for topic in deployed.of_type("aws:sns/topic:Topic"):
        assert topic.inputs["kmsMasterKeyId"] == key
    assert deployed.of_type("aws:sns/topicSubscription:TopicSubscription") == []
    with_email = deploy_with(Settings(notification_email="ops@example.com"))
    [sub] = with_email.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert sub.inputs["protocol"] == "email" and sub.inputs["endpoint"] == "ops@example.com"


def test_outputs_tell_a_user_where_to_go(deployed: Deployed) -> None:
    out = deployed.outputs
    assert out["executions_console_url"].startswith(
        "https://eu-west-1.console.aws.amazon.com/states/"
    )
    assert (
        out["upload_command"]
        == f"aws s3 cp ./photo.jpg s3://{out['source_bucket']}/uploads/photo.jpg"
    )
    assert out["dead_letter_queue_url"].startswith("https://sqs.")


@pytest.mark.parametrize("resource_type", [FUNCTION, STATE_MACHINE])
def test_no_account_id_is_written_into_the_code(resource_type: str) -> None:
    """Account ids reach the program only through getCallerIdentity."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for folder in ("infra", "functions", "statemachine", "imagepipe"):
        for path in (root / folder).rglob("*"):
            if path.suffix in {".py", ".json"}:
                assert ACCOUNT not in path.read_text(encoding="utf-8"), path
    assert resource_type  # parametrized only to name the two consumers in the report


def _unused(resource: Resource) -> None:  # keeps the import for type checkers
    del resource


def test_backfill_lists_uploads_and_runs_children_of_its_own(deployed: Deployed) -> None:
    machine = deployed.one(STATE_MACHINE, "-backfill")
    assert machine.inputs["name"] == "imagepipe-dev-backfill"  # its role names it
    assert deployed.outputs["backfill_state_machine_arn"] == machine.outputs["arn"]
    assert machine.inputs["type"] == "STANDARD"
    states = json.loads(machine.inputs["definition"])["States"]
    mapped = states["Process existing images"]
    assert mapped["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert mapped["ItemReader"]["Parameters"]["Bucket"] == deployed.outputs["source_bucket"]
    assert mapped["MaxConcurrency"] == Settings().backfill_max_concurrency
    child = mapped["ItemProcessor"]["States"]
    resize = deployed.one(FUNCTION, "-resize").outputs["arn"]
    inner = child["Make renditions"]["ItemProcessor"]["States"]["Resize"]
    assert inner["Parameters"]["FunctionName"] == resize
    assert "Notify" not in child  # a backfill of a million images sends no million mails

    policy = role_policies(deployed)["imagepipe-dev-backfill-role"]
    source = deployed.one(BUCKET, "-source").outputs["arn"]
    [listing] = [s for s in statements(policy) if s.get("Sid") == "ListUploads"]
    assert listing["Resource"] == [source]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["uploads/*"]}}
    arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:imagepipe-dev-backfill"
    assert _grants(policy, "states:StartExecution") == [arn]
    # Its own executions and its children, Standard with the default 60 s Lambda timeout
    # (tests/infra/test_access.py).
    assert _grants(policy, "states:DescribeExecution") == [
        "arn:aws:states:eu-west-1:123456789012:execution:imagepipe-dev-backfill:*",
        "arn:aws:states:eu-west-1:123456789012:execution:imagepipe-dev-backfill/*",
    ]
    assert _grants(policy, "sns:Publish") == []


def test_removals_are_only_wired_when_asked_for(deployed: Deployed, deploy_with: Any) -> None:
    assert [q.name for q in deployed.of_type(QUEUE) if q.name.endswith("-removals")] == []
    with_removal = deploy_with(Settings(delete_derivatives=True))
    removals = with_removal.one(QUEUE, "-removals")
    rules = with_removal.one("aws:s3/bucketNotification:BucketNotification").inputs["queues"]
    removed = [r for r in rules if r["events"] == ["s3:ObjectRemoved:*"]]
    assert removed and {r["queueArn"] for r in removed} == {removals.outputs["arn"]}
    assert [r["filterPrefix"] for r in removed] == ["uploads/"]
    machine = with_removal.one(STATE_MACHINE, "-removal")
    pipe = with_removal.one("aws:pipes/pipe:Pipe", "-removal-pipe")
    assert pipe.inputs["source"] == removals.outputs["arn"]
    assert pipe.inputs["target"] == machine.outputs["arn"]
    states = json.loads(machine.inputs["definition"])["States"]
    destination = with_removal.outputs["destination_bucket"]
    assert states["Delete renditions"]["Parameters"]["Bucket"] == destination
    assert states["Delete backup"]["Parameters"]["Bucket"] == with_removal.outputs["backup_bucket"]

    policy = role_policies(with_removal)["imagepipe-dev-removal-role"]
    renditions = with_removal.one(BUCKET, "-renditions").outputs["arn"]
    backup = with_removal.one(BUCKET, "-backup").outputs["arn"]
    assert _grants(policy, "s3:DeleteObject") == [f"{renditions}/*", f"{backup}/*"]
    # Still nobody may delete from (or write to) the source bucket.
    source = with_removal.one(BUCKET, "-source").outputs["arn"]
    for doc in role_policies(with_removal).values():
        for action in ("s3:DeleteObject", "s3:PutObject"):
            assert not [g for g in _grants(doc, action) if g.startswith(source)]
