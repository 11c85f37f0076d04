"""The operating commands, run as `main([...])` against a stack served in this process.

`served` starts `imagepipe local serve`'s machinery (moto's HTTP server, the stack
deployed into it, the pipe poller) on a free port, with its state file in a temporary
folder that IMAGEPIPE_STATE_DIR points at, so `--local` finds it as it would on a laptop.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from imagepipe.cli import main
from tests.support import drive


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        import json

        return json.loads(self.out)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    """`imagepipe ARGV...` in this process: exit code, stdout, stderr."""
    capsys.readouterr()  # drop anything printed before
    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse: usage errors and --help
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return Result(code, _without_handler_logs(captured.out), captured.err)


def _without_handler_logs(out: str) -> str:
    """The served stack runs the Lambda handlers in this process: their Powertools log
    and metric lines (one JSON object each) land on this stdout too. Not the CLI's."""
    return "".join(
        line
        for line in out.splitlines(keepends=True)
        if not line.startswith(('{"level":', '{"_aws":'))
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A LocalServer for the dev stack, found by `--local` through its state file."""
    pytest.importorskip("flask", reason="moto[server] (Flask) is not installed")
    from imagepipe.local.serve import start_server
    from tests.support.ports import free_port

    state_dir = tmp_path_factory.mktemp("state")
    saved = os.environ.get("IMAGEPIPE_STATE_DIR")
    os.environ["IMAGEPIPE_STATE_DIR"] = str(state_dir)
    local = start_server("dev", port=free_port())
    try:
        local.write_state()
        yield local
        # Executions still running when the server stops fail noisily in moto's threads,
        # into whatever test runs next: let them end first.
        drive.wait(local.stack, timeout=120)
    finally:
        local.stop()
        if saved is None:
            os.environ.pop("IMAGEPIPE_STATE_DIR", None)
        else:
            os.environ["IMAGEPIPE_STATE_DIR"] = saved


def fresh_prefix() -> str:
    """A --prefix no other test uses (tests share the module's stack)."""
    return f"{uuid.uuid4().hex[:8]}/"


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
