"""The stack a command works on: boto3 clients plus the stack's names and settings.

One `Target` serves every stack command; only how it is built differs:

* a deployed stack (`target_for`): names and settings from the stack's outputs
  (`pulumi stack output --json --stack NAME`), each name overridable by a flag or an
  `IMAGEPIPE_*` variable (with the essential ones given, Pulumi is not run);
  credentials, region and endpoint as boto3 finds them;
* a running `imagepipe local serve` (`Target.local_stack`), found through the state
  file it writes, with the emulator's fake credentials;
* the in-process local stack (`imagepipe.local.stack.LocalStack.target`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

import yaml

from imagepipe.errors import ExitCode, OpsError
from imagepipe.local.state import StateFileError, reachable, read_state, state_file
from imagepipe.stack_outputs import (
    ESSENTIAL_OUTPUTS,
    GIVEN_OUTPUTS,
    SETTING_OUTPUTS,
    flag,
    snake,
    variable,
)
from infra.settings import PROJECT_DIR, ConfigError, Settings, settings_from_mapping

DEFAULT_ENDPOINT: Final = "http://127.0.0.1:5000"
FAKE_CREDENTIALS: Final = {  # the emulator takes any; these are moto's usual ones
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}


# -- a stack's config ------------------------------------------------------------------


def stack_settings(stack: str) -> Settings:
    """The stack's settings from Pulumi.yaml and Pulumi.<stack>.yaml, checked as strictly
    as `pulumi up` checks them (an unknown key is an error): what `render` and the local
    stack use. Raises ConfigError, also for a file that is not valid YAML."""
    from infra.settings import load_stack_settings

    try:
        return load_stack_settings(stack)
    except yaml.YAMLError as err:
        raise ConfigError("stack", f"Pulumi.{stack}.yaml is not valid YAML: {err}") from None


def pulumi_outputs(stack: str) -> dict[str, Any]:
    """`pulumi stack output --json --stack <stack>`, or OpsError saying what to do."""
    given = ", ".join(map(variable, ESSENTIAL_OUTPUTS))
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise OpsError(
            ExitCode.NO_STACK,
            f"cannot find the stack's outputs: the Pulumi CLI is not installed; install it, "
            f"or set {given}, or use --local",
        )
    try:
        done = subprocess.run(  # noqa: S603 - a fixed program with our arguments
            [pulumi, "stack", "output", "--json", "--stack", stack, "--non-interactive"],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        problem = f"pulumi stack output failed ({err}); set {given}"
        raise OpsError(ExitCode.NO_STACK, problem) from None
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        detail = next((line for line in lines if line.startswith("error:")), None)
        detail = detail or (lines[-1] if lines else f"exit {done.returncode}")
        raise OpsError(
            ExitCode.NO_STACK,
            f"pulumi cannot read stack {stack!r}: {detail.removeprefix('error: ')}; check "
            "`pulumi stack ls` (and `pulumi login`), or use --local",
        )
    try:
        outputs = json.loads(done.stdout or "{}")
    except ValueError:
        raise OpsError(ExitCode.NO_STACK, "pulumi stack output printed no JSON") from None
    if not isinstance(outputs, dict) or not outputs:
        raise OpsError(
            ExitCode.NO_STACK,
            f"stack {stack!r} has no outputs: it is not deployed; run `pulumi up --stack {stack}`",
        )
    return outputs


# -- the target ------------------------------------------------------------------------


class _Output:
    """A Target attribute that is the stack output `name` (Target.output)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, target: Target, owner: type | None = None) -> str:
        return target.output(self.name)


