"""`imagepipe upload FILE|DIR... [--prefix P] [--wait]`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagepipe.commands.options import command_parser, wait_options
from imagepipe.errors import ExitCode

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from imagepipe.uploads import Report, Upload

NAME = "upload"
STACK = True


def register(subparsers: Any) -> None:
    parser = command_parser(
        subparsers,
        NAME,
        "upload images into the stack, optionally waiting for their renditions",
        "Upload FILEs, and the images in DIRs (recursively, the stack's allowedSuffixes "
        "only), to the source bucket under the stack's upload prefix (and --prefix): "
        "DIR/a/b.jpg becomes <uploadPrefix><prefix>a/b.jpg. With --wait, follow each "
        "upload's execution to its end and print its renditions (key, pixel size, bytes, "
        "URL) and its manifest's URL, or why it was rejected or failed.",
        stack=True,
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="FILE|DIR", help="what to upload")
    parser.add_argument(
        "--prefix", default="", metavar="P", help="key prefix under the upload prefix, e.g. 2024/"
    )
    wait_options(parser, "the executions to their end", timeout=300.0)


def run(args: argparse.Namespace, target: Any) -> ExitCode:
    from imagepipe import display
    from imagepipe.inputs import collect
    from imagepipe.uploads import upload

    inputs = collect(args.paths, target.settings.allowed_suffixes)
    report = upload(
        target, inputs, args.prefix, wait=args.wait, timeout=args.timeout, progress=not args.json
    )
    display.emit(args, report, show)
    return ExitCode.ITEM_FAILED if report.failed else ExitCode.OK


def show(con: Console, report: Report) -> None:
    """The report for people: where each file went, or how each upload ended."""
    from rich.text import Text

    from imagepipe import display

    target = report.target
    flags = target.cli_flags
    if not report.waited:
        for u in report.uploads:
            where = (u.path, target.source_bucket, u.key, display.size(u.size))
            con.print(display.markup("{} -> s3://{}/{} ({})", *where))
        con.print(
            display.markup(
                "[dim]Follow them: imagepipe executions{}, or upload with --wait[/]", flags
            )
        )
        return
    for u in report.uploads:
        lines = _lines(u, report.timeout, flags if target.lasts else None)
        con.print(Text("\n").join(lines), soft_wrap=True)
    failed = report.failed
    processed = len(report.uploads) - len(failed)
    colour = "green" if not failed else "red"
    details = f"details: imagepipe show KEY{flags}" if target.lasts else "details above"
    more = f", {len(failed)} not ({{}})" if failed else ""
    con.print(
        display.markup(
            f"[{colour}]{processed} of {len(report.uploads)} processed[/]{more}", details
        )
    )


def _lines(u: Upload, timeout: float, flags: str | None) -> list[Text]:
    """One upload's outcome; `flags` name the stack for a follow-up command (None: it
    ends with this process, so no command is suggested)."""
    from imagepipe import display

    e, markup = u.execution, display.markup
    if e is None:
        look = f" (imagepipe executions{flags})" if flags is not None else ""
        return [
            markup("[yellow]?[/] {}  [yellow]no execution started[/]", u.key),
            markup(
                f"    none within {timeout:.0f} s: is the bucket notification and the pipe "
                "working?{}",
                look,
            ),
        ]
    mark = "[red]✗[/]" if e.done else "[yellow]…[/]"
    if e.status == "SUCCEEDED":
        mark = "[green]✓[/]"
    lines = [
        markup(mark + " {}  {} in {}", u.key, display.status(e.status), display.seconds(e.seconds))
    ]
    if not e.done:
        look = f": imagepipe show {e.name}{flags}" if flags is not None else ""
        lines.append(markup(f"    still running after {timeout:.0f} s{{}}", look))
    elif e.outcome is not None:
        how = "dead-lettered" if e.status == "FAILED" else "not processed"  # as in `show`
        lines.append(
            markup(
                f"    {how}: [bold]{{}}: {{}}[/] ({{}})",
                e.outcome.kind,
                e.outcome.reason,
                e.outcome.detail,
            )
        )
    else:
        lines.append(display.cell(display.rendition_lines(e.renditions, indent="    ")))
        if e.manifest_url:
            lines.append(markup("    manifest: {}", e.manifest_url))
    return lines
