"""The whole corpus uploaded at once to the local stack: each upload is processed (its
renditions and one image.processed) or rejected (recorded in the catalogue with the
reason code the imaging core gives the same bytes, and one image.rejected; the execution
succeeds and nothing is dead-lettered). Never a processing error (a traceback); every
upload accounted for through the catalogue: processed + rejected + failed == uploads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagefn.errors import ImageRejected
from imagepipe.local.stack import LocalStack
from infra.settings import load_stack_settings
from tests.reliability.core import limits_of
from tests.reliability.corpus import OK, Case
from tests.reliability.stack_runs import CorpusRun, run_corpus
from tests.reliability.worker import process

pytestmark = [
    pytest.mark.integration,
    # The malformed-EXIF inputs: Pillow says so, and the image is used without it.
    pytest.mark.filterwarnings("ignore::UserWarning:PIL.TiffImagePlugin"),
]


@pytest.fixture(scope="module")
def corpus_run(stack: LocalStack, corpus: list[Case], corpus_files: dict[str, Path]) -> CorpusRun:
    return run_corpus(stack, corpus, corpus_files)


def core_outcome(data: bytes, name: str) -> str:
    """What the imaging core says about these bytes, in this process (small files only)."""
    try:
        process(data, name, limits_of(load_stack_settings("dev")))
    except ImageRejected as exc:
        return exc.reason
    return OK


def test_every_upload_started_exactly_one_execution(corpus_run: CorpusRun) -> None:
    counts = {name: len(o.executions) for name, o in corpus_run.observed.items()}
    assert {name: n for name, n in counts.items() if n != 1} == {}
    assert corpus_run.ingest_depth == 0


def test_every_upload_ends_as_expected(corpus_run: CorpusRun, corpus: list[Case]) -> None:
    wrong = {
        case.name: (corpus_run.observed[case.name].outcome, sorted(case.expect))
        for case in corpus
        if corpus_run.observed[case.name].outcome not in case.expect
    }
    assert wrong == {}


def test_damaged_files_get_the_same_answer_as_from_the_core(
    corpus_run: CorpusRun, corpus: list[Case], corpus_files: dict[str, Path]
) -> None:
    """Bit flips may go either way; whichever way the core goes, the stack goes too."""
    differ = {}
    for case in corpus:
        if case.exact is None:
            core = core_outcome(corpus_files[case.name].read_bytes(), case.name)
            if corpus_run.observed[case.name].outcome != core:
                differ[case.name] = (corpus_run.observed[case.name].outcome, core)
    assert differ == {}


def test_images_have_every_rendition_and_one_notification(
    corpus_run: CorpusRun, stack: LocalStack
) -> None:
    wanted = len(stack.settings.renditions)
    for name, observed in corpus_run.observed.items():
        if observed.outcome == OK:
            assert len(observed.renditions) == wanted, name
            assert observed.events == ["image.processed"], name
            assert observed.dead_letters == [], name


def test_every_upload_is_accounted_for_in_the_catalogue(corpus_run: CorpusRun) -> None:
    accounted = {name: o.accounted for name, o in corpus_run.observed.items()}
    assert {name: o.outcome for name, o in corpus_run.observed.items() if not o.accounted} == {}
    processed, rejected = (list(accounted.values()).count(k) for k in ("processed", "rejected"))
    failed = list(accounted.values()).count("failed")
    assert processed + rejected + failed == corpus_run.uploads
    assert failed == 0
    notified = [o.notifications for o in corpus_run.observed.values()]
    assert notified == [1] * corpus_run.uploads  # no duplicate notification


def test_rejections_are_recorded_and_announced_with_the_reason(corpus_run: CorpusRun) -> None:
    for name, observed in corpus_run.observed.items():
        if observed.outcome == OK:
            continue
        record = observed.record
        assert record is not None and record.status == "rejected", (name, observed.outcome)
        assert record.message is not None and record.message.startswith(f"{record.reason}: ")
        assert record.execution_arn == observed.executions[-1].arn
        assert observed.status == "SUCCEEDED"  # handled input: it ended in Rejected
        assert observed.dead_letters == [], name
        assert observed.events == ["image.rejected"], name
        assert observed.renditions == [], name
        json.dumps(record.to_dict())  # the record is plain JSON
