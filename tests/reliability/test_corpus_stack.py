"""The whole corpus uploaded at once to the local stack: each upload gets its renditions
and one notification, or exactly one dead-letter message with the reason code the
imaging core gives the same bytes. Never a processing error (a traceback)."""

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
            assert observed.notifications == 1, name
            assert observed.dead_letters == [], name


def test_rejections_are_one_dead_letter_each_with_the_reason(corpus_run: CorpusRun) -> None:
    for name, observed in corpus_run.observed.items():
        if observed.outcome == OK:
            continue
        [letter] = observed.dead_letters
        assert letter.kind == "rejected", (name, letter.body)
        assert letter.body["error"] == "ImageRejected"
        assert letter.body["message"].startswith(f"{letter.reason}: ")
        assert letter.execution_arn == observed.executions[-1].arn
        assert observed.status == "FAILED"
        assert observed.renditions == [] and observed.notifications == 0, name
        json.dumps(letter.body)  # the message is plain JSON
