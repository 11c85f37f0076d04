"""`imagepipe render FILE|DIR... --out DIR`: a stack's renditions of local images."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from imagepipe.commands.options import command_parser
from imagepipe.errors import ExitCode, OpsError

NAME = "render"


def register(subparsers: Any) -> None:
    parser = command_parser(
        subparsers,
        NAME,
        "make a stack's renditions of local image files, as the pipeline would",
        "Render every rendition of the stack's config for each FILE, and each image in a "
        "DIR (recursively, the stack's allowedSuffixes, as `upload` takes them), with the "
        "same code as the Lambda functions, into DIR/<rendition>/<name>.<ext>. Prints one "
        "line per file: what was written, or why it was rejected.",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE|DIR", help="images")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    parser.add_argument(
        "--stack",
        default="dev",
        metavar="NAME",
        help="stack whose renditions and limits to use (Pulumi.NAME.yaml; default: dev)",
    )


def run(args: argparse.Namespace, target: None) -> ExitCode:
    from imagepipe import display
    from imagepipe.inputs import collect
    from imagepipe.render import Report, limits_of, os_problem, render_file
    from imagepipe.target import stack_settings

    settings = stack_settings(args.stack)  # a ConfigError is the boundary's: exit 2
    inputs = collect(args.files, settings.allowed_suffixes)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OpsError(ExitCode.USAGE, f"cannot create {args.out}: {os_problem(exc)}") from None
    limits = limits_of(settings)
    report = Report(args.stack, args.out)
    for item in inputs:
        outcome = render_file(item.path, args.out, limits, item.name)
        report.outcomes.append(outcome)
        if not args.json:  # a line per file as it is done; errors on stderr
            print(outcome.line(), file=sys.stderr if outcome.error else sys.stdout, flush=True)
    if args.json:
        display.print_json(report.to_dict())
    return ExitCode.OK if report.ok else ExitCode.ITEM_FAILED
