"""`imagepipe local serve`: the stack behind a moto server, used over HTTP like AWS."""

from __future__ import annotations

import json
import os
import time
import urllib.request

import boto3  # type: ignore[import-untyped, unused-ignore]
import pytest

from imagepipe.local import samples
from imagepipe.local.serve import free_port, start_server, usage

pytestmark = pytest.mark.integration

# moto's server is a Flask app: the moto[server] extra must be installed.
pytest.importorskip("flask", reason="moto[server] (Flask) is not installed")


def test_an_upload_over_http_is_processed() -> None:
    before = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "MOTO_PORT")}
    local = start_server("dev", port=free_port())
    try:
        stack = local.stack
        assert local.endpoint in usage(local)

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
