"""`imagepipe local serve`: the local stack behind a moto server, for the AWS CLI and SDKs.

One process: moto's WSGI application on host:port behind a small dispatcher that hands
/console/ to the local console (imagepipe.local.console) and /upload-api to the stack's
upload API (imagepipe.local.upload_api), the stack deployed into it, the pipe poller in a
thread. The Lambda handlers run on the server's request threads and find it through
AWS_ENDPOINT_URL; moto's Step Functions interpreter through MOTO_PORT. Bucket names
never clash with the mounted paths (the stack's start with its project name).

While it runs, a state file (`.imagepipe/local-<stack>.json`, imagepipe.local.state)
records its endpoint and outputs: how `imagepipe ... --local` finds it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import time
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from unittest.mock import patch

import requests
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from imagepipe.local import lambda_runtime
from imagepipe.local.console import PREFIX, Console
from imagepipe.local.delivery import DeliveryServer
from imagepipe.local.program import settings_for, stack_config
from imagepipe.local.stack import MOTO_CONFIG, LocalStack, deploy_local
from imagepipe.local.state import AlreadyServedError, claim, state_file, write_state
from imagepipe.local.upload_api import MOUNT, api_app
from imagepipe.local.wsgi import BackgroundServer
from imagepipe.target import FAKE_CREDENTIALS

# moto logs every error a state machine catches, with the whole state's repr, and notes
# its own limits; rejections are expected here.
QUIET_LOGGERS: Final = (
    "moto.stepfunctions.parser.asl.component.eval_component",
    "imagepipe.local.providers.sfn",  # logs the definition changes moto needs
    "moto.stepfunctions.parser.asl.parse.preprocessor",
)


class PortInUseError(RuntimeError):
    """Something already listens on the address the server was to use."""


def port_free(host: str, port: int) -> bool:
    try:
        socket.create_server((host, port)).close()  # with SO_REUSEADDR, as werkzeug binds
    except OSError:
        return False
    return True


@dataclass
class LocalServer:
    """A running moto server with the stack deployed in it and its pipe being polled."""

    endpoint: str  # http://host:port
    stack: LocalStack
    # The stack, moto's data, the server, the environment and moto's config, the handlers.
    _undo: ExitStack = field(repr=False)

    @property
    def console_url(self) -> str:
        """The local console (imagepipe.local.console), on the server's address."""
        return f"{self.endpoint}{PREFIX}/"

    def write_state(self) -> Path:
        """Write the state file (removed again by `stop`): what the operating commands need
        to find and use this stack, its outputs (which carry the config the commands use)
        and where to reach it. Returns its path."""
        s = self.stack
        state = {
            "stack": s.stack,
            "endpoint": self.endpoint,
            "region": s.clients.region,
            "pid": os.getpid(),
            "outputs": dict(s.outputs),
            "ingestQueueUrl": s.ingest_queue_url,
            "notificationsQueueUrl": s.notifications_queue_url,
        }
        return write_state(state_file(s.stack), state)

    def _remove_state(self) -> None:
        """Remove the state file if this server wrote it (not if another server has since
        written its own there, nor if it cannot be read)."""
        path = state_file(self.stack.stack)
        with suppress(OSError, ValueError):
            current = json.loads(path.read_text())
            if current.get("endpoint") == self.endpoint and current.get("pid") == os.getpid():
                path.unlink(missing_ok=True)

    def stop(self) -> None:
        """Remove the state file, stop polling and serving, reset moto's data and put the
        environment back."""
        self._remove_state()
        self._undo.close()


def _post(url: str, body: dict[str, Any]) -> None:
    requests.post(url, json=body, timeout=30).raise_for_status()


def _check_ports(host: str, port: int, delivery_port: int, cdn: bool) -> None:
    # werkzeug exits the process on a failed bind, and the deploy would otherwise go to
    # whatever already listens there (another `imagepipe local serve`, say).
    if not port_free(host, port):
        raise PortInUseError(
            f"{host}:{port} is in use (another `imagepipe local serve`?): stop it, or pick "
            "another --port"
        )
    if cdn and not port_free(DeliveryServer.host, delivery_port):
        raise PortInUseError(
            f"{DeliveryServer.host}:{delivery_port} is in use: the renditions are served there "
            "(--port + 1 unless --delivery-port says otherwise); stop what listens there, or "
            "pick another --delivery-port"
        )


def _environment(endpoint: str, port: int) -> ExitStack:
    """Point this process's SDK use at the server, until the returned stack is closed."""
    from moto.core.config import default_user_config

    env = {
        # The Lambda handlers' boto3 clients (created at import) and any other SDK use:
        # AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
        "AWS_ENDPOINT_URL": endpoint,
        **{name.upper(): value for name, value in FAKE_CREDENTIALS.items()},
        # moto's Step Functions interpreter calls http://localhost:$MOTO_PORT.
        "MOTO_PORT": str(port),
    }
    undo = ExitStack()
    undo.enter_context(patch.dict(os.environ, env))
    undo.enter_context(patch.dict(default_user_config))  # put back as it was when stopped
    return undo


