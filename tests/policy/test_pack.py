"""The policy pack as the Pulumi CLI runs it, without the CLI.

`PolicyPack(...)` does not return: it starts the analyzer's gRPC server and serves until
the engine stops it. So the pack is started the way the CLI's python analyzer plugin starts
it (`python -u -m pulumi.policy <engine> <pack dir>`, which prints the port), and these
tests speak the engine's side of the Analyzer protocol to it: GetAnalyzerInfo, Analyze for
each resource's inputs, AnalyzeStack for the whole stack's outputs.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy import rules
from policy.pack import POLICIES
from tests.infra.conftest import Deployed, Resource
from tests.policy.conftest import urn_of

ROOT = Path(__file__).resolve().parents[2]
MANDATORY = analyzer_pb2.EnforcementLevel.Value("MANDATORY")


def test_the_pack_holds_every_rule_once() -> None:
    names = [p.name for p in POLICIES]
    assert len(names) == len(set(names))
    resource = {p.name for p in POLICIES if isinstance(p, ResourceValidationPolicy)}
    stack = {p.name for p in POLICIES if isinstance(p, StackValidationPolicy)}
    assert resource == {r.name for r in rules.RESOURCE_RULES}
    assert stack == {r.name for r in rules.STACK_RULES}


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """policy/__main__.py, served the way the CLI serves a Python policy pack."""
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", str(ROOT / "policy")],
        cwd=ROOT / "policy",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().strip()
        if not port.isdigit():
            process.kill()
            _, err = process.communicate(timeout=30)
            pytest.fail(f"the policy pack did not start: {port!r}\n{err}")
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.terminate()
        process.communicate(timeout=30)


def struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    """Properties as the engine sends them; assets and archives are left out."""
    return json_format.ParseDict(jsonable(props), struct_pb2.Struct())


def jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: jsonable(v) for k, v in value.items() if _is_json(v)}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value if _is_json(v)]
    return value


def _is_json(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool | Mapping | list | tuple)


def stack_request(
    resources: list[Resource],
    dependencies: Mapping[str, Mapping[str, list[str]]] | None = None,
    *,
    preview: bool = False,
) -> analyzer_pb2.AnalyzeStackRequest:
    """The stack as the engine sends it: outputs, which include the id (unknown in preview)."""
    dependencies = dependencies or {}
    return analyzer_pb2.AnalyzeStackRequest(
        resources=[
            analyzer_pb2.AnalyzerResource(
                type=r.typ,
                name=r.name,
                urn=urn_of(r.typ, r.name),
                properties=struct(
                    {**r.outputs, "id": UNKNOWN_STRING_VALUE if preview else f"{r.name}-id"}
                ),
                propertyDependencies={
                    key: analyzer_pb2.AnalyzerPropertyDependencies(urns=urns)
                    for key, urns in dependencies.get(r.name, {}).items()
                },
            )
            for r in resources
        ]
    )


def analyze(stub: analyzer_pb2_grpc.AnalyzerStub, r: Resource) -> analyzer_pb2.AnalyzeResponse:
    request = analyzer_pb2.AnalyzeRequest(
        type=r.typ, name=r.name, urn=urn_of(r.typ, r.name), properties=struct(r.inputs)
    )
    response: analyzer_pb2.AnalyzeResponse = stub.Analyze(request)
    return response


def test_the_served_pack_is_the_guardrails_pack_and_mandatory(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "imagepipeline-guardrails"
    assert {p.name for p in info.policies} == {p.name for p in POLICIES}
    assert {p.enforcementLevel for p in info.policies} == {MANDATORY}


def test_the_program_passes_the_served_pack(
    analyzer: analyzer_pb2_grpc.AnalyzerStub, program: Deployed
) -> None:
    for resource in program.resources:
        response = analyze(analyzer, resource)
        assert list(response.diagnostics) == [], resource.name
    response = analyzer.AnalyzeStack(stack_request(program.resources))
    assert list(response.diagnostics) == []


def test_the_served_pack_reports_broken_resources_by_name(
    analyzer: analyzer_pb2_grpc.AnalyzerStub, program: Deployed
) -> None:
    queue = program.one("aws:sqs/queue:Queue", "-ingest")
    broken_queue = Resource(
        queue.typ, queue.name, {**queue.inputs, "sqsManagedSseEnabled": False}, {}
    )
    [diagnostic] = analyze(analyzer, broken_queue).diagnostics
    assert diagnostic.policyName == "sqs-queue-encrypted"
    assert diagnostic.enforcementLevel == MANDATORY
    assert "'imagepipe-dev-ingest'" in diagnostic.message

    block = program.one(rules.PUBLIC_ACCESS_BLOCK, "-source-public-access")
    response = analyzer.AnalyzeStack(
        stack_request([r for r in program.resources if r is not block])
    )
    [diagnostic] = response.diagnostics
    assert diagnostic.policyName == "s3-bucket-guardrails"
    assert diagnostic.urn == urn_of("aws:s3/bucket:Bucket", "imagepipe-dev-source")
    assert "'imagepipe-dev-source' has no public access block" in diagnostic.message


def test_the_served_pack_copes_with_a_first_preview(
    analyzer: analyzer_pb2_grpc.AnalyzerStub, program: Deployed
) -> None:
    """On a first preview ids, ARNs and the documents built from them are unknown. The pack
    still relates bucket-level resources to their bucket through property dependencies,
    checks what is known, and leaves the rest for the update."""
    unknown = UNKNOWN_STRING_VALUE
    preview: list[Resource] = []
    dependencies: dict[str, dict[str, list[str]]] = {}
    buckets = {f"{b.name}-id": b for b in program.of_type("aws:s3/bucket:Bucket")}
    for r in program.resources:
        outputs = {**r.inputs, "arn": unknown}
        if r.typ in rules.BUCKET_TYPES:
            outputs["bucket"] = unknown
        if r.inputs.get("bucket") in buckets:
            bucket = buckets[r.inputs["bucket"]]
            outputs["bucket"] = unknown
            dependencies[r.name] = {"bucket": [urn_of(bucket.typ, bucket.name)]}
        for key in ("policy", "assumeRolePolicy"):
            if key in outputs:
                outputs[key] = unknown
        preview.append(Resource(r.typ, r.name, r.inputs, outputs))
    response = analyzer.AnalyzeStack(stack_request(preview, dependencies, preview=True))
    assert list(response.diagnostics) == []

    block = next(r for r in preview if r.typ == rules.PUBLIC_ACCESS_BLOCK)
    response = analyzer.AnalyzeStack(
        stack_request([r for r in preview if r is not block], dependencies, preview=True)
    )
    [diagnostic] = response.diagnostics
    assert diagnostic.policyName == "s3-bucket-guardrails"
    assert "has no public access block" in diagnostic.message
