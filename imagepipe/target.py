"""The stack the operating commands work on: boto3 clients plus the stack's names.

One `Target` serves every command (`imagepipe upload|executions|show|backfill|outputs`);
only how it is built differs:

* a deployed stack (`Target.deployed`): names from `pulumi stack output --json --stack
  NAME` when the Pulumi CLI is there, each overridable by a flag or an `IMAGEPIPE_*`
  environment variable (with all of them given, Pulumi is not needed); credentials,
  region and endpoint as boto3 finds them (profile, environment, SSO, instance role);
* the local stack (`Target.local`): a running `imagepipe local serve`, found through
  the state file it writes (`.imagepipe/local-<stack>.json` in the project folder, or
  under `$IMAGEPIPE_STATE_DIR`), with the emulator's fake credentials.

Every failure a person can act on becomes an `OpsError` with an exit code and one line
that says what to do next; `translate` does that for botocore's errors.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from imagepipe.local import state as _local_state
from imagepipe.local.state import state_file
from infra.settings import PROJECT_DIR, ConfigError, Settings, settings_from_mapping

# Exit codes of the operating commands (also in docs/cli.md).
OK: Final = 0
ITEM_FAILED: Final = 1  # an upload rejected or failed, an execution failed, nothing found
USAGE: Final = 2  # bad arguments (argparse uses 2 as well)
NO_STACK: Final = 3  # stack not found, not deployed, no local stack running, bucket missing
AWS_ERROR: Final = 4  # credentials, permissions, network, throttling, any other AWS error
INTERNAL: Final = 5  # a bug in imagepipe: please report it

STATE_VERSION: Final = _local_state.STATE_VERSION
DEFAULT_ENDPOINT: Final = "http://127.0.0.1:5000"

# Stack output -> (command-line flag, environment variable). Flags beat variables, which
# beat `pulumi stack output`.
OUTPUT_SOURCES: Final[dict[str, tuple[str | None, str]]] = {
    "sourceBucket": ("--source-bucket", "IMAGEPIPE_SOURCE_BUCKET"),
    "destinationBucket": ("--destination-bucket", "IMAGEPIPE_DESTINATION_BUCKET"),
    "backupBucket": (None, "IMAGEPIPE_BACKUP_BUCKET"),
    "stateMachineArn": ("--state-machine-arn", "IMAGEPIPE_STATE_MACHINE_ARN"),
    "backfillStateMachineArn": (
        "--backfill-state-machine-arn",
        "IMAGEPIPE_BACKFILL_STATE_MACHINE_ARN",
    ),
    "deadLetterQueueUrl": (None, "IMAGEPIPE_DEAD_LETTER_QUEUE_URL"),
    "topicArn": (None, "IMAGEPIPE_TOPIC_ARN"),
}
# What every command needs; with these from flags or the environment, Pulumi is not run.
ESSENTIAL_OUTPUTS: Final = ("sourceBucket", "destinationBucket", "stateMachineArn")
# The stack config the commands use (the rest is the Pulumi program's business).
NEEDED_KEYS: Final = ("uploadPrefix", "allowedSuffixes", "renditions")


class OpsError(Exception):
    """A failure to report in one line, with the exit code it means."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# -- the local stack's state file ------------------------------------------------------


def read_state(stack: str, directory: Path | None = None) -> dict[str, Any]:
    """The running local stack's state file (imagepipe.local.state), as an OpsError."""
    try:
        return _local_state.read_state(stack, directory)
    except _local_state.StateFileError as err:
        raise OpsError(NO_STACK, str(err)) from None


def settings_document(settings: Settings) -> dict[str, Any]:
    """The settings the commands need, as config values (for the state file)."""
    return {
        "uploadPrefix": settings.upload_prefix,
        "allowedSuffixes": list(settings.allowed_suffixes),
        "renditions": [r.to_dict() for r in settings.renditions],
    }


_reachable = _local_state.reachable


# -- Pulumi ----------------------------------------------------------------------------


