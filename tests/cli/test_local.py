"""`imagepipe local demo|serve` and what every command shares: a bad stack config is one
line and exit 2 before anything is deployed, piped output is wide and free of log lines,
and a reader that stops early (`| head`) is not an error."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagepipe.errors import config_problem
from infra.settings import PROJECT_DIR, ConfigError
from tests.cli.conftest import run

BAD_CONFIGS = {  # the stack file's config lines, and what the one line must say
    "memory": ("imagepipeline:lambdaMemoryMb: 64", "imagepipeline:lambdaMemoryMb: must be"),
    "width": (
        "imagepipeline:renditions: [{name: t, width: 0, height: 10}]",
        "imagepipeline:renditions:",
    ),
    "format": (
        "imagepipeline:renditions: [{name: t, width: 10, height: 10, format: bmp}]",
        "imagepipeline:renditions:",
    ),
    "yaml": ("imagepipeline:renditions: [unclosed", "is not valid YAML"),
    "misspelled": ("imagepipeline:lambdaMemoryMB: 1024", "did you mean lambdaMemoryMb"),
}


@pytest.fixture
def stack_file() -> Iterator[tuple[str, Path]]:
    """A stack of this test's own: Pulumi.<name>.yaml in the project, removed after."""
    name = f"clitest{uuid.uuid4().hex[:8]}"
    path = PROJECT_DIR / f"Pulumi.{name}.yaml"
    try:
        yield name, path
    finally:
        path.unlink(missing_ok=True)


@pytest.mark.parametrize("command", ["demo", "serve"])
@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_a_bad_config_is_one_line_before_deploying(
    capsys: pytest.CaptureFixture[str], stack_file: tuple[str, Path], command: str, case: str
) -> None:
    """Bugs 2 and 3: the local commands ended in a traceback (the program's ConfigError
    wrapped by Pulumi), and ignored a misspelled key that `render` refuses."""
    name, path = stack_file
    text, words = BAD_CONFIGS[case]
    path.write_text(f"config:\n  aws:region: eu-west-1\n  {text}\n")
    result = run(capsys, "local", command, "--stack", name)
    assert result.code == 2
    [line] = result.err.splitlines()
    assert line.startswith(f"imagepipe local {command}: ")
    assert words in line
    # render judges the same file the same way: one function.
    rendered = run(capsys, "render", "x.jpg", "--out", "o", "--stack", name)
    assert rendered.code == 2 and words in rendered.err


@pytest.mark.parametrize("command", ["demo", "serve"])
def test_an_unknown_stack(capsys: pytest.CaptureFixture[str], command: str) -> None:
    result = run(capsys, "local", command, "--stack", "nosuchstack")
    assert result.code == 2
    [line] = result.err.splitlines()
    assert "no stack file Pulumi.nosuchstack.yaml" in line


def test_a_config_error_is_found_in_any_wrapping() -> None:
    error = ConfigError("lambdaMemoryMb", "must be a whole number from 128 to 10240, got 64")
    try:
        try:
            raise error
        except ConfigError as inner:
            raise RuntimeError("the program failed") from inner
    except RuntimeError as outer:
        assert config_problem(outer) == str(error)

    class RunError(Exception):  # pulumi.runtime's, which carries the program's error as text
        pass

    text = (
        "Program failed with an unhandled exception:\nTraceback (most recent call last):\n"
        '  File "__main__.py", line 9\ninfra.settings.ConfigError: imagepipeline:'
        "lambdaMemoryMb: must be a whole number from 128 to 10240, got 64\n"
    )
    assert config_problem(RunError(text)) == str(error)
    assert config_problem(RuntimeError("something else")) is None


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "imagepipe", *args],
        cwd=PROJECT_DIR,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_reader_that_stops_early_is_not_an_error(tmp_path: Path) -> None:
    """Bug 8: `imagepipe outputs | head` exited 1 (rich's broken-pipe exit)."""
    names = {
        "IMAGEPIPE_SOURCE_BUCKET": "src",
        "IMAGEPIPE_DESTINATION_BUCKET": "dst",
        "IMAGEPIPE_STATE_MACHINE_ARN": "arn:aws:states:eu-west-1:1:stateMachine:imagepipe-dev-x",
        "COLUMNS": "200",
    }
    for args in (["outputs"], ["outputs", "--json"], ["diagram", "--out", str(tmp_path)]):
        process = _cli(*args, env=names)
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()  # the reader is gone before the first line is written
        err = process.stderr.read()
        assert process.wait(timeout=60) == 0, err
        assert err == ""


@pytest.mark.integration
def test_the_demo_piped_is_wide_and_shows_no_log_lines(tmp_path: Path) -> None:
    """Bug 9: piped, the demo folded at 80 columns and printed moto's and the local
    stack's log lines."""
    process = _cli("local", "demo", "--out", str(tmp_path / "out"))
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, out + err
    assert "Every upload ended as expected" in out
    assert any(len(line) > 80 for line in out.splitlines())  # a dead-letter line, unfolded
    assert "imagepipe upload --wait" in out and "State by state" in out
    # Its stack is gone when it exits: no follow-up command against it, but how to keep
    # one running (a rejected sample used to end in `imagepipe show KEY --local`).
    assert "--local" not in out.replace("`imagepipe ... --local`", "")
    assert "(details above)" in out and "make serve" in out
    for text in (out, err):
        assert "WARNING" not in text and "changed for moto" not in text
        assert '{"level"' not in text and "Traceback" not in text
