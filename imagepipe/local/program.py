"""Run the Pulumi program (`__main__.py`, unchanged) under Pulumi's mock runtime, with
the stack's config as the Pulumi CLI would hand it over, the mocks creating each resource
in moto (imagepipe.local.providers.MotoMocks).
"""

from __future__ import annotations

import json
import runpy
from collections.abc import Mapping
from typing import Any

import pulumi
import yaml

from infra.settings import PROJECT, PROJECT_DIR, Settings, load_settings, read_stack_config


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def stack_config(stack: str, overrides: Mapping[str, Any]) -> dict[str, str]:
    """The stack's config as the Pulumi CLI hands it to a program: namespaced keys, text values.

    Project keys come from `infra.settings.read_stack_config` (Pulumi.yaml defaults under
    Pulumi.<stack>.yaml); structured values are JSON text, which `load_settings` parses.
    Keys of other namespaces (aws:region) come from the stack file as they are.
    `overrides` act like `pulumi config set` for this run (keys with or without the
    project namespace).
    """
    config = {f"{PROJECT}:{key}": _text(value) for key, value in read_stack_config(stack).items()}
    stack_file = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text()) or {}
    for key, value in (stack_file.get("config") or {}).items():
        if not key.startswith(f"{PROJECT}:"):
            config[key] = _text(value)
    for key, value in overrides.items():
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
    mocks: pulumi.runtime.Mocks, stack: str, config: Mapping[str, str]
) -> dict[str, Any]:
    """Run the Pulumi program under `mocks` as stack `stack`; return its exported outputs.

    Raises whatever the program or a resource creation raised (the first error).
    """
    # A fresh root Stack per run: a process may deploy several local stacks.
    pulumi.runtime.settings.reset_options(project=PROJECT, stack=stack, preview=False)
    pulumi.runtime.set_all_config(dict(config))
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False)
    outputs: dict[str, Any] = {}

    def apply() -> pulumi.Output[Any]:
        runpy.run_path(str(PROJECT_DIR / "__main__.py"), run_name="__main__")
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
        pulumi.runtime.settings.reset_options(project=PROJECT, stack=stack, preview=False)
    return outputs
