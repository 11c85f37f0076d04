"""`imagepipe render`: make a stack's renditions of local files, exactly as the pipeline does.

It runs the same functions as the Lambdas, in the same order: the byte-size check and
validate_image (the Inspect function), plan_rendition (the key scheme, with the file's
name as the key, no upload prefix) and render (the Resize function). So a file renders
here byte for byte as it would in the stack, and is rejected with the same reason.
"""

from __future__ import annotations

import stat
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from imagefn.errors import ImageRejected
from imagefn.imaging import (
    RenderedImage,
    check_byte_size,
    key_stem,
    plan_rendition,
    render,
    validate_image,
)
from imagefn.renditions import Rendition


@dataclass(frozen=True)
class Limits:
    """What the stack allows: its renditions and its input limits."""

    renditions: tuple[Rendition, ...]
    max_input_bytes: int
    max_input_pixels: int


@dataclass(frozen=True)
class Written:
    path: Path
    image: RenderedImage


@dataclass(frozen=True)
class Outcome:
    """What happened to one input: renditions written, a rejection, or an error (a path
    that is missing, unreadable, not a file, or an output that cannot be written)."""

    source: str
    written: tuple[Written, ...] = ()
    rejected: ImageRejected | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.rejected is None and self.error is None

    def line(self) -> str:
        if self.rejected is not None:
            return f"{self.source}: rejected: {self.rejected}"
        if self.error is not None:
            return f"{self.source}: error: {self.error}"
        files = ", ".join(
            f"{w.path} ({w.image.width}x{w.image.height}, {human_size(len(w.image.data))})"
            for w in self.written
        )
        return f"{self.source} -> {files}"


def human_size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    if n < 1_000_000:
        return f"{n / 1000:.1f} kB"
    return f"{n / 1_000_000:.1f} MB"


def _os_problem(exc: OSError) -> str:
    return (exc.strerror or type(exc).__name__).lower()


def _read(path: Path, max_bytes: int) -> bytes:
    """The file's bytes; ImageRejected for an empty or too large file (read no further
    than one byte past the limit); OSError for a path that is not a readable file."""
    info = path.stat()
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(21, "is a directory", str(path))
    if not stat.S_ISREG(info.st_mode):
        raise OSError(0, "not a regular file", str(path))
    check_byte_size(info.st_size, max_bytes=max_bytes)
    with path.open("rb") as f:
        data = f.read(max_bytes + 1)
    check_byte_size(len(data), max_bytes=max_bytes)  # it may have changed since stat
    return data


def render_file(path: Path, out_dir: Path, limits: Limits) -> Outcome:
    """Render every rendition of one file into out_dir/<rendition key>."""
    source = str(path)
    try:
        data = _read(path, limits.max_input_bytes)
    except ImageRejected as exc:
        return Outcome(source, rejected=exc)
    except OSError as exc:
        return Outcome(source, error=_os_problem(exc))
    written: list[Written] = []
    try:
        info = validate_image(data, max_pixels=limits.max_input_pixels)
        stem = key_stem(path.name)
        for rendition in limits.renditions:
            planned = plan_rendition(rendition, source_format=info.format, stem=stem)
            image = render(data, rendition, max_pixels=limits.max_input_pixels)
            destination = out_dir / planned["key"]
            try:
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.write_bytes(image.data)
            except OSError as exc:
                problem = f"cannot write {destination}: {_os_problem(exc)}"
                return Outcome(source, tuple(written), error=problem)
            written.append(Written(destination, image))
    except ImageRejected as exc:
        return Outcome(source, tuple(written), rejected=exc)
    return Outcome(source, tuple(written))


def render_files(paths: Iterable[Path], out_dir: Path, limits: Limits) -> Iterator[Outcome]:
    for path in paths:
        try:
            yield render_file(path, out_dir, limits)
        except Exception as exc:  # one line per input, never a traceback
            yield Outcome(str(path), error=f"internal error: {type(exc).__name__}: {exc}")


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 0 if all(o.ok for o in self.outcomes) else 1


def load_limits(stack: str) -> Limits:
    """The stack's renditions and limits, from Pulumi.yaml and Pulumi.<stack>.yaml."""
    from infra.settings import load_stack_settings

    settings = load_stack_settings(stack)
    return Limits(
        renditions=settings.renditions,
        max_input_bytes=settings.max_input_bytes,
        max_input_pixels=settings.max_input_pixels,
    )


def run(
    files: Sequence[Path],
    out_dir: Path,
    stack: str,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """The `imagepipe render` command: 0 all rendered, 1 any rejected or failed, 2 bad
    stack or output directory."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        limits = load_limits(stack)
    except Exception as exc:  # a bad stack is a usage error, not a crash
        print(f"imagepipe render: error: stack {stack!r}: {exc}", file=err)
        return 2
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"imagepipe render: error: cannot create {out_dir}: {_os_problem(exc)}", file=err)
        return 2
    report = Report()
    for outcome in render_files(files, out_dir, limits):
        report.outcomes.append(outcome)
        print(outcome.line(), file=err if outcome.error else out, flush=True)
    return report.exit_code
