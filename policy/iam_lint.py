"""Lint IAM policy documents with parliament, offline.

parliament (duo-labs) ships AWS's catalogue of IAM actions, resource ARN formats and
condition keys inside the package (iam_definition.json), so it lints without any AWS call
or network access. It checks a document for unknown actions and prefixes, resources that
no action in the statement applies to, malformed ARNs and condition operators, type
mismatches in conditions, Resource "*" where the actions could be scoped, and (with its
community auditors) permissions-management, privilege-escalation and credential-exposure
actions. See policy/README.md for why parliament and not another linter.
"""

from __future__ import annotations

import importlib
import importlib.resources
import json
import sys
import types
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

SEVERITIES: Final = ("INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL")


def _pkg_resources_stand_in() -> types.ModuleType:
    """The one pkg_resources call parliament makes, on importlib.resources."""
    module = types.ModuleType("pkg_resources")

    def resource_filename(package: str, name: str) -> str:
        return str(importlib.resources.files(package) / name)

    module.resource_filename = resource_filename  # type: ignore[attr-defined]
    return module


def _import_parliament() -> Any:
    """parliament 1.6.4 finds its data files with pkg_resources, which setuptools has
    deprecated (it warns on import) and removes from version 81. Use it while it is there,
    without the warning; where it is gone, stand in for the one function parliament calls."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning)
        try:
            importlib.import_module("pkg_resources")
        except ImportError:
            sys.modules["pkg_resources"] = _pkg_resources_stand_in()
        parliament = importlib.import_module("parliament")
    # The community auditors' findings are described in their own config file.
    community = importlib.resources.files("parliament") / "community_auditors"
    parliament.override_config(str(community / "config_override.yaml"))
    return parliament


_parliament: Final = _import_parliament()


@dataclass(frozen=True)
class Finding:
    issue: str
    severity: str
    title: str
    detail: str
    # The actions a finding is about, when it names them (lower case, as parliament does).
    actions: frozenset[str] = frozenset()

    @property
    def above_info(self) -> bool:
        return SEVERITIES.index(self.severity) > 0

    def __str__(self) -> str:
        actions = f" {sorted(self.actions)}" if self.actions else ""
        return f"{self.severity} {self.issue}: {self.title} {self.detail}{actions}".rstrip()


def lint(document: str | Mapping[str, Any]) -> list[Finding]:
    """parliament's findings for one policy document (identity, resource or trust policy)."""
    text = document if isinstance(document, str) else json.dumps(document)
    analyzed = _parliament.analyze_policy_string(
        text, ignore_private_auditors=True, include_community_auditors=True
    )
    return [_finding(_parliament.enhance_finding(f)) for f in analyzed.findings]


def _finding(raw: Any) -> Finding:
    detail = raw.detail
    location = raw.location if isinstance(raw.location, Mapping) else {}
    # Findings name their actions in one of three places, depending on the auditor.
    listed = detail if isinstance(detail, list) else []
    actions = location.get("actions") or [
        item.get("action") if isinstance(item, Mapping) else item for item in listed
    ]
    return Finding(
        issue=str(raw.issue),
        severity=str(raw.severity).upper(),
        title=str(raw.title),
        detail=detail if isinstance(detail, str) else json.dumps(detail, default=str),
        actions=frozenset(str(a).lower() for a in actions),
    )
