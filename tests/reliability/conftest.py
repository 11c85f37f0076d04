"""The corpus, written once per session, and the local-stack helpers shared by this suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from imagepipe.local.stack import LocalStack, deploy_local
from tests.reliability.corpus import Case, build_corpus, write_corpus
from tests.support import drive, faults


@pytest.fixture(scope="session")
def corpus() -> list[Case]:
    return build_corpus()


@pytest.fixture(scope="session")
def corpus_files(corpus: list[Case], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Case name -> the file holding its bytes."""
    return write_corpus(tmp_path_factory.mktemp("corpus"), corpus)


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    """The dev stack on moto, deployed once per test module (S3's test event drained)."""
    with deploy_local("dev") as deployed:
        drive.pump(deployed)
        yield deployed


@pytest.fixture(autouse=True)
def _no_faults_left() -> Iterator[None]:
    yield
    faults.clear()
