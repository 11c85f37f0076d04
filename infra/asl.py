"""Render the state machine definition file: fill `${Name}` placeholders.

Pure (no Pulumi): the program calls it inside `Output.all(...).apply(...)`, the tests
and the local stack call it directly, so AWS and the emulator run one definition.

A string that is exactly one placeholder takes the value with its JSON type (so
`"MaxConcurrency": "${MapMaxConcurrency}"` becomes a number and the file stays valid
JSON); a placeholder inside a longer string is replaced by the value's text.
`string.Template` is not used: it would also act on `$$.Execution...` paths.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

PLACEHOLDER: Final = re.compile(r"\$\{([A-Za-z][A-Za-z0-9_]*)\}")
STATEMACHINE_DIR: Final = Path(__file__).resolve().parent.parent / "statemachine"
DEFINITION_FILE: Final = STATEMACHINE_DIR / "pipeline.asl.json"
BACKFILL_FILE: Final = STATEMACHINE_DIR / "backfill.asl.json"
REMOVAL_FILE: Final = STATEMACHINE_DIR / "removal.asl.json"


class DefinitionError(ValueError):
    """The template and the values given for it do not match."""


def placeholders(template: str) -> set[str]:
    """Every placeholder name used in a template."""
    return set(PLACEHOLDER.findall(template))


def render(template: str, values: Mapping[str, Any]) -> str:
    """Fill every placeholder; raise DefinitionError on unknown or unfilled names."""
    used = placeholders(template)
    unfilled = sorted(used - set(values))
    if unfilled:
        raise DefinitionError(f"no value for placeholder(s): {', '.join(unfilled)}")
    unknown = sorted(set(values) - used)
    if unknown:
        raise DefinitionError(
            f"value(s) for placeholder(s) not in the template: {', '.join(unknown)}"
        )
    try:
        document = json.loads(template)
    except json.JSONDecodeError as err:
        raise DefinitionError(f"the template is not valid JSON: {err}") from None

    def fill(node: Any) -> Any:
        if isinstance(node, dict):
            return {fill(k): fill(v) for k, v in node.items()}
        if isinstance(node, list):
            return [fill(v) for v in node]
        if isinstance(node, str):
            whole = PLACEHOLDER.fullmatch(node)
            if whole:
                return values[whole.group(1)]
            return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), node)
        return node

    rendered = json.dumps(fill(document), indent=2, ensure_ascii=False)
    if "${" in rendered:
        raise DefinitionError("a placeholder survived rendering (a value contains '${'?)")
    return rendered


def render_file(values: Mapping[str, Any], path: Path = DEFINITION_FILE) -> str:
    """Render the pipeline's definition file."""
    return render(path.read_text(encoding="utf-8"), values)


def distributed_maps(path: Path) -> list[dict[str, Any]]:
    """Every Map state in Distributed mode in a definition file, as written (unrendered)."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            config = (node.get("ItemProcessor") or {}).get("ProcessorConfig") or {}
            if node.get("Type") == "Map" and config.get("Mode") == "DISTRIBUTED":
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(path.read_text(encoding="utf-8")))
    return found


def result_writer_prefixes(path: Path = BACKFILL_FILE) -> list[str]:
    """The key prefix every Distributed Map in a definition file writes its results under.

    Read from the file itself, so the IAM grant for the ResultWriter cannot drift from
    where the definition writes. The prefix must be a literal (the role is scoped to it).
    """
    prefixes: list[str] = []
    for state in distributed_maps(path):
        if "ResultWriter" not in state:
            continue
        prefix = (state["ResultWriter"].get("Parameters") or {}).get("Prefix")
        if not isinstance(prefix, str) or not prefix or PLACEHOLDER.search(prefix):
            raise DefinitionError(
                f"{path.name}: a ResultWriter needs a literal Prefix to scope its role"
            )
        prefixes.append(prefix)
    return prefixes
