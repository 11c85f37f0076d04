"""500 uploads at once through the local stack: every one accounted for.

succeeded (every rendition, one notification) + dead-lettered (exactly one message)
== uploads; the ingest queue drains; no upload has two dead letters.
"""

from __future__ import annotations

import pytest

from imagepipe.local.stack import LocalStack
from tests.reliability.stack_runs import BurstRun, run_burst

pytestmark = pytest.mark.integration

UPLOADS = 500
BAD_EVERY = 10


@pytest.fixture(scope="module")
def burst(stack: LocalStack) -> BurstRun:
    return run_burst(stack, UPLOADS, BAD_EVERY)


def test_every_upload_is_accounted_for(burst: BurstRun) -> None:
    assert burst.unaccounted == []
    assert burst.succeeded + burst.dead_lettered == burst.uploads == UPLOADS
    assert (burst.succeeded, burst.dead_lettered) == (burst.good, burst.bad)


def test_one_execution_per_upload_and_no_duplicate_dead_letters(burst: BurstRun) -> None:
    assert burst.executions == UPLOADS
    assert burst.duplicates_in_dlq == 0


def test_the_ingest_queue_drains(burst: BurstRun) -> None:
    assert burst.ingest_depth == 0
