"""How the commands print what they share (imagepipe.display)."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from imagepipe import display

ARN = "arn:aws:states:eu-west-1:000000000000:execution:uploads:" + "a" * 60


class _Target:
    def __init__(self, page: str | None) -> None:
        self.page = page

    def console_url(self, arn: str) -> str | None:
        return f"{self.page}#/executions/{arn}" if self.page else None


def _printed(target: Any) -> str:
    out = io.StringIO()
    display.console_line(Console(file=out, width=40), target, ARN)
    return out.getvalue()


def test_an_execution_is_shown_by_its_console_page_or_its_arn() -> None:
    """`show` and `backfill` print where to see an execution: its console page, or its
    ARN without one; on one line however narrow the terminal, to be copied whole."""
    assert _printed(_Target("http://127.0.0.1:1/console/")) == (
        f"Console: http://127.0.0.1:1/console/#/executions/{ARN}\n"
    )
    assert _printed(_Target(None)) == f"ARN: {ARN}\n"
