"""Every corpus input through the imaging core: renditions or a reason code, never a
traceback, never a hang, and never more memory than the Lambda has (with margin).

Each input runs in its own process (tests.reliability.worker) with a generous hang
guard; nothing here asserts on time. The measured figures go to docs/reliability.md
through `python -m tests.reliability.report`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.settings import load_stack_settings
from tests.reliability.core import Measured, run_core
from tests.reliability.corpus import Case

MEMORY_MARGIN = 0.75
"""Peak RSS must stay under this share of the Lambda's memory: the Python runtime's own
overhead on Lambda and allocator differences between machines need the rest."""
DECODE_HEADROOM_MB = 64
"""A bomb refused before decoding costs next to nothing over the baseline; decoding any
of them would cost hundreds of MB."""


@pytest.fixture(scope="module")
def measured(corpus: list[Case], corpus_files: dict[str, Path]) -> list[Measured]:
    return run_core(corpus, corpus_files)


def _problems(rows: list[Measured]) -> str:
    return "\n".join(f"{m.case.name}: {m.outcome}: {m.detail[:1500]}" for m in rows)


def test_the_corpus_covers_every_kind_of_bad_input(corpus: list[Case]) -> None:
    groups = {c.group for c in corpus}
    assert {"not an image", "unsupported", "truncated", "bit flip", "bomb", "metadata",
            "colour", "animation", "at the limit"} <= groups  # fmt: skip
    expected = {next(iter(c.expect)) for c in corpus if c.exact}
    assert {"ok", "empty", "not_an_image", "unsupported_format", "corrupt",
            "too_many_pixels"} <= expected  # fmt: skip


def test_no_traceback_and_no_hang(measured: list[Measured]) -> None:
    broken = [m for m in measured if m.outcome in ("error", "timeout")]
    assert not broken, _problems(broken)


def test_every_input_ends_as_expected(measured: list[Measured]) -> None:
    wrong = [m for m in measured if not m.accepted]
    assert not wrong, _problems(wrong)


def test_peak_memory_stays_under_the_lambda_memory(measured: list[Measured]) -> None:
    memory_mb = load_stack_settings("dev").lambda_memory_mb
    over = [m for m in measured if m.peak_rss_mb > MEMORY_MARGIN * memory_mb]
    assert not over, "\n".join(
        f"{m.case.name}: {m.peak_rss_mb:.0f} MB > {MEMORY_MARGIN:.0%} of {memory_mb} MB"
        for m in over
    )
    assert all(m.peak_rss_mb > 0 for m in measured)


def test_bombs_are_refused_before_anything_is_decoded(measured: list[Measured]) -> None:
    bombs = [m for m in measured if m.case.group == "bomb"]
    assert len(bombs) >= 5
    for m in bombs:
        assert m.outcome == "too_many_pixels", (m.case.name, m.detail)
        assert m.peak_rss_mb - m.baseline_rss_mb < DECODE_HEADROOM_MB, (
            m.case.name,
            m.peak_rss_mb,
            m.baseline_rss_mb,
        )


def test_the_ycck_input_is_a_real_ycck_jpeg() -> None:
    """The YCCK case is genuine: libjpeg's YCCK path gives back the CMYK it was made from."""
    import io

    from PIL import Image, ImageChops

    from imagepipe.local.samples import photo
    from tests.reliability.corpus import ycck_jpeg

    with Image.open(io.BytesIO(ycck_jpeg())) as im:
        assert im.info.get("adobe_transform") == 2
        assert im.mode == "CMYK"
        decoded = im.convert("RGB")
    original = photo(320, 240, seed=7).convert("CMYK").convert("RGB")
    bands = ImageChops.difference(decoded, original).split()
    assert max(band.getextrema()[1] for band in bands) < 40  # type: ignore[operator]
