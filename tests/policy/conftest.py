"""The program's resources under Pulumi mocks, as the policy rules see them."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from infra.settings import Settings
from policy import rules
from tests.infra.conftest import Deployed, deploy


def urn_of(typ: str, name: str) -> str:
    return f"urn:pulumi:dev::imagepipeline::{typ}::{name}"


def as_rule_resources(deployed: Deployed) -> list[rules.Resource]:
    """Recorded resources as a stack policy gets them: outputs as properties, with the refs
    (the mock's `<name>-id` ids, ARNs, bucket names) that other resources point at them by."""
    return [
        rules.Resource(
            type=r.typ,
            name=r.name,
            props=r.outputs,
            urn=urn_of(r.typ, r.name),
            refs=rules.refs_of(r.typ, r.outputs) | {f"{r.name}-id"},
        )
        for r in deployed.resources
    ]


def find(resources: Sequence[rules.Resource], typ: str, suffix: str) -> rules.Resource:
    [found] = [r for r in resources if r.type == typ and r.name.endswith(suffix)]
    return found


@pytest.fixture(scope="session")
def program() -> Deployed:
    """The default settings, deployed once under mocks (resources are only read)."""
    return deploy(Settings())


@pytest.fixture(scope="session")
def resources(program: Deployed) -> list[rules.Resource]:
    return as_rule_resources(program)
