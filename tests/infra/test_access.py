"""What each role may do where AWS's own semantics depend on it: S3 existence checks,
the Distributed Map's ItemReader, ResultWriter and child executions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pulumi.runtime.mocks import MockMonitor

from infra import asl, durations
from infra.settings import Settings
from policy.rules import glob_match
from tests.infra.conftest import ACCOUNT, REGION, Deployed, deploy
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
    # Nobody else lists the renditions bucket but the manifest function, for the same
    # reason: the first manifest of an image must read as missing (404), not refused.
    for role, doc in policies.items():
        if role not in {"imagepipe-dev-inspect-role", "imagepipe-dev-manifest-role"}:
            assert renditions not in _grants(doc, "s3:ListBucket"), role


def test_the_backfill_may_write_its_run_results_under_their_prefix_only(
    deployed: Deployed,
) -> None:
    """The Distributed Map's ResultWriter needs these four actions on the result prefix
    (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html)."""
    policy = role_policies(deployed)["imagepipe-dev-backfill-role"]
    backup = deployed.one(BUCKET, "-backup").outputs["arn"]
    machine = deployed.one("aws:sfn/stateMachine:StateMachine", "-backfill")
    writer = json.loads(machine.inputs["definition"])["States"]["Process existing images"]
    prefix = writer["ResultWriter"]["Parameters"]["Prefix"]
    results = f"{backup}/{prefix}/*"
    for action in (
        "s3:PutObject",
        "s3:GetObject",
        "s3:ListMultipartUploadParts",
        "s3:AbortMultipartUpload",
    ):
        assert results in _grants(policy, action), action
    # Reading back is for the results only, not for the backups beside them.
    assert _grants(policy, "s3:GetObject") == [
        f"{deployed.one(BUCKET, '-source').outputs['arn']}/uploads/*",
        results,
    ]
    assert _grants(policy, "s3:AbortMultipartUpload") == [results]


def test_the_backfill_lists_only_the_upload_prefix(deployed: Deployed) -> None:
    """The ItemReader's listObjectsV2 is s3:ListBucket on the bucket, conditioned on the
    prefix it lists (the backfill's --prefix lies under the upload prefix)."""
    policy = role_policies(deployed)["imagepipe-dev-backfill-role"]
    source = deployed.one(BUCKET, "-source").outputs["arn"]
    [listing] = [s for s in statements(policy) if "s3:ListBucket" in s["Action"]]
    assert listing["Resource"] == [source]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["uploads/*"]}}


def test_a_result_writer_prefix_must_be_literal_to_scope_the_role(tmp_path: Path) -> None:
    definition = tmp_path / "x.asl.json"
    definition.write_text(
        json.dumps(
            {
                "Type": "Map",
                "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}},
                "ResultWriter": {"Parameters": {"Bucket": "b", "Prefix": "${Runs}"}},
            }
        )
    )
    with pytest.raises(asl.DefinitionError, match="literal Prefix"):
        asl.result_writer_prefixes(definition)
    assert asl.result_writer_prefixes() == ["backfill-runs"]


MACHINE = "imagepipe-dev-backfill"
STATES = f"arn:aws:states:{REGION}:{ACCOUNT}"


# A Lambda timeout short enough for every child to fit in Express's 5 minutes, with every
# retry (infra/durations.py; the default 60 s is not).
EXPRESS_CHILDREN = Settings(lambda_timeout_seconds=3)
STANDARD_CHILD = f"{STATES}:execution:{MACHINE}/Process existing images:8f1b6c2e"
EXPRESS_CHILD = f"{STATES}:express:{MACHINE}/Process existing images:8f1b6c2e:d5c3a9e0"


@pytest.fixture(scope="module")
def express_children() -> Deployed:
    return deploy(EXPRESS_CHILDREN)


def _child_type(deployed: Deployed) -> str:
    machine = deployed.one("aws:sfn/stateMachine:StateMachine", "-backfill")
    mapped = json.loads(machine.inputs["definition"])["States"]["Process existing images"]
    return str(mapped["ItemProcessor"]["ProcessorConfig"]["ExecutionType"])


def test_backfill_children_are_express_only_when_their_worst_case_fits_5_minutes(
    deployed: Deployed, express_children: Deployed
) -> None:
    """A timed-out Express child skips every Catch: its object would get no dead letter."""
    child = asl.distributed_maps(asl.BACKFILL_FILE)[0]["ItemProcessor"]
    assert durations.longest_seconds(child, Settings().workload) > 300
    assert _child_type(deployed) == "STANDARD"
    assert durations.longest_seconds(child, EXPRESS_CHILDREN.workload) <= 300
    assert _child_type(express_children) == "EXPRESS"


