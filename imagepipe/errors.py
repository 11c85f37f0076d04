"""Exit codes, and the failures a person can act on, each said in one line.

No heavy imports: every command module imports this at load time, and `--help` must
stay fast. botocore's errors are translated by imagepipe.target.translate, which needs
the stack to say what to do.
"""

from __future__ import annotations

import re
from enum import IntEnum


class ExitCode(IntEnum):
    """What `imagepipe` exits with (docs/cli.md lists them too)."""

    OK = 0
    ITEM_FAILED = 1  # an upload rejected or failed, an execution failed, nothing found
    USAGE = 2  # bad arguments, a missing input file, a bad stack config (argparse uses 2)
    NO_STACK = 3  # stack not found, not deployed, no local stack running, bucket missing
    AWS_ERROR = 4  # credentials, permissions, network, throttling, any other AWS error
    INTERNAL = 5  # a bug in imagepipe: please report it
    INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


class OpsError(Exception):
    """A failure to report in one line, with the exit code it means."""

    def __init__(self, code: ExitCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def one_line(text: str) -> str:
    """Any message on one line (YAML and Pulumi errors span several)."""
    return " ".join(text.split())


def config_problem(err: BaseException) -> str | None:
    """The stack config error behind `err`, in one line; None if there is none.

    A bad config surfaces as infra.settings.ConfigError itself, wrapped by whatever ran
    the program (anywhere in the __cause__/__context__ chain), or only as the text of
    Pulumi's RunError, which carries the program's exception as a message.
    """
    from infra.settings import ConfigError

    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConfigError):
            return one_line(str(current))
        if type(current).__module__.startswith("yaml"):  # a stack file PyYAML cannot read
            return one_line(f"the stack file is not valid YAML: {current}")
        found = re.search(r"ConfigError: (.*)", str(current))  # its `ConfigError: ...` line
        if found and type(current).__name__ == "RunError":
            return one_line(found[1])
        current = current.__cause__ or current.__context__
    return None