@dataclass
class Target:
    """A stack to operate on: its names, its settings, and boto3 clients for it."""

    stack: str
    local: bool
    region: str
    outputs: dict[str, Any]
    settings: Settings
    endpoint: str | None = None
    credentials: dict[str, str] | None = None
    endpoint_given: bool = False  # --endpoint named the server (not the state file)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _session: Any = field(default=None, repr=False)

    @classmethod
    def local_stack(cls, stack: str, endpoint: str | None = None) -> Target:
        """The stack a running `imagepipe local serve --stack <stack>` serves."""
        if endpoint and not reachable(endpoint):
            raise OpsError(
                ExitCode.NO_STACK,
                f"nothing answers at {endpoint} (--endpoint): check the URL that "
                f"`imagepipe local serve --stack {stack}` printed",
            )
        try:
            state = read_state(stack)
        except StateFileError as err:
            raise OpsError(ExitCode.NO_STACK, str(err)) from None
        url = endpoint or str(state.get("endpoint") or DEFAULT_ENDPOINT)
        if not reachable(url):
            raise OpsError(
                ExitCode.NO_STACK,
                f"no local stack is running at {url} (the state file {state_file(stack)} is "
                f"stale): start it with `imagepipe local serve --stack {stack}`",
            )
        outputs = dict(state.get("outputs") or {})
        settings = _checked(_exported_settings(outputs), str(state_file(stack)), ExitCode.NO_STACK)
        return cls(
            stack=stack,
            local=True,
            region=str(state.get("region") or "us-east-1"),
            outputs=outputs,
            settings=settings,
            endpoint=url,
            credentials=dict(FAKE_CREDENTIALS),
            endpoint_given=bool(endpoint),
        )

    # -- clients -------------------------------------------------------------------

    def client(self, service: str) -> Any:
        """A boto3 client for `service`, created once (creation is not thread-safe)."""
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._create(service)
            return self._clients[service]

    def _create(self, service: str) -> Any:
        import boto3  # type: ignore[import-untyped, unused-ignore]
        from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]

        if self._session is None:
            self._session = boto3.session.Session(
                region_name=self.region or None, **(self.credentials or {})
            )
            self.region = self.region or self._session.region_name or ""
            if not self.region:
                raise OpsError(
                    ExitCode.AWS_ERROR,
                    "no AWS region: set AWS_REGION (or a profile's region), or pass "
                    "--state-machine-arn, whose ARN names it",
                )
        config = Config(
            retries={"max_attempts": 2 if self.local else 5, "mode": "standard"},
            connect_timeout=2 if self.local else 10,
            read_timeout=60,
            max_pool_connections=20,
        )
        return self._session.client(service, endpoint_url=self.endpoint, config=config)

    # -- names ---------------------------------------------------------------------

    def output(self, name: str) -> str:
        value = self.outputs.get(name)
        if value:
            return str(value)
        if self.local:
            raise OpsError(
                ExitCode.NO_STACK,
                f"the local stack has no output {name}: restart `imagepipe local serve`",
            )
        how = f"set {variable(name)}"
        if GIVEN_OUTPUTS.get(name):
            how = f"pass {flag(name)} or {how}"
        raise OpsError(
            ExitCode.NO_STACK,
            f"{name} of stack {self.stack!r} is unknown: {how} (from Pulumi, a stack "
            f"deployed before that output existed needs `pulumi up --stack {self.stack}`)",
        )

    # Only ever the output (or its override): a name or ARN is never guessed.
    source_bucket = _Output("sourceBucket")
    destination_bucket = _Output("destinationBucket")
    state_machine_arn = _Output("stateMachineArn")
    backfill_state_machine_arn = _Output("backfillStateMachineArn")
    catalogue_table = _Output("catalogueTable")  # one record per upload (infra/catalogue.py)

    @property
    def upload_prefix(self) -> str:
        return self.settings.upload_prefix

    @property
    def lasts(self) -> bool:
        """Whether the stack outlives this process: not the in-process one of `local demo`,
        which a follow-up command could not find."""
        return not (self.local and self.endpoint is None)

    @property
    def cli_flags(self) -> str:
        """The flags that name this stack again, for the commands a hint prints."""
        flags = " --local" if self.local else ""
        if self.stack != "dev":
            flags += f" --stack {self.stack}"
        if self.local and self.endpoint_given:
            flags += f" --endpoint {self.endpoint}"
        return flags

    @property
    def local_console(self) -> str | None:
        """The local console of the `imagepipe local serve` that runs this stack
        (imagepipe.local.console), which exports it as its executionsConsoleUrl; None
        for a deployed stack, and for an in-process one (no server, no console)."""
        url = str(self.outputs.get("executionsConsoleUrl") or "")
        if self.local and self.endpoint and url.startswith(self.endpoint + "/"):
            return url
        return None

    def console_url(self, execution_arn: str) -> str | None:
        """The execution's page in the Step Functions console, or locally in the local
        console (None without one)."""
        if self.local:
            console = self.local_console
            return f"{console}#/executions/{quote(execution_arn, safe='')}" if console else None
        return states_console(execution_arn, "v2/executions/details")


def states_console(arn: str, page: str) -> str:
    """The Step Functions console's `page` of the state machine or execution `arn`."""
    region = arn.split(":")[3]
    return (
        f"https://{region}.console.aws.amazon.com/states/home?region={region}"
        f"#/{page}/{quote(arn, safe='')}"
    )


