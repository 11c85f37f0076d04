"""Errors of the operating commands: one line with what to do next, a meaningful exit
code, `{"error": ...}` with --json, and never a traceback. None needs a running stack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagepipe.local.state import STATE_VERSION
from tests.cli.conftest import Result, run
from tests.support.ports import free_port

COMMANDS = ("upload", "executions", "show", "backfill", "outputs")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No state file, no stack names, no credentials, no Pulumi: a bare machine."""
    state = tmp_path / "state"
    monkeypatch.setenv("IMAGEPIPE_STATE_DIR", str(state))
    for name in (
        "IMAGEPIPE_SOURCE_BUCKET", "IMAGEPIPE_DESTINATION_BUCKET", "IMAGEPIPE_STATE_MACHINE_ARN",
        "IMAGEPIPE_BACKFILL_STATE_MACHINE_ARN", "IMAGEPIPE_STACK", "IMAGEPIPE_UPLOAD_PREFIX",
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
        "AWS_ENDPOINT_URL", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))  # no pulumi on it
    return state


def one_line(result: Result) -> str:
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err
    return lines[0]


def argv(command: str, *rest: str) -> list[str]:
    needs = {"upload": ["photo.jpg"], "show": ["photo.jpg"]}
    return [command, *needs.get(command, []), *rest]


@pytest.mark.parametrize("command", COMMANDS)
def test_local_with_nothing_running(capsys: pytest.CaptureFixture[str], command: str) -> None:
    result = run(capsys, *argv(command, "--local"))
    assert result.code == 3
    line = one_line(result)
    assert line.startswith(f"imagepipe {command}: no local stack 'dev' is running")
    assert "imagepipe local serve --stack dev" in line
    assert result.out == ""


def test_local_json_error_shape(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "executions", "--local", "--json", "--stack", "prod")
    assert result.code == 3
    doc = json.loads(result.out)
    assert set(doc) == {"error"}
    assert doc["error"]["code"] == 3
    assert "imagepipe local serve --stack prod" in doc["error"]["message"]
    one_line(result)


def test_a_stale_state_file(capsys: pytest.CaptureFixture[str], _isolated: Path) -> None:
    _isolated.mkdir(parents=True)
    port = free_port()
    (_isolated / "local-dev.json").write_text(
        json.dumps(
            {"version": STATE_VERSION, "endpoint": f"http://127.0.0.1:{port}", "outputs": {}}
        )
    )
    result = run(capsys, "outputs", "--local")
    assert result.code == 3
    line = one_line(result)
    assert f"no local stack is running at http://127.0.0.1:{port}" in line
    assert "stale" in line


@pytest.mark.parametrize("command", COMMANDS)
def test_a_deployed_stack_without_pulumi_or_names(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    result = run(capsys, *argv(command))
    assert result.code == 3
    line = one_line(result)
    assert "the Pulumi CLI is not installed" in line
    assert "IMAGEPIPE_SOURCE_BUCKET" in line
    assert "--local" in line


@pytest.fixture
def names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGEPIPE_SOURCE_BUCKET", "src")
    monkeypatch.setenv("IMAGEPIPE_DESTINATION_BUCKET", "dst")
    monkeypatch.setenv(
        "IMAGEPIPE_STATE_MACHINE_ARN",
        "arn:aws:states:eu-west-1:123456789012:stateMachine:imagepipe-dev-workflow",
    )
    monkeypatch.setenv(
        "IMAGEPIPE_BACKFILL_STATE_MACHINE_ARN",
        "arn:aws:states:eu-west-1:123456789012:stateMachine:imagepipe-dev-backfill",
    )


@pytest.mark.parametrize("command", ["executions", "show", "backfill"])
def test_no_credentials(capsys: pytest.CaptureFixture[str], names: None, command: str) -> None:
    result = run(capsys, *argv(command))
    assert result.code == 4
    line = one_line(result)
    assert "no AWS credentials" in line
    assert "aws configure" in line


def test_no_credentials_when_uploading(
    capsys: pytest.CaptureFixture[str], names: None, tmp_path: Path
) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8\xff not really, but the upload fails first")
    result = run(capsys, "upload", str(photo), "--json")
    assert result.code == 4
    assert json.loads(result.out)["error"]["code"] == 4
    assert "no AWS credentials" in one_line(result)


def test_the_backfill_arn_is_never_guessed(
    capsys: pytest.CaptureFixture[str], names: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IMAGEPIPE_BACKFILL_STATE_MACHINE_ARN")
    assert run(capsys, "outputs", "--json").json()["outputs"]["backfillStateMachineArn"] is None
    result = run(capsys, "backfill")
    assert result.code == 3
    assert "backfillStateMachineArn of stack 'dev' is unknown" in one_line(result)
    assert "--backfill-state-machine-arn" in one_line(result)


def test_outputs_needs_no_aws_call(capsys: pytest.CaptureFixture[str], names: None) -> None:
    result = run(capsys, "outputs", "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["outputs"]["backfillStateMachineArn"].endswith(":imagepipe-dev-backfill")
    assert doc["commands"]["upload"] == "aws s3 cp ./photo.jpg s3://src/uploads/photo.jpg"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["upload", "missing.jpg"], "missing.jpg: no such file or folder"),
        (["upload", "notes.txt"], "notes.txt: the stack only processes names ending in"),
        (["upload", "empty-folder"], "empty-folder: no images in it"),
        (["executions", "--endpoint", "http://x:1"], "--endpoint goes with --local"),
        (["outputs", "--local", "--source-bucket", "b"], "--source-bucket: only for a deployed"),
    ],
)
def test_usage_errors(
    capsys: pytest.CaptureFixture[str],
    names: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    expected: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("text")
    (tmp_path / "empty-folder").mkdir()
    result = run(capsys, *args)
    assert result.code == 2
    assert expected in one_line(result)


def test_argparse_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "executions", "--limit", "0").code == 2
    assert run(capsys, "executions", "--status", "WHATEVER").code == 2
    assert run(capsys, "upload").code == 2


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """Bug 10: `--version` was missing. It prints the installed package's version (from
    pyproject.toml), as every CLI does, and exits 0."""
    import tomllib
    from importlib.metadata import version

    from infra.settings import PROJECT_DIR

    result = run(capsys, "--version")
    assert result.code == 0
    assert result.out == f"imagepipe {version('imagepipe')}\n"
    project = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"]
    assert version("imagepipe") == project["version"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_explains(capsys: pytest.CaptureFixture[str], command: str) -> None:
    result = run(capsys, command, "--help")
    assert result.code == 0
    text = " ".join(result.out.split())
    assert "exit status: 0 ok; 1 an item failed" in text
    assert "--local" in text
    assert "--json" in text


@pytest.mark.parametrize(("command", "default"), [("upload", 300.0), ("backfill", 3600.0)])
def test_wait_takes_a_timeout_in_seconds(
    capsys: pytest.CaptureFixture[str], command: str, default: float
) -> None:
    """upload and backfill declare --wait and --timeout once (commands.options), each
    with its own default, which its help states."""
    from imagepipe.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(argv(command)).timeout == default
    args = parser.parse_args(argv(command, "--wait", "--timeout", "2.5"))
    assert (args.wait, args.timeout) == (True, 2.5)
    text = " ".join(run(capsys, command, "--help").out.split())
    assert f"--timeout SECONDS with --wait: give up after this long (default: {default:g})" in text
    assert run(capsys, *argv(command, "--timeout", "soon")).code == 2
    for never_or_forever in ("0", "-1", "nan", "inf"):
        refused = run(capsys, *argv(command, "--wait", "--timeout", never_or_forever))
        assert refused.code == 2
        assert f"must be more than 0 seconds, got {never_or_forever}" in refused.err


def test_serve_refuses_a_port_in_use() -> None:
    """Before: ThreadedMotoServer only logged the failed bind, and the stack was then
    deployed into whatever listened there (another serve)."""
    import socket

    from imagepipe.local.serve import PortInUseError, start_server

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"127.0.0.1:{port} is in use"):
            start_server("dev", port=port)


