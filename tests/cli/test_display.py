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


def _plain(renderable: Any) -> str:
    out = io.StringIO()
    Console(file=out, width=120, highlight=False).print(renderable)
    return out.getvalue()


def test_data_in_markup_prints_as_it_is() -> None:
    """Data never reaches rich's markup parser: tags, emoji codes and backslashes in a
    key print as they are, and the template's own markup is still styling."""
    for key in ("z[/]", "photo[b].jpg", "[link=x]k", "a\\", "a\\[b]", ":smile:", "{x}"):
        line = display.markup("Upload [bold]{key}[/]: {status}", key=key, status="x")
        assert _plain(line) == f"Upload {key}: x\n"
        assert _plain(display.cell(key)) == f"{key}\n"
    line = display.markup("[cyan]{name:<6}[/]|{n:.1f}", name="ab", n=2)
    assert line.plain == "ab    |2.0"
    assert [(s.start, s.end, str(s.style)) for s in line.spans] == [(0, 6, "cyan")]


def test_a_styled_value_keeps_its_style_inside_the_template() -> None:
    line = display.markup("[bold]{key}[/] {status}", key="k[/]", status=display.status("FAILED"))
    assert line.plain == "k[/] FAILED"
    assert {(s.start, s.end, str(s.style)) for s in line.spans} == {(0, 4, "bold"), (5, 11, "red")}
    title = display.title("Backfill of {}", "p[b]/")
    assert (title.plain, title.style) == ("Backfill of p[b]/", "table.title")