@pytest.mark.parametrize(
    ("arn", "own_with_standard_children", "own_with_express_children"),
    [
        # The parent's own executions.
        (f"{STATES}:execution:{MACHINE}:0b5c1e4a-7d1f-4bfa-9f58-5b1e0b2f7c11", True, True),
        # Its children, labelled by their map run, in the form of their execution type.
        (STANDARD_CHILD, True, False),
        (EXPRESS_CHILD, False, True),
        # Not another state machine's executions, nor a name that merely starts the same.
        (f"{STATES}:execution:imagepipe-dev-workflow:0b5c1e4a", False, False),
        (f"{STATES}:execution:{MACHINE}2:0b5c1e4a", False, False),
        (f"{STATES}:execution:{MACHINE}2/label:1", False, False),
        (f"{STATES}:express:{MACHINE}2/label:1:2", False, False),
        (f"arn:aws:states:{REGION}:210987654321:execution:{MACHINE}:0b5c1e4a", False, False),
    ],
)
def test_the_backfill_describes_and_stops_exactly_its_own_executions(
    deployed: Deployed,
    express_children: Deployed,
    arn: str,
    own_with_standard_children: bool,
    own_with_express_children: bool,
) -> None:
    """Execution ARN forms, from the Service Authorization Reference for Step Functions:
    execution:<machine>:<id>, and a Distributed Map's children execution:<machine>/<map
    run label>:<id> (Standard) or express:<machine>/<map run label>:<id>:<express id>."""
    for stack, own in (
        (deployed, own_with_standard_children),
        (express_children, own_with_express_children),
    ):
        policy = role_policies(stack)["imagepipe-dev-backfill-role"]
        for action in ("states:DescribeExecution", "states:StopExecution"):
            granted = _grants(policy, action)
            assert any(glob_match(p, arn) for p in granted) is own, (action, granted)


def test_the_backfill_starts_only_itself(deployed: Deployed) -> None:
    policy = role_policies(deployed)["imagepipe-dev-backfill-role"]
    assert _grants(policy, "states:StartExecution") == [f"{STATES}:stateMachine:{MACHINE}"]


# --- the pipe's first deploy -----------------------------------------------------------


@pytest.fixture(scope="module")
def registered() -> tuple[Deployed, dict[str, set[str]]]:
    """The program with removals, and each resource's direct dependencies (by name) as
    the engine would receive them."""
    dependencies: dict[str, set[str]] = {}
    original: Any = MockMonitor.RegisterResource

    def register(self: MockMonitor, request: Any) -> Any:
        dependencies[request.name] = {urn.split("::")[-1] for urn in request.dependencies}
        return original(self, request)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(MockMonitor, "RegisterResource", register)
        deployed = deploy(Settings(delete_derivatives=True))
    return deployed, dependencies


def closure(dependencies: dict[str, set[str]], name: str) -> set[str]:
    seen: set[str] = set()
    todo = [name]
    while todo:
        for dependency in dependencies.get(todo.pop(), set()) - seen:
            seen.add(dependency)
            todo.append(dependency)
    return seen


@pytest.mark.parametrize(
    ("role", "pipe"), [("pipe-role", "ingest-pipe"), ("removal-pipe-role", "removal-pipe")]
)
def test_a_pipe_can_read_its_queue_long_before_it_is_created(
    registered: tuple[Deployed, dict[str, set[str]]], role: str, pipe: str
) -> None:
    """CreatePipe checks the role may read the source queue and the pipe ends
    CREATE_FAILED if IAM has not propagated it yet (the provider does not retry). So the
    queue statements depend on nothing but the role and the queue, and the slowest part
    of the deploy (the layer, the functions, the state machine) lies between them and
    the pipe; StartExecution, only checked when the pipe invokes, follows the machine."""
    deployed, dependencies = registered
    source = f"imagepipe-dev-{role}-policy"
    target = f"imagepipe-dev-{role}-target-policy"
    slow = {"imagepipe-dev-pillow", "imagepipe-dev-inspect"}  # the layer upload, a function
    machine = "imagepipe-dev-removal" if pipe.startswith("removal") else "imagepipe-dev-workflow"
    assert not closure(dependencies, source) & (slow | {machine})
    assert {source, target} <= dependencies[f"imagepipe-dev-{pipe}"]
    assert slow | {machine, source, target} <= closure(dependencies, f"imagepipe-dev-{pipe}")

    policies = {p.name: p.policy() for p in deployed.of_type("aws:iam/rolePolicy:RolePolicy")}
    queue = deployed.one("aws:pipes/pipe:Pipe", f"-{pipe}").inputs["source"]
    [reads] = statements(policies[source])
    assert (sorted(reads["Action"]), reads["Resource"]) == (
        ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
        [queue],
    )
    [starts] = statements(policies[target])
    arn = deployed.one(
        "aws:sfn/stateMachine:StateMachine", machine.removeprefix("imagepipe-dev")
    ).outputs["arn"]
    assert (starts["Action"], starts["Resource"]) == (["states:StartExecution"], [arn])
