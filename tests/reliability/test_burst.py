"""A burst of uploads at once through the local stack: every one accounted for, through
the catalogue.

`make test` sends 100 (about a minute and a half on two cores); `make burst`, which CI runs
after `make test`, sends the full 500 (IMAGEPIPE_BURST_UPLOADS sets the number).

processed (every rendition, one image.processed) + rejected (one image.rejected, no dead
letter) + failed (one dead letter) == uploads; the ingest queue drains; no upload is
notified twice.
"""

from __future__ import annotations

import os

import pytest

from imagepipe.local.stack import LocalStack
from tests.reliability.stack_runs import BurstRun, run_burst

pytestmark = pytest.mark.integration


def _uploads() -> int:
    raw = os.environ.get("IMAGEPIPE_BURST_UPLOADS", "100")
    if not raw.isdigit() or int(raw) < 10:
        raise pytest.UsageError(
            f"IMAGEPIPE_BURST_UPLOADS must be a whole number >= 10, not {raw!r}"
        )
    return int(raw)


UPLOADS = _uploads()
BAD_EVERY = 10


@pytest.fixture(scope="module")
def burst(stack: LocalStack) -> BurstRun:
    return run_burst(stack, UPLOADS, BAD_EVERY)


def test_every_upload_is_accounted_for_in_the_catalogue(burst: BurstRun) -> None:
    assert burst.unaccounted == []
    assert burst.processed + burst.rejected + burst.failed == burst.uploads == UPLOADS
    assert (burst.processed, burst.rejected, burst.failed) == (burst.good, burst.bad, 0), (
        burst.letters
    )


def test_one_execution_per_upload_no_duplicate_notification_no_dead_letter(
    burst: BurstRun,
) -> None:
    assert burst.executions == UPLOADS
    assert burst.duplicate_notifications == 0
    assert burst.dead_lettered == 0, burst.letters  # rejections are events, not dead letters


def test_the_ingest_queue_drains(burst: BurstRun) -> None:
    assert burst.ingest_depth == 0
