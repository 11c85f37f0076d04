"""The guardrails with the upload API: its route needs an authorizer, its stage logs and is
throttled, and its presigner is the one role that may put objects in the watched bucket,
only under a prefix and only while an authorized route alone reaches its function."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from infra.settings import Settings
from policy import rules
from tests.infra.conftest import deploy
from tests.policy.conftest import as_rule_resources, find
from tests.policy.test_rules import changed

Resources = list[rules.Resource]
SOURCE = "arn:aws:s3:::imagepipe-dev-source"


@pytest.fixture(scope="module")
def with_api() -> Resources:
    settings = Settings(
        upload_api=True,
        upload_api_issuer="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc123",
        upload_api_audience=("web-client",),
        cors_origins=("https://app.example.com",),
    )
    return as_rule_resources(deploy(settings))


def names(violations: list[rules.Violation]) -> set[tuple[str, str]]:
    return {(v.rule, v.resource) for v in violations}


def test_the_upload_api_passes_every_rule(with_api: Resources) -> None:
    assert rules.evaluate(with_api) == []
    assert {rules.API_ROUTE, rules.API_STAGE} <= {r.type for r in with_api}
    assert [r.name for r in rules.presigning_roles(with_api)] == ["imagepipe-dev-upload-role"]


def test_a_route_open_to_anyone_fails_and_loses_the_presigner(with_api: Resources) -> None:
    opened = changed(with_api, rules.API_ROUTE, "-upload-api-route", authorizationType="NONE")
    found = names(rules.evaluate(opened))
    assert ("api-route-authorized", "imagepipe-dev-upload-api-route") in found
    # Its function now hands out uploads to anyone: its PutObject is a write like any other.
    assert ("no-writes-to-source-bucket", "imagepipe-dev-upload-role-policy") in found


def test_a_jwt_route_without_its_authorizer_fails(with_api: Resources) -> None:
    broken = changed(with_api, rules.API_ROUTE, "-upload-api-route", authorizerId=None)
    assert ("api-route-authorized", "imagepipe-dev-upload-api-route") in names(
        rules.evaluate(broken)
    )


@pytest.mark.parametrize(
    "props",
    [{"accessLogSettings": None}, {"defaultRouteSettings": None}],
    ids=["no-access-logs", "not-throttled"],
)
def test_a_stage_without_logs_or_limits_fails(with_api: Resources, props: dict[str, Any]) -> None:
    broken = changed(with_api, rules.API_STAGE, "-upload-api-stage", **props)
    violations = [v for v in rules.evaluate(broken) if v.rule == "api-stage-logged-and-throttled"]
    assert [v.resource for v in violations] == ["imagepipe-dev-upload-api-stage"]


def presigner_granting(with_api: Resources, statement: dict[str, Any]) -> Resources:
    policy = find(with_api, rules.ROLE_POLICY, "-upload-role-policy")
    document = json.loads(policy.props["policy"])
    document["Statement"] = [
        statement if s["Sid"] == "PresignUploads" else s for s in document["Statement"]
    ]
    return [replace(r, props={**r.props, "policy": json.dumps(document)}) if r is policy else r
            for r in with_api]  # fmt: skip


@pytest.mark.parametrize(
    "statement",
    [
        {"Action": ["s3:PutObject"], "Resource": [f"{SOURCE}/*"]},
        {"Action": ["s3:PutObject", "s3:DeleteObject"], "Resource": [f"{SOURCE}/uploads/*"]},
        {"Action": ["s3:Put*"], "Resource": [f"{SOURCE}/uploads/*"]},
        {"Action": ["s3:PutObject"], "Resource": [f"{SOURCE}/*/x/*"]},
    ],
    ids=["whole-bucket", "delete-too", "wildcard-action", "wildcard-prefix"],
)
def test_the_presigner_may_only_put_under_a_prefix(
    with_api: Resources, statement: dict[str, Any]
) -> None:
    broadened = presigner_granting(
        with_api, {"Sid": "PresignUploads", "Effect": "Allow", **statement}
    )
    assert ("no-writes-to-source-bucket", "imagepipe-dev-upload-role-policy") in names(
        rules.evaluate(broadened)
    )


def test_no_other_role_may_put_uploads(with_api: Resources) -> None:
    resize = find(with_api, rules.ROLE_POLICY, "-resize-role-policy")
    document = json.loads(resize.props["policy"])
    document["Statement"].append(
        {"Sid": "Sneaky", "Effect": "Allow", "Action": ["s3:PutObject"],
         "Resource": [f"{SOURCE}/uploads/*"]}
    )  # fmt: skip
    sneaky = [replace(r, props={**r.props, "policy": json.dumps(document)}) if r is resize else r
              for r in with_api]  # fmt: skip
    assert ("no-writes-to-source-bucket", "imagepipe-dev-resize-role-policy") in names(
        rules.evaluate(sneaky)
    )
