"""Output helpers shared by the operating commands: consoles, JSON, sizes and times."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from typing import Any

from rich.console import Console


def console() -> Console:
    """Tables and results: stdout. Wide enough not to fold keys when piped."""
    return Console(file=sys.stdout, highlight=False, soft_wrap=False, width=_width())


def progress_console() -> Console:
    """Progress bars and spinners: stderr, so stdout stays the result."""
    return Console(file=sys.stderr, highlight=False)


def _width() -> int | None:
    # rich uses 80 columns when stdout is not a terminal; tables of keys and ARNs fold
    # badly in 80, and a pipe has no width anyway. COLUMNS still wins, as in rich.
    return None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160


def print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, ensure_ascii=False, default=str), flush=True)


def size(n: int | None) -> str:
    if n is None:
        return "-"
    if n < 1024:
        return f"{n:,} B"
    if n < 1024 * 1024:
        return f"{n / 1024:,.1f} KB"
    return f"{n / 1024 / 1024:,.1f} MB"


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.2f} s"
    minutes, rest = divmod(int(value), 60)
    return f"{minutes}m{rest:02d}s"


def moment(value: datetime | None, short: bool = False) -> str:
    """A local wall-clock time, to the second (short: without the year)."""
    if value is None:
        return "-"
    return value.astimezone().strftime("%m-%d %H:%M:%S" if short else "%Y-%m-%d %H:%M:%S")


STATUS_COLOURS = {
    "SUCCEEDED": "green",
    "FAILED": "red",
    "TIMED_OUT": "red",
    "ABORTED": "red",
    "RUNNING": "yellow",
}


def status(value: str) -> str:
    return f"[{STATUS_COLOURS.get(value, 'white')}]{value}[/]"


def link(con: Console, url: str | None, text: str) -> str:
    """A hyperlink in a terminal; the URL itself when piped (so it can be copied)."""
    if not url:
        return text
    return f"[link={url}]{text}[/link]" if con.is_terminal else url