def pulumi_outputs(stack: str, project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    """`pulumi stack output --json --stack <stack>`, or OpsError saying what to do."""
    given = ", ".join(env for _, env in (OUTPUT_SOURCES[k] for k in ESSENTIAL_OUTPUTS))
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise OpsError(
            NO_STACK,
            f"cannot find the stack's outputs: the Pulumi CLI is not installed; install it, "
            f"or set {given}, or use --local",
        )
    try:
        done = subprocess.run(  # noqa: S603 - a fixed program with our arguments
            [pulumi, "stack", "output", "--json", "--stack", stack, "--non-interactive"],
            cwd=project_dir,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise OpsError(NO_STACK, f"pulumi stack output failed ({err}); set {given}") from None
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        detail = next((line for line in lines if line.startswith("error:")), None)
        detail = (detail or (lines[-1] if lines else f"exit {done.returncode}")).removeprefix(
            "error: "
        )
        raise OpsError(
            NO_STACK,
            f"pulumi cannot read stack {stack!r}: {detail}; check `pulumi stack ls` "
            f"(and `pulumi login`), or use --local",
        )
    try:
        outputs = json.loads(done.stdout or "{}")
    except ValueError:
        raise OpsError(NO_STACK, "pulumi stack output printed something that is not JSON") from None
    if not isinstance(outputs, dict) or not outputs:
        raise OpsError(
            NO_STACK,
            f"stack {stack!r} has no outputs: it is not deployed; run `pulumi up --stack {stack}`",
        )
    return outputs


# -- the target ------------------------------------------------------------------------


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
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _session: Any = field(default=None, repr=False)

    # -- construction --------------------------------------------------------------

    @classmethod
    def local_stack(cls, stack: str, endpoint: str | None = None) -> Target:
        """The stack a running `imagepipe local serve --stack <stack>` serves."""
        state = read_state(stack)
        url = endpoint or str(state.get("endpoint") or DEFAULT_ENDPOINT)
        if not _reachable(url):
            raise OpsError(
                NO_STACK,
                f"no local stack is running at {url} (the state file "
                f"{state_file(stack)} is stale): start it with "
                f"`imagepipe local serve --stack {stack}`",
            )
        try:
            settings = settings_from_mapping(state.get("config") or {})
        except ConfigError as err:
            raise OpsError(NO_STACK, f"{state_file(stack)}: {err}") from None
        outputs = dict(state.get("outputs") or {})
        if state.get("backfillStateMachineArn"):
            outputs.setdefault("backfillStateMachineArn", state["backfillStateMachineArn"])
        return cls(
            stack=stack,
            local=True,
            region=str(state.get("region") or "us-east-1"),
            outputs=outputs,
            settings=settings,
            endpoint=url,
            credentials={
                "aws_access_key_id": "testing",
                "aws_secret_access_key": "testing",
                "aws_session_token": "testing",
            },
        )

    @classmethod
    def deployed(
        cls,
        stack: str,
        overrides: Mapping[str, str | None] | None = None,
        project_dir: Path = PROJECT_DIR,
    ) -> Target:
        """A stack on AWS: names from flags (`overrides`), IMAGEPIPE_* variables, then
        `pulumi stack output`; settings from Pulumi.<stack>.yaml when it is here."""
        given: dict[str, Any] = {}
        for name, (_, env) in OUTPUT_SOURCES.items():
            value = (overrides or {}).get(name) or os.environ.get(env, "").strip()
            if value:
                given[name] = value
        outputs: dict[str, Any] = {}
        if not all(name in given for name in ESSENTIAL_OUTPUTS):
            outputs = pulumi_outputs(stack, project_dir)
        outputs.update(given)
        settings = _stack_settings(stack, project_dir)
        region = _region_of(outputs)
        return cls(
            stack=stack, local=False, region=region or "", outputs=outputs, settings=settings
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
            if not self.region:
                self.region = self._session.region_name or ""
                if not self.region:
                    raise OpsError(
                        AWS_ERROR,
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
        if not value:
            if self.local:
                raise OpsError(
                    NO_STACK,
                    f"the local stack has no output {name}: restart `imagepipe local serve`",
                )
            flag, env = OUTPUT_SOURCES.get(name, (None, f"IMAGEPIPE_{name.upper()}"))
            how = f"{flag} or {env}" if flag else env
            raise OpsError(NO_STACK, f"the stack output {name} is unknown: set {how}")
        return str(value)

    @property
    def source_bucket(self) -> str:
        return self.output("sourceBucket")

    @property
    def destination_bucket(self) -> str:
        return self.output("destinationBucket")

    @property
    def state_machine_arn(self) -> str:
        return self.output("stateMachineArn")

    @property
    def backfill_state_machine_arn(self) -> str:
        """The backfill workflow: an output or override, else `<component>-backfill` next to
        the upload state machine (infra.workflow names it so)."""
        value = self.outputs.get("backfillStateMachineArn")
        if value:
            return str(value)
        prefix, _, _ = self.state_machine_arn.rpartition(":")
        return f"{prefix}:imagepipe-{self.stack}-backfill"

    @property
    def upload_prefix(self) -> str:
        return self.settings.upload_prefix

    def display_endpoint(self) -> str:
        return self.endpoint or "AWS"

    def console_url(self, execution_arn: str) -> str | None:
        """The execution's page in the Step Functions console (None locally)."""
        if self.local:
            return None
        region = execution_arn.split(":")[3]
        return (
            f"https://{region}.console.aws.amazon.com/states/home?region={region}"
            f"#/v2/executions/details/{quote(execution_arn, safe='')}"
        )

    def state_machine_console_url(self, state_machine_arn: str) -> str | None:
        if self.local:
            return None
        region = state_machine_arn.split(":")[3]
        return (
            f"https://{region}.console.aws.amazon.com/states/home?region={region}"
            f"#/statemachines/view/{quote(state_machine_arn, safe='')}"
        )


def _region_of(outputs: Mapping[str, Any]) -> str | None:
    """The region in the state machine's ARN (arn:aws:states:<region>:...)."""
    for name in ("stateMachineArn", "backfillStateMachineArn", "topicArn"):
        parts = str(outputs.get(name) or "").split(":")
        if len(parts) > 3 and parts[0] == "arn" and parts[3]:
            return parts[3]
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None


def _stack_settings(stack: str, project_dir: Path) -> Settings:
    """The stack's settings from its config file; defaults when there is none here."""
    from infra.settings import read_stack_config

    if not (project_dir / f"Pulumi.{stack}.yaml").exists():
        settings = Settings()
    else:
        try:
            config = read_stack_config(stack, project_dir)
            # Only what the commands use: a key they do not need is the program's to judge.
            settings = settings_from_mapping({k: config[k] for k in NEEDED_KEYS if k in config})
        except ConfigError as err:
            raise OpsError(USAGE, f"Pulumi.{stack}.yaml: {err}") from None
    prefix = os.environ.get("IMAGEPIPE_UPLOAD_PREFIX", "").strip()
    if prefix:
        try:
            settings = settings_from_mapping(
                {**settings_document(settings), "uploadPrefix": prefix}
            )
        except ConfigError as err:
            raise OpsError(USAGE, f"IMAGEPIPE_UPLOAD_PREFIX: {err}") from None
    return settings


# -- botocore's errors, in one line ----------------------------------------------------

_CREDENTIAL_CODES: Final = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "AuthFailure",
    }
)
_DENIED_CODES: Final = frozenset({"AccessDenied", "AccessDeniedException", "Forbidden", "403"})
_MISSING_CODES: Final = frozenset(
    {
        "NoSuchBucket",
        "StateMachineDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "NotFound",
    }
)


def translate(err: BaseException, target: Target | None = None) -> OpsError | None:
    """botocore's exception as an OpsError (None: not an AWS error)."""
    from botocore import exceptions as bx  # type: ignore[import-untyped, unused-ignore]

    stack = target.stack if target else "dev"
    local = bool(target and target.local)
    if isinstance(err, bx.NoCredentialsError | bx.PartialCredentialsError):
        return OpsError(
            AWS_ERROR,
            "no AWS credentials: run `aws configure` or `aws sso login`, or set AWS_PROFILE "
            "(or use --local for the local stack)",
        )
    if isinstance(err, bx.TokenRetrievalError | bx.SSOError | bx.UnauthorizedSSOTokenError):
        return OpsError(
            AWS_ERROR, f"AWS credentials could not be loaded ({err}): run `aws sso login`"
        )
    if isinstance(err, bx.NoRegionError):
        return OpsError(AWS_ERROR, "no AWS region: set AWS_REGION or a profile's region")
    if isinstance(err, bx.EndpointConnectionError | bx.ConnectTimeoutError):
        if local:
            return OpsError(
                NO_STACK,
                f"no local stack answers at {target.endpoint if target else '?'}: start it with "
                f"`imagepipe local serve --stack {stack}`",
            )
        return OpsError(AWS_ERROR, f"cannot reach AWS ({err}): check the network and AWS_REGION")
    if isinstance(err, bx.ClientError):
        error = err.response.get("Error", {})
        code = str(error.get("Code") or "")
        message = str(error.get("Message") or "").strip() or code
        operation = getattr(err, "operation_name", "") or "the request"
        if code in _CREDENTIAL_CODES:
            return OpsError(
                AWS_ERROR,
                f"AWS refused the credentials ({code}): refresh them (`aws sso login`, "
                "`aws configure`) or pick another AWS_PROFILE",
            )
        if code in _DENIED_CODES:
            return OpsError(
                AWS_ERROR,
                f"access denied to {operation}: the credentials in use lack that permission "
                f"({message})",
            )
        if code in _MISSING_CODES or (code == "404" and operation in {"HeadBucket"}):
            what = "bucket" if "Bucket" in code or operation == "HeadBucket" else "resource"
            if local:
                return OpsError(
                    NO_STACK,
                    f"the local stack has no such {what} ({message}): it was restarted; "
                    f"restart `imagepipe local serve --stack {stack}` and the command",
                )
            return OpsError(
                NO_STACK,
                f"{what} not found ({code}: {message}): is stack {stack!r} deployed in this "
                f"account and region? run `pulumi up --stack {stack}` or check --stack",
            )
        if code == "ExecutionDoesNotExist":
            return OpsError(ITEM_FAILED, f"no such execution ({message})")
        if code == "StateMachineTypeNotSupported":
            return OpsError(
                AWS_ERROR,
                f"{operation} does not work on an EXPRESS workflow (workflowType): its "
                "executions are only in its CloudWatch log group; use STANDARD to list and "
                "follow them",
            )
        if code in {"ThrottlingException", "Throttling", "TooManyRequestsException", "SlowDown"}:
            return OpsError(AWS_ERROR, f"AWS is throttling {operation} ({code}): try again shortly")
        return OpsError(AWS_ERROR, f"AWS error in {operation}: {code}: {message}")
    if isinstance(err, bx.BotoCoreError):
        return OpsError(AWS_ERROR, f"AWS SDK error: {err}")
    return None
