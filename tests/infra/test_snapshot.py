"""The resources the component registers, pinned: type, name, parent, dependencies and
inputs of each, for a default stack and one with every optional part.

A change to infra/ that should not change what is deployed (a refactor) must leave this
snapshot as it is; a change that should must update it, on purpose, and the diff of
tests/infra/snapshots/resources.json shows reviewers what changes in the stack:

    IMAGEPIPE_UPDATE_SNAPSHOT=1 .venv/bin/pytest tests/infra/test_snapshot.py

Archive paths and code hashes are left out: they follow functions/ and the layer build,
not the program's wiring.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Final

import pulumi
import pytest
from pulumi.runtime.mocks import MockMonitor

from infra.settings import Settings
from tests.infra.conftest import deploy

SNAPSHOT: Final = Path(__file__).parent / "snapshots" / "resources.json"
VARIANTS: Final = {
    "default": Settings(),
    "everything": Settings(
        workflow_type="EXPRESS",
        lambda_timeout_seconds=5,
        delete_derivatives=True,
        notification_email="ops@example.com",
        alarm_email="pager@example.com",
        backup_transition_days=0,
        backup_expiration_days=0,
        upload_api=True,
        upload_api_issuer="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc123",
        upload_api_audience=("web-client",),
        cors_origins=("https://app.example.com",),
    ),
}
# Inputs that follow the code and the wheels, not the program.
UNPINNED: Final = frozenset({"code", "sourceCodeHash"})


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in sorted(value.items()) if k not in UNPINNED}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, pulumi.Archive | pulumi.Asset):
        return type(value).__name__
    return value


def registered(settings: Settings) -> dict[str, Any]:
    """Every resource by type and name: its parent, dependencies, aliases and inputs."""
    wiring: dict[str, dict[str, Any]] = {}
    original: Any = MockMonitor.RegisterResource

    def register(self: MockMonitor, request: Any) -> Any:
        wiring[f"{request.type}::{request.name}"] = {
            "parent": request.parent.split("::")[-1],
            "dependencies": sorted(urn.split("::")[-1] for urn in request.dependencies),
            "aliases": sorted(str(alias).replace("\n", " ").strip() for alias in request.aliases),
        }
        return original(self, request)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(MockMonitor, "RegisterResource", register)
        deployed = deploy(settings)
    return {
        f"{r.typ}::{r.name}": {**wiring[f"{r.typ}::{r.name}"], "inputs": _plain(r.inputs)}
        for r in sorted(deployed.resources, key=lambda r: (r.typ, r.name))
    }


def test_the_registered_resources_match_the_snapshot() -> None:
    current = {variant: registered(settings) for variant, settings in VARIANTS.items()}
    if os.environ.get("IMAGEPIPE_UPDATE_SNAPSHOT"):
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
    pinned = json.loads(SNAPSHOT.read_text())
    for variant in VARIANTS:
        assert set(current[variant]) == set(pinned[variant]), variant
        for urn, resource in current[variant].items():
            assert resource == pinned[variant][urn], f"{variant}: {urn}"
