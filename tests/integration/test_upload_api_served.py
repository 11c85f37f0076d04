"""The upload API behind `imagepipe local serve`: everything over real HTTP, the presigned
POST pointing at the moto server (the Lambda's SDK follows AWS_ENDPOINT_URL)."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
import requests

from imagepipe.local import samples
from imagepipe.local.serve import start_server
from tests.support import drive
from tests.support.ports import free_port

pytestmark = pytest.mark.integration

pytest.importorskip("flask", reason="moto[server] (Flask) is not installed")


def test_an_app_uploads_through_the_api_to_the_served_stack() -> None:
    local = start_server("dev", port=free_port())
    try:
        api_url = local.stack.outputs["uploadApiUrl"]
        # A test token from the local issuer's endpoint, as a browser page would get one.
        request = urllib.request.Request(
            f"{api_url}/issuer/token", data=json.dumps({"sub": "frank"}).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            token = json.loads(response.read())["access_token"]
        grant = requests.post(
            f"{api_url}/uploads",
            json={"filename": "served.jpg", "contentType": "image/jpeg"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ).json()
        assert grant["url"] == f"{local.endpoint}/{local.stack.source_bucket}"
        posted = requests.post(
            grant["url"],
            data=grant["fields"],
            files={"file": ("served.jpg", samples.jpeg(320, 240), "image/jpeg")},
            timeout=30,
        )
        assert posted.status_code == 204, posted.text
        deadline = time.monotonic() + 60
        status = ""
        while time.monotonic() < deadline:
            found = [e for e in drive.executions(local.stack) if e.key == grant["key"]]
            status = found[0].status if found else ""
            if status and status != "RUNNING":
                break
            time.sleep(0.2)
        assert status == "SUCCEEDED"
    finally:
        local.stop()
