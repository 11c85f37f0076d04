"""Reading the handlers' configuration from the environment, once, at import.

A missing or malformed value fails the import with a message naming the variable, so a
misconfigured function fails its first invocation loudly instead of misbehaving.
"""

from __future__ import annotations

import os


def env_int(name: str, default: int) -> int:
    """A positive whole number, or `default` when unset."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise RuntimeError(
            f"environment variable {name} must be a whole number, got {raw!r}"
        ) from None
    if value < 1:
        raise RuntimeError(f"environment variable {name} must be at least 1, got {value}")
    return value


def required(name: str) -> str:
    """A non-empty string."""
    value = os.environ.get(name, "").strip()
    if not value:
        raise RuntimeError(f"environment variable {name} is not set")
    return value