def target_for(args: argparse.Namespace, needs: tuple[str, ...] = ESSENTIAL_OUTPUTS) -> Target:
    """The Target the shared stack arguments (imagepipe.commands.options) name. A deployed
    stack's names come from flags, IMAGEPIPE_* variables, then `pulumi stack output`
    (not run when they give the outputs the command `needs`); its settings from the
    outputs (Pulumi.<stack>.yaml for an older stack that does not export them)."""
    flags = {name: getattr(args, snake(name), None) for name in GIVEN_OUTPUTS}
    if args.local:
        given = ", ".join(flag(name) for name, value in flags.items() if value)
        if given:
            raise OpsError(ExitCode.USAGE, f"{given}: only for a deployed stack, not with --local")
        return Target.local_stack(args.stack, args.endpoint)
    if args.endpoint:
        raise OpsError(
            ExitCode.USAGE,
            "--endpoint goes with --local (for another AWS endpoint set AWS_ENDPOINT_URL)",
        )
    for name in GIVEN_OUTPUTS:
        value = flags[name] = flags[name] or os.environ.get(variable(name), "").strip()
        # arn:<partition>:<service>:<region>:<account>:<resource>; the region is read off it.
        if name.endswith("Arn") and value and len(value.split(":")) < 6:
            names = f"{flag(name)} or {variable(name)}" if GIVEN_OUTPUTS[name] else variable(name)
            raise OpsError(ExitCode.USAGE, f"{names}: {value!r} is not an ARN")
    outputs = {name: value for name, value in flags.items() if value}
    if not all(name in outputs for name in needs):
        outputs = {**pulumi_outputs(args.stack), **outputs}
    return Target(
        stack=args.stack,
        local=False,
        region=_region_of(outputs),
        outputs=outputs,
        settings=_deployed_settings(args.stack, outputs),
    )