def _client_error(code: str, operation: str = "ListExecutions", message: str = "m") -> Exception:
    from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

    error: Exception = ClientError({"Error": {"Code": code, "Message": message}}, operation)
    return error


@pytest.mark.parametrize(
    ("error", "local", "code", "words"),
    [
        (_client_error("NoSuchBucket", "PutObject"), False, 3, "pulumi up --stack dev"),
        (_client_error("NoSuchBucket", "PutObject"), True, 3, "restart `imagepipe local serve"),
        (_client_error("StateMachineDoesNotExist"), False, 3, "is stack 'dev' deployed"),
        (_client_error("ExpiredToken"), False, 4, "refused the credentials"),
        (_client_error("AccessDeniedException"), False, 4, "access denied to ListExecutions"),
        (_client_error("ThrottlingException"), False, 4, "try again shortly"),
        (_client_error("StateMachineTypeNotSupported"), False, 4, "EXPRESS workflow"),
        (_client_error("ExecutionDoesNotExist", "DescribeExecution"), False, 1, "no such"),
        (_client_error("SomethingNew"), False, 4, "AWS error in ListExecutions: SomethingNew"),
    ],
)
def test_aws_errors_become_one_line_and_a_code(
    error: Exception, local: bool, code: int, words: str
) -> None:
    from imagepipe.target import Target, translate
    from infra.settings import Settings

    target = Target(stack="dev", local=local, region="eu-west-1", outputs={}, settings=Settings())
    translated = translate(error, target)
    assert translated is not None
    assert translated.code == code
    assert words in translated.message
    assert "\n" not in translated.message


def test_an_unreachable_local_endpoint_is_no_stack() -> None:
    from botocore.exceptions import (  # type: ignore[import-untyped, unused-ignore]
        EndpointConnectionError,
    )

    from imagepipe.target import Target, translate
    from infra.settings import Settings

    target = Target(
        stack="dev", local=True, region="eu-west-1", outputs={}, settings=Settings(),
        endpoint="http://127.0.0.1:1",
    )  # fmt: skip
    translated = translate(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), target)
    assert translated is not None and translated.code == 3
    assert "imagepipe local serve --stack dev" in translated.message


@pytest.mark.parametrize("command", COMMANDS)
def test_a_name_that_is_not_an_arn(
    capsys: pytest.CaptureFixture[str], names: None, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """The region and the console links are read off the ARN: a bare name is a usage
    error naming where it came from (it was an IndexError, exit 5, in `outputs`)."""
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("IMAGEPIPE_STATE_MACHINE_ARN", "imagepipe-dev-workflow")
    result = run(capsys, *argv(command))
    assert result.code == 2
    assert one_line(result) == (
        f"imagepipe {command}: --state-machine-arn or IMAGEPIPE_STATE_MACHINE_ARN: "
        "'imagepipe-dev-workflow' is not an ARN"
    )
