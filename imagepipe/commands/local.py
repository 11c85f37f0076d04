"""`imagepipe local demo|serve`: the stack on an embedded AWS emulator (imagepipe.local)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from imagepipe.commands.options import command_parser
from imagepipe.errors import ExitCode

NAME = "local"


def register(subparsers: Any) -> None:
    local = subparsers.add_parser(
        NAME,
        help="run the stack on an embedded AWS emulator (moto), no AWS account needed",
        description="The Pulumi program deployed on moto in this process (imagepipe.local).",
    )
    commands = local.add_subparsers(dest="sub", metavar="COMMAND", required=True)
    demo = command_parser(
        commands,
        "demo",
        "deploy locally, push sample images through, show what happened",
        "Deploy the stack on moto, upload sample images and bad files as `imagepipe upload "
        "--wait` does, and show one execution as `imagepipe show` does. Exit status: 0 "
        "every upload ended as expected, 1 otherwise, 2 a bad stack config.",
        json_output=False,
    )
    demo.add_argument("--out", default=Path("out"), type=Path, metavar="DIR",
                      help="where to write the renditions (default: out)")  # fmt: skip
    demo.add_argument("--stack", default="dev", metavar="NAME", help="stack (default: dev)")
    serve = command_parser(
        commands,
        "serve",
        "serve the deployed stack on a moto server for the AWS CLI, until Ctrl-C",
        "Deploy the stack on a moto server that the AWS CLI, the SDKs and `imagepipe ... "
        "--local` use, until Ctrl-C. One server per stack.",
        json_output=False,
    )
    serve.add_argument("--port", default=5000, type=int, help="port (default: 5000)")
    serve.add_argument(
        "--delivery-port",
        type=int,
        metavar="PORT",
        help="where the renditions are served, the CDN's stand-in (default: --port + 1)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    serve.add_argument("--stack", default="dev", metavar="NAME", help="stack (default: dev)")


def run(args: argparse.Namespace, target: None) -> ExitCode:
    from imagepipe.target import stack_settings

    # Checked as `render` and `pulumi up` check it, before anything is deployed: an
    # unknown (misspelled) key is an error, and any bad value one line (the boundary's).
    stack_settings(args.stack)
    if args.sub == "demo":
        from imagepipe.local.demo import run_demo

        return run_demo(args.out, args.stack)
    from imagepipe.local.serve import serve

    return ExitCode(serve(args.stack, args.host, args.port, args.delivery_port))