def _exported_settings(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """The settings a stack exports (none: an older stack)."""
    return {name: outputs[name] for name in SETTING_OUTPUTS if outputs.get(name) is not None}


def _deployed_settings(stack: str, outputs: Mapping[str, Any]) -> Settings:
    """From the outputs; else from Pulumi.<stack>.yaml (only the keys the commands use);
    else the defaults. IMAGEPIPE_UPLOAD_PREFIX overrides the prefix."""
    from infra.settings import read_stack_config

    exported = _exported_settings(outputs)
    settings = _checked(exported, f"stack {stack!r} outputs", ExitCode.NO_STACK)
    stack_file = f"Pulumi.{stack}.yaml"
    if not exported and (PROJECT_DIR / stack_file).exists():
        try:
            config = read_stack_config(stack)
        except (ConfigError, yaml.YAMLError) as err:
            raise OpsError(ExitCode.USAGE, f"{stack_file}: {err}") from None
        settings = _checked(_exported_settings(config), stack_file, ExitCode.USAGE)
    prefix = os.environ.get("IMAGEPIPE_UPLOAD_PREFIX", "").strip()
    if prefix:
        given = _checked({"uploadPrefix": prefix}, "IMAGEPIPE_UPLOAD_PREFIX", ExitCode.USAGE)
        settings = dataclasses.replace(settings, upload_prefix=given.upload_prefix)
    return settings


def _checked(values: Mapping[str, Any], source: str, code: ExitCode) -> Settings:
    """The settings `values` give, or OpsError(code) naming their source."""
    try:
        return settings_from_mapping(values)
    except ConfigError as err:
        raise OpsError(code, f"{source}: {err}") from None


def _region_of(outputs: Mapping[str, Any]) -> str:
    """The region in the state machine's ARN (arn:aws:states:<region>:...)."""
    for name in ("stateMachineArn", "backfillStateMachineArn", "topicArn"):
        parts = str(outputs.get(name) or "").split(":")
        if len(parts) > 3 and parts[0] == "arn" and parts[3]:
            return parts[3]
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""


# -- botocore's errors, in one line ----------------------------------------------------

_CREDENTIAL_CODES: Final = (
    *("ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "InvalidToken"),
    *("UnrecognizedClientException", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AuthFailure"),
)
# A ClientError's code -> its message ({code}, {message}, {operation}), exit 4 (AWS_ERROR).
_CLIENT_ERRORS: Final[dict[str, str]] = {
    **dict.fromkeys(
        _CREDENTIAL_CODES,
        "AWS refused the credentials ({code}): refresh them (`aws sso login`, "
        "`aws configure`) or pick another AWS_PROFILE",
    ),
    **dict.fromkeys(
        ("AccessDenied", "AccessDeniedException", "Forbidden", "403"),
        "access denied to {operation}: the credentials in use lack that permission ({message})",
    ),
    **dict.fromkeys(
        ("ThrottlingException", "Throttling", "TooManyRequestsException", "SlowDown"),
        "AWS is throttling {operation} ({code}): try again shortly",
    ),
    "StateMachineTypeNotSupported": (
        "{operation} does not work on an EXPRESS workflow (workflowType): its executions are "
        "only in its CloudWatch log group; use STANDARD to list and follow them"
    ),
}
_MISSING_CODES: Final = frozenset(
    {"NoSuchBucket", "StateMachineDoesNotExist", "QueueDoesNotExist", "NotFound"}
    | {"AWS.SimpleQueueService.NonExistentQueue"}
)


# Where the stack is -> what its server being unreachable (exit 4 for AWS; 3 for a local
# stack: it is not running), and a resource missing (exit 3), mean.
_PLACES: Final[dict[str, tuple[str, str]]] = {
    "aws": (
        "cannot reach AWS ({err}): check the network and AWS_REGION",
        "{what} not found ({code}: {message}): is stack {stack!r} deployed in this account "
        "and region? run `pulumi up --stack {stack}` or check --stack",
    ),
    "endpoint": (
        "nothing answers at {endpoint} (--endpoint): check the URL",
        "the server at {endpoint} has no such {what} ({message}): is --endpoint the server "
        "of `imagepipe local serve --stack {stack}`?",
    ),
    "local": (
        "no local stack answers at {endpoint}: start it with "
        "`imagepipe local serve --stack {stack}`",
        "the local stack has no such {what} ({message}): it was restarted; "
        "restart `imagepipe local serve --stack {stack}` and the command",
    ),
}


def translate(err: BaseException, target: Target | None = None) -> OpsError | None:
    """botocore's exception as an OpsError (None: not an AWS error)."""
    from botocore import exceptions as bx  # type: ignore[import-untyped, unused-ignore]

    place, names = "aws", {"stack": target.stack if target else "dev"}
    if target is not None and target.local:
        place = "endpoint" if target.endpoint_given else "local"
        names["endpoint"] = str(target.endpoint)
    if isinstance(err, bx.ClientError):
        return _client_error(err, place, names)
    if isinstance(err, bx.EndpointConnectionError | bx.ConnectTimeoutError):
        code = ExitCode.AWS_ERROR if place == "aws" else ExitCode.NO_STACK
        return OpsError(code, _PLACES[place][0].format(err=err, **names))
    for kinds, text in (
        (
            bx.NoCredentialsError | bx.PartialCredentialsError,
            "no AWS credentials: run `aws configure` or `aws sso login`, or set AWS_PROFILE "
            "(or use --local for the local stack)",
        ),
        (
            bx.TokenRetrievalError | bx.SSOError | bx.UnauthorizedSSOTokenError,
            "AWS credentials could not be loaded ({err}): run `aws sso login`",
        ),
        (bx.NoRegionError, "no AWS region: set AWS_REGION or a profile's region"),
        (bx.BotoCoreError, "AWS SDK error: {err}"),
    ):
        if isinstance(err, kinds):
            return OpsError(ExitCode.AWS_ERROR, text.format(err=err))
    return None


def _client_error(err: Any, place: str, names: dict[str, Any]) -> OpsError:
    error = err.response.get("Error", {})
    code = str(error.get("Code") or "")
    message = str(error.get("Message") or "").strip() or code
    operation = getattr(err, "operation_name", "") or "the request"
    if code in _MISSING_CODES or (code == "404" and operation == "HeadBucket"):
        what = "bucket" if "Bucket" in code or operation == "HeadBucket" else "resource"
        text = _PLACES[place][1].format(what=what, code=code, message=message, **names)
        return OpsError(ExitCode.NO_STACK, text)
    if code == "ExecutionDoesNotExist":  # an item not found (exit 1), the stack is there
        return OpsError(ExitCode.ITEM_FAILED, f"no such execution ({message})")
    text = _CLIENT_ERRORS.get(code, "AWS error in {operation}: {code}: {message}")
    return OpsError(
        ExitCode.AWS_ERROR, text.format(code=code, message=message, operation=operation)
    )
