"""`imagepipe render` on representative corpus files, in one subprocess: a line per
file (what was written, or `rejected: <reason>: ...`), never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from infra.settings import PROJECT_DIR
from tests.reliability.core import worker_env
from tests.reliability.corpus import OK, Case

REPRESENTATIVE = (
    "empty.jpg",
    "document.jpg",
    "scan.gif",
    "truncated-jpeg-50.jpg",
    "truncated-webp-75.webp",
    "decodes-20000.png",
    "screen-20000.gif",
    "exif-offset.jpg",
    "orientation-9.jpg",
    "ycck.jpg",
    "rgba64.png",
    "animated-webp.webp",
)


def test_render_answers_each_file_in_one_line(
    corpus: list[Case], corpus_files: dict[str, Path], tmp_path: Path
) -> None:
    cases = {c.name: c for c in corpus}
    paths = [str(corpus_files[name]) for name in REPRESENTATIVE]
    done = subprocess.run(
        [sys.executable, "-m", "imagepipe", "render", *paths, "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,  # a hang guard
        check=False,
        cwd=PROJECT_DIR,
        env=worker_env(),
    )
    assert "Traceback" not in done.stdout + done.stderr
    assert done.returncode == 1  # some are rejected
    # Errors (not rejections) would be on stderr; Pillow's warnings about the malformed
    # EXIF input are there too, as Python prints warnings.
    problems = [
        line
        for line in done.stderr.splitlines()
        if line.strip() and "Warning:" not in line and not line.startswith("  warnings.warn")
    ]
    assert problems == []
    lines = done.stdout.splitlines()
    assert len(lines) == len(REPRESENTATIVE), done.stdout
    for name, line in zip(REPRESENTATIVE, lines, strict=True):
        expected = cases[name].exact
        assert line.startswith(str(corpus_files[name])), line
        if expected == OK:
            assert " -> " in line and "thumb/" in line, line
        else:
            assert f": rejected: {expected}: " in line, line
