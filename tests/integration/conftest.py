"""The local stack for end-to-end tests: deployed once per test module.

Tests share the module's stack, so each uses fresh object keys (`fresh_key`) and looks
only at what those keys caused; faults injected by a test are cleared after it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator

import pytest

from imagepipe.executions import ExecutionInfo
from imagepipe.local.pipe import PollResult
from imagepipe.local.stack import LocalStack, deploy_local
from tests.support import drive, faults

# What the first poll after deploying found, per test module (see `stack`).
DEPLOY_POLLS: dict[str, PollResult] = {}


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest) -> Iterator[LocalStack]:
    """The dev stack on moto. S3 puts an s3:TestEvent in the ingest queue when the
    notification is configured; the first poll runs it through the pipe's filter."""
    with deploy_local("dev") as deployed:
        DEPLOY_POLLS[request.module.__name__] = drive.poll(deployed)
        drive.wait(deployed)
        yield deployed


@pytest.fixture
def denials(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """The IAM refusals of the local stack during the test, as AWS words them (read from
    imagepipe.local.access's log, which has one `denied: <message>` per refusal)."""
    caplog.set_level(logging.INFO, logger="imagepipe.local.access")

    def logged() -> list[str]:
        messages = [r.getMessage() for r in caplog.records if r.name == "imagepipe.local.access"]
        return [m.removeprefix("denied: ") for m in messages if m.startswith("denied: ")]

    return logged


@pytest.fixture(autouse=True)
def _clear_faults() -> Iterator[None]:
    yield
    faults.clear()


def fresh_key(stack: LocalStack, name: str) -> str:
    """A key under the upload prefix no other test uses: `<prefix><8 hex>/<name>`."""
    return stack.upload_key(f"{uuid.uuid4().hex[:8]}/{name}")


def execution_for(stack: LocalStack, key: str) -> ExecutionInfo:
    """The one execution started for `key` (fails if there are none or several)."""
    found = [e for e in drive.executions(stack) if e.key == key]
    assert len(found) == 1, f"expected one execution for {key!r}, got {len(found)}"
    return found[0]