def start_server(
    stack_name: str = "dev",
    host: str = "127.0.0.1",
    port: int = 5000,
    delivery_port: int | None = None,
) -> LocalServer:
    """Start moto on host:port, deploy `stack_name` into it, and start the pipe poller.

    With a CDN, the renditions are served on 127.0.0.1:`delivery_port` (default `port` + 1:
    a URL that stays the same from one run to the next), the stack's renditionsBaseUrl.
    """
    try:
        import moto.moto_server.werkzeug_app as moto_server
    except ImportError as err:  # moto's server needs Flask: the moto[server] extra
        raise RuntimeError(
            f"imagepipe local serve needs moto's server ({err}): pip install 'moto[server]'"
        ) from err

    claim(stack_name)  # one server per stack: a second one is refused, not a takeover
    endpoint = f"http://{host}:{port}"
    delivery_port = port + 1 if delivery_port is None else delivery_port
    _check_ports(host, port, delivery_port, settings_for(stack_config(stack_name, {})).cdn)
    # moto, with the console and the stack's upload API (once deployed) mounted.
    console, deployed = Console(), list[LocalStack]()
    api = api_app(lambda: deployed[0].upload_api if deployed else None)
    moto = moto_server.DomainDispatcherApplication(moto_server.create_backend_app)
    app = DispatcherMiddleware(moto, {PREFIX: console, MOUNT: api})
    # Undone if the deploy fails, else by LocalServer.stop.
    with _environment(endpoint, port) as undo:
        undo.callback(lambda_runtime.uninstall)  # handlers imported here hold clients for it
        server = BackgroundServer(app, host, port, moto_server.MotoRequestHandler)
        undo.callback(server.stop)
        # The server reads moto's config per request: turn execution on as a client would.
        _post(f"{endpoint}/moto-api/config", MOTO_CONFIG)
        stack = deploy_local(stack_name, endpoint=endpoint, delivery_port=delivery_port)
        undo.callback(_post, f"{endpoint}/moto-api/reset", {})  # its data goes with it
        undo.callback(stack.close)
        local = LocalServer(endpoint, stack, undo.pop_all())
    for poller in stack.pollers:
        poller.start()
    # The executions console the program exports is AWS's, which knows nothing of this
    # stack: here it is the local console.
    stack.outputs["executionsConsoleUrl"] = local.console_url
    deployed.append(stack)
    api_url = f"{local.endpoint}{MOUNT}" if stack.upload_api is not None else None
    console.target, console.upload_api = stack.clients, api_url
    return local


def usage(local: LocalServer) -> str:
    """The outputs and a few commands to try against the server."""
    s = local.stack
    aws = f"aws --endpoint-url {local.endpoint}"
    lines = [
        f"moto server on {local.endpoint} (region {s.clients.region}, any credentials)",
        *([f"Renditions: {s.delivery.base_url}/<key>"] if s.delivery is not None else []),
        f"Console: {local.console_url}",
        "",
        "Stack outputs:",
        # Lists and objects as JSON, as `imagepipe outputs` and the AWS CLI show them.
        *(
            f"  {k:24} {v if isinstance(v, str) else json.dumps(v)}"
            for k, v in sorted(s.outputs.items())
        ),
        f"  {'ingestQueueUrl':24} {s.ingest_queue_url}",
        f"  {'notificationsQueueUrl':24} {s.notifications_queue_url}  (local only)",
        "",
        "Try:",
        f"  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "
        f"AWS_DEFAULT_REGION={s.clients.region}",
        f"  {aws} s3 cp ./photo.jpg s3://{s.source_bucket}/{s.upload_key('photo.jpg')}",
        f"  {aws} stepfunctions list-executions --state-machine-arn {s.state_machine_arn}",
        f"  {aws} s3 ls --recursive s3://{s.destination_bucket}/",
        f"  {aws} sqs receive-message --queue-url {s.dead_letter_queue_url}",
        f"  {aws} sqs receive-message --queue-url {s.notifications_queue_url}",
        "",
        "Ctrl-C to stop (everything is in memory and goes away).",
    ]
    return "\n".join(lines)


def serve(stack_name: str, host: str, port: int, delivery_port: int | None) -> int:
    """Serve until interrupted; returns the exit status."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    try:
        local = start_server(stack_name, host, port, delivery_port=delivery_port)
    except (PortInUseError, AlreadyServedError) as err:
        print(f"imagepipe local serve: {err}", file=sys.stderr, flush=True)
        return 1
    # `kill` (SIGTERM) stops it like Ctrl-C, so the state file goes away with it.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    path = local.write_state()
    print(usage(local), flush=True)
    print(f"State for `imagepipe ... --local`: {path}", flush=True)
    try:
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        print("\nstopping", flush=True)
    finally:
        local.stop()
    return 0
