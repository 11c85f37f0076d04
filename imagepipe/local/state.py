"""The state file of a running `imagepipe local serve`, `.imagepipe/local-<stack>.json` in
the project folder (or $IMAGEPIPE_STATE_DIR): its endpoint, pid and the stack's outputs,
how the commands find it. One server per stack: a second `serve` is refused while the
first one answers (`claim`), instead of taking its state file over.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from infra.settings import PROJECT_DIR

STATE_VERSION: Final = 1


class StateFileError(RuntimeError):
    """No usable state file (no local stack running, or a stale or foreign one)."""


class AlreadyServedError(RuntimeError):
    """Another `imagepipe local serve` already serves this stack."""


def state_file(stack: str) -> Path:
    """`local-<stack>.json` in $IMAGEPIPE_STATE_DIR, or in `.imagepipe/` in the project
    folder (so every command finds it from any folder)."""
    configured = os.environ.get("IMAGEPIPE_STATE_DIR", "").strip()
    folder = Path(configured) if configured else PROJECT_DIR / ".imagepipe"
    return folder / f"local-{stack}.json"


def write_state(path: Path, document: Mapping[str, Any]) -> Path:
    """Write the state file atomically (a reader never sees half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps({"version": STATE_VERSION, **document}, indent=2) + "\n")
    partial.replace(path)
    return path


def read_state(stack: str) -> dict[str, Any]:
    """The state file's document, or StateFileError saying what to do."""
    path = state_file(stack)
    hint = f"start it with `imagepipe local serve --stack {stack}`"
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise StateFileError(
            f"no local stack {stack!r} is running ({path} is missing): {hint}"
        ) from None
    except (OSError, ValueError) as err:
        raise StateFileError(f"cannot read {path} ({err}): {hint}") from None
    if not isinstance(document, dict) or document.get("version") != STATE_VERSION:
        raise StateFileError(f"{path} was written by another version of imagepipe: {hint}")
    return document


def reachable(endpoint: str, timeout: float = 1.0) -> bool:
    """Whether anything accepts connections at the endpoint's host and port."""
    parts = urlsplit(endpoint)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def claim(stack: str) -> None:
    """Refuse to serve `stack` when another server of it still answers.

    A state file whose server no longer answers is stale (a server that was killed):
    the new server may replace it.
    """
    try:
        document = read_state(stack)
    except StateFileError:
        return
    endpoint = str(document.get("endpoint") or "")
    if endpoint and reachable(endpoint):
        raise AlreadyServedError(
            f"stack {stack!r} is already served at {endpoint} (pid {document.get('pid', '?')}, "
            f"{state_file(stack)}): use that server, stop it first, or serve "
            "another stack with --stack NAME"
        )
