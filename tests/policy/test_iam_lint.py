"""Every IAM document the program generates passes parliament with nothing above INFO.

Documents are found, not listed: any input of any recorded resource that is a JSON policy
document (role and trust policies, queue, bucket and topic policies, the key policy). What
is by design is allowlisted below, each entry with its reason, and an entry nothing needs
any more fails the suite so the list stays small. Linting runs with the network cut off.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import tests.infra.conftest as mocks
from infra.settings import Settings
from policy import rules
from policy.iam_lint import Finding, lint

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Document:
    typ: str
    resource: str
    where: str  # the property (path) holding it
    text: str
    service: str = ""  # for a role policy: the service its role trusts

    def __str__(self) -> str:
        return f"{self.resource}.{self.where}"


@dataclass(frozen=True)
class Allowed:
    """A finding that is by design, for the documents it is expected in."""

    typ: str
    where: str
    issue: str
    reason: str
    name_suffix: str = ""
    service: str = ""
    detail: str | None = None
    actions: frozenset[str] | None = None

    def covers(self, document: Document, finding: Finding) -> bool:
        return (
            document.typ == self.typ
            and document.where == self.where
            and document.resource.endswith(self.name_suffix)
            and document.service.startswith(self.service)
            and finding.issue == self.issue
            and (self.detail is None or finding.detail == self.detail)
            and (self.actions is None or finding.actions == self.actions)
        )


ALLOWLIST = (
    Allowed(
        rules.ROLE,
        "assumeRolePolicy",
        "MALFORMED",
        detail="Statement contains neither Resource nor NotResource",
        reason="A trust policy has no Resource element (the role is the resource);"
        " parliament lints every document as an identity policy.",
    ),
    Allowed(
        "aws:kms/key:Key",
        "policy",
        "RESOURCE_STAR",
        name_suffix="-topics-key",
        reason='In a key policy Resource "*" means the key itself; there is nothing narrower.',
    ),
    Allowed(
        "aws:kms/key:Key",
        "policy",
        "PERMISSIONS_MANAGEMENT_ACTIONS",
        name_suffix="-topics-key",
        actions=frozenset(
            {
                "kms:creategrant",
                "kms:createkey",
                "kms:putkeypolicy",
                "kms:retiregrant",
                "kms:revokegrant",
            }
        ),
        reason="AWS's default key policy statement: the account root holds kms:* so that IAM"
        " policies decide who uses the key; without it the key could not be managed.",
    ),
    Allowed(
        "aws:kms/key:Key",
        "policy",
        "RESOURCE_STAR",
        name_suffix="-upload-api-logs-key",
        reason='In a key policy Resource "*" means the key itself; there is nothing narrower.',
    ),
    Allowed(
        "aws:kms/key:Key",
        "policy",
        "PERMISSIONS_MANAGEMENT_ACTIONS",
        name_suffix="-upload-api-logs-key",
        actions=frozenset(
            {
                "kms:creategrant",
                "kms:createkey",
                "kms:putkeypolicy",
                "kms:retiregrant",
                "kms:revokegrant",
            }
        ),
        reason="AWS's default key policy statement (as for the topics' key).",
    ),
    Allowed(
        rules.ROLE_POLICY,
        "policy",
        "PERMISSIONS_MANAGEMENT_ACTIONS",
        service="states.amazonaws.com",
        actions=frozenset({"logs:putresourcepolicy"}),
        reason="A state machine's role needs logs:PutResourcePolicy to deliver its logs"
        " (AWS's documented policy for Step Functions logging to CloudWatch Logs).",
    ),
    Allowed(
        rules.ROLE_POLICY,
        "policy",
        "RESOURCE_MISMATCH",
        name_suffix="-backfill-role-policy",
        actions=frozenset({"states:describeexecution"}),
        reason="parliament wants an express: ARN in every states:DescribeExecution grant;"
        " a backfill whose children are Standard (the default timeout) has no Express"
        " executions to describe, and granting one would be a grant for nothing"
        " (infra/durations.py child_execution_type).",
    ),
)


def realistic_arn(typ: str, name: str) -> str:
    """The mocks' ARNs, except KMS keys: a real one ends in key/<id>, and parliament
    (rightly) reports kms actions on anything else as matching no resource."""
    if typ.startswith("aws:kms/key:"):
        key_id = uuid.uuid5(uuid.NAMESPACE_URL, name)
        return f"arn:aws:kms:{mocks.REGION}:{mocks.ACCOUNT}:key/{key_id}"
    return _MOCK_ARN(typ, name)


_MOCK_ARN = mocks.fake_arn


def policy_documents(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """(path, text) of every JSON policy document inside a resource input."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return
        if isinstance(parsed, Mapping) and "Statement" in parsed:
            yield where, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from policy_documents(item, f"{where}.{key}" if where else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from policy_documents(item, f"{where}[{index}]")


@pytest.fixture(scope="module")
def documents() -> list[Document]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mocks, "fake_arn", realistic_arn)
        # Every optional part that brings documents of its own: the upload API (its
        # function's role, its access logs' key).
        deployed = mocks.deploy(
            Settings(
                upload_api=True,
                upload_api_issuer="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc1",
                upload_api_audience=("web-client",),
            )
        )
    trusts = {
        f"{role.name}-id": statement["Principal"].get("Service", "")
        for role in deployed.of_type(rules.ROLE)
        for statement in rules.statements(role.policy("assumeRolePolicy"))
    }
    return [
        Document(r.typ, r.name, where, text, trusts.get(r.inputs.get("role", ""), ""))
        for r in deployed.resources
        for where, text in policy_documents(r.inputs, "")
    ]


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """The linter must work offline: any attempt to reach the network fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"the IAM linter tried to use the network: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_every_kind_of_generated_document_is_linted(documents: list[Document]) -> None:
    kinds = {d.typ for d in documents}
    assert kinds == {
        rules.ROLE,  # trust policies
        rules.ROLE_POLICY,
        "aws:sqs/queuePolicy:QueuePolicy",
        rules.BUCKET_POLICY,
        "aws:sns/topicPolicy:TopicPolicy",
        "aws:kms/key:Key",
    }
    roles = [d for d in documents if d.typ == rules.ROLE]
    assert [d.where for d in roles] == ["assumeRolePolicy"] * len(roles)
    assert {d.service for d in documents if d.typ == rules.ROLE_POLICY} >= {
        "lambda.amazonaws.com",
        "states.amazonaws.com",
        "pipes.amazonaws.com",
    }


def test_no_document_has_a_finding_above_info(documents: list[Document]) -> None:
    problems = [
        f"{document}: {finding}"
        for document in documents
        for finding in lint(document.text)
        if finding.above_info and not any(a.covers(document, finding) for a in ALLOWLIST)
    ]
    assert problems == [], "\n".join(problems)


def test_every_allowlist_entry_is_still_needed(documents: list[Document]) -> None:
    used = {
        allowed
        for document in documents
        for finding in lint(document.text)
        for allowed in ALLOWLIST
        if allowed.covers(document, finding)
    }
    assert set(ALLOWLIST) - used == set()
    assert all(a.reason for a in ALLOWLIST)


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.mark.parametrize(
    ("document", "issue"),
    [
        (_doc({"Effect": "Allow", "Action": "s3:GetObjekt", "Resource": "*"}), "UNKNOWN_ACTION"),
        (
            _doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b"}),
            "RESOURCE_MISMATCH",
        ),
        (
            _doc(
                {
                    "Effect": "Allow",
                    "Action": "sqs:SendMessage",
                    "Resource": "arn:aws:sqs:eu-west-1:123456789012:q",
                    "Condition": {"StringEqualz": {"aws:SourceAccount": "123456789012"}},
                }
            ),
            "UNKNOWN_OPERATOR",
        ),
        (
            _doc({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}),
            "PERMISSIONS_MANAGEMENT_ACTIONS",
        ),
        (
            _doc({"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}),
            "RESOURCE_STAR",
        ),
    ],
    ids=["typo", "object-action-on-bucket", "bad-operator", "pass-role", "needless-star"],
)
def test_the_linter_catches_mistakes(document: str, issue: str) -> None:
    findings = lint(document)
    assert issue in {f.issue for f in findings if f.above_info}, findings


def test_the_linter_works_without_pkg_resources() -> None:
    """setuptools 81 drops pkg_resources, which parliament imports: the stand-in covers it."""
    script = (
        "import sys; sys.modules['pkg_resources'] = None\n"
        "from policy.iam_lint import lint\n"
        'doc = \'{"Version": "2012-10-17", "Statement": '
        '[{"Effect": "Allow", "Action": "s3:GetObjekt", "Resource": "*"}]}\'\n'
        "print(sorted(f.issue for f in lint(doc)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error::UserWarning", "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "UNKNOWN_ACTION" in result.stdout
