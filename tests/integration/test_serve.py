"""`imagepipe local serve`: the stack behind a moto server, used over HTTP like AWS."""

from __future__ import annotations

import json
import os
import time
import urllib.request

import boto3  # type: ignore[import-untyped, unused-ignore]
import pytest

from imagepipe.local import samples
from imagepipe.local.serve import start_server, usage
from tests.support.ports import free_port

pytestmark = pytest.mark.integration

# moto's server is a Flask app: the moto[server] extra must be installed.
pytest.importorskip("flask", reason="moto[server] (Flask) is not installed")


def test_an_upload_over_http_is_processed() -> None:
    before = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "MOTO_PORT")}
    local = start_server("dev", port=free_port())
    try:
        stack = local.stack
        assert local.endpoint in usage(local)
        # Lists as JSON, not Python's repr.
        assert json.dumps(stack.outputs["allowedSuffixes"]) in usage(local)

        def client(service: str) -> object:
            return boto3.client(
                service,
                endpoint_url=local.endpoint,
                region_name=stack.clients.region,
                aws_access_key_id="anything",
                aws_secret_access_key="anything",
            )

        s3, sfn = client("s3"), client("stepfunctions")
        key = stack.upload_key("served photo.jpg")
        s3.put_object(Bucket=stack.source_bucket, Key=key, Body=samples.jpeg(800, 600))  # type: ignore[attr-defined]

        deadline = time.monotonic() + 60
        executions: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            executions = sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]  # type: ignore[attr-defined]
            if executions and all(e["status"] != "RUNNING" for e in executions):
                break
            time.sleep(0.2)
        assert [e["status"] for e in executions] == ["SUCCEEDED"]
        listed = s3.list_objects_v2(Bucket=stack.destination_bucket)["Contents"]  # type: ignore[attr-defined]
        assert sorted(o["Key"] for o in listed) == sorted(
            [
                *(
                    f"{r.name}/served photo.{'jpg' if r.format == 'jpeg' else r.format}"
                    for r in stack.settings.renditions
                ),
                "manifests/served photo.json",
            ]
        )
        # The renditions are served over HTTP where the stack says, as the CDN would.
        base = stack.outputs["renditionsBaseUrl"]
        with urllib.request.urlopen(f"{base}/manifests/served%20photo.json") as response:
            assert json.loads(response.read())["source"]["key"] == key
    finally:
        local.stop()
    assert {k: os.environ.get(k) for k in before} == before


def test_a_second_server_for_the_same_stack_is_refused(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It used to take the state file over: stopping it then left the first server
    running but unreachable for the commands."""
    from imagepipe.local.state import AlreadyServedError, read_state

    monkeypatch.setenv("IMAGEPIPE_STATE_DIR", str(tmp_path))
    first = start_server("dev", port=free_port())
    try:
        first.write_state()
        with pytest.raises(AlreadyServedError, match="already served at " + first.endpoint):
            start_server("dev", port=free_port())
        assert read_state("dev")["endpoint"] == first.endpoint
        # What the commands need of the stack comes from its outputs, not a guess.
        outputs = read_state("dev")["outputs"]
        assert outputs["backfillStateMachineArn"].endswith("-backfill")
        assert outputs["uploadPrefix"] == first.stack.settings.upload_prefix
        assert outputs["renditions"] == [r.to_dict() for r in first.stack.settings.renditions]
    finally:
        first.stop()
    # Once the first is gone, its state file is too, and the stack may be served again.
    second = start_server("dev", port=free_port())
    second.stop()


def test_the_renditions_are_served_on_the_next_port() -> None:
    """`serve --port P` serves the renditions (the CDN's stand-in) on P + 1, a port a
    person can bookmark, and says so; --delivery-port picks another."""
    port = free_port()  # and port + 1
    local = start_server("dev", port=port)
    try:
        base = f"http://127.0.0.1:{port + 1}"
        assert local.stack.outputs["renditionsBaseUrl"] == base
        assert f"Renditions: {base}/<key>" in usage(local)
    finally:
        local.stop()
    chosen = free_port()
    local = start_server("dev", port=free_port(), delivery_port=chosen)
    try:
        assert local.stack.outputs["renditionsBaseUrl"] == f"http://127.0.0.1:{chosen}"
    finally:
        local.stop()


def test_a_taken_delivery_port_is_a_clear_error() -> None:
    import socket

    from imagepipe.local.serve import PortInUseError

    port = free_port()  # and port + 1
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", port + 1))
        taken.listen()
        with pytest.raises(PortInUseError, match=rf"127\.0\.0\.1:{port + 1} .*--delivery-port"):
            start_server("dev", port=port)
    # Nothing was left running: the same ports serve once free.
    local = start_server("dev", port=port)
    local.stop()


def test_local_serve_names_the_taken_delivery_port(capsys: pytest.CaptureFixture[str]) -> None:
    """From the command line: the default (--port + 1) and --delivery-port, each refused
    with the port and the option to change, before anything is deployed."""
    import socket

    from tests.cli.conftest import run

    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        result = run(capsys, "local", "serve", "--port", str(port), "--delivery-port", str(busy))
    assert result.code == 1
    assert f"127.0.0.1:{busy} is in use" in result.err and "--delivery-port" in result.err
    assert "--delivery-port PORT" in run(capsys, "local", "serve", "--help").out
