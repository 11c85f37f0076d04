"""What every provider module shares: the handler contract, the errors, and the helpers
that turn Pulumi's resolved inputs (camelCase, numbers already whole) into the arguments
of AWS API calls. Policies arrive as the JSON text the provider's schema types them as
(the program writes them with Output.json_dumps) and go to the API as they are."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import pulumi

Inputs = Mapping[str, Any]
Outputs = dict[str, Any]


if TYPE_CHECKING:
    from imagepipe.local.providers import MotoMocks

# A handler gets the deployment (clients on moto, region, account), the resource's logical
# name and inputs, and returns its id and the outputs the provider would compute.
Context: TypeAlias = "MotoMocks"
Handler = Callable[[Context, str, Inputs], tuple[str, Outputs]]


class UnsupportedResourceError(RuntimeError):
    """The program registered a resource (or called a function) the local stack cannot create."""


class RefusedByAwsError(RuntimeError):
    """AWS would refuse to create the resource as configured (the deploy would fail)."""


@dataclass(frozen=True)
class CreatedResource:
    """One resource as created in the emulator: Pulumi type, logical name, id, outputs."""

    typ: str
    name: str
    id: str
    outputs: Outputs


def physical_name(
    logical: str, inputs: Inputs, key: str = "name", prefix_key: str = "namePrefix"
) -> str:
    """The name the provider would give: explicit, else prefix + unique id, else auto-name."""
    explicit = inputs.get(key)
    if explicit:
        return str(explicit)
    prefix = inputs.get(prefix_key)
    if prefix:
        # The AWS provider appends a 26-character unique id to a name prefix.
        return f"{prefix}{secrets.token_hex(13)}"
    return f"{logical}-{secrets.token_hex(4)[:7]}"  # Pulumi auto-naming: 7 hex digits


def pascal(value: Any, renames: Mapping[str, str] | None = None) -> Any:
    """camelCase keys (Pulumi inputs) to the API's PascalCase, recursively; drops None.

    Only for structures whose keys are all schema names: never for maps of user keys
    (environment variables, tags), which must keep their spelling.
    """
    renames = renames or {}
    if isinstance(value, dict):
        return {
            renames.get(k, k[:1].upper() + k[1:]): pascal(v, renames)
            for k, v in value.items()
            if v is not None
        }
    if isinstance(value, list):
        return [pascal(v, renames) for v in value]
    return value


def whole_numbers(value: Any) -> Any:
    """Pulumi's wire format carries every number as a float: 30 arrives as 30.0, which
    AWS APIs taking integers (as text, e.g. SQS attributes) refuse. Restore integers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [whole_numbers(v) for v in value]
    return value


def archive_bytes(archive: Any) -> bytes:
    """The zip bytes of a `pulumi.FileArchive`: the program's code is always a built zip file
    (infra/packaging.py, or a zip named by functionArchive/layerArchive, which settings check)."""
    path = Path(getattr(archive, "path", ""))
    if not isinstance(archive, pulumi.FileArchive) or not path.is_file():
        raise UnsupportedResourceError(
            f"the local stack takes code as a pulumi.FileArchive of a zip file, got {archive!r}"
        )
    return path.read_bytes()


def given(inputs: Inputs, *keys: str) -> dict[str, Any]:
    """The optional inputs named in `keys` that are set, as API arguments (PascalCase)."""
    return {key[:1].upper() + key[1:]: inputs[key] for key in keys if inputs.get(key)}


def attributes(inputs: Inputs, mapping: Mapping[str, str]) -> dict[str, str]:
    """The text attributes of a queue, topic or subscription (SQS, SNS): the inputs named in
    `mapping` (input key -> attribute name) that are set, as the text the API stores."""
    return {
        attribute: str(value).lower() if isinstance(value, bool) else str(value)
        for key, attribute in mapping.items()
        if (value := inputs.get(key)) not in (None, "")
    }
