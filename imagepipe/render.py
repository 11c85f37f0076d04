"""`imagepipe render`'s work: a stack's renditions of local files, made by the Lambdas'
own functions in their order (check_byte_size and validate_image as Inspect, the key
from plan_rendition, render as Resize), so a file renders here byte for byte as in the
stack, or is rejected with the same reason.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagefn.errors import ImageRejected
from imagefn.imaging import check_byte_size, key_stem, plan_rendition, render, validate_image
from imagefn.renditions import Rendition
from imagepipe.display import size

if TYPE_CHECKING:
    from infra.settings import Settings


@dataclass(frozen=True)
class Limits:
    """What the stack allows: its renditions and its input limits."""

    renditions: tuple[Rendition, ...]
    max_input_bytes: int
    max_input_pixels: int


@dataclass(frozen=True)
class Written:
    name: str  # the rendition's
    path: Path
    width: int
    height: int
    bytes: int
    format: str

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path)}


@dataclass(frozen=True)
class Outcome:
    """What happened to one input: renditions written, a rejection, or an error (an
    unreadable file, an output that cannot be written)."""

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
        files = ", ".join(f"{w.path} ({w.width}x{w.height}, {size(w.bytes)})" for w in self.written)
        return f"{self.source} -> {files}"

    def to_dict(self) -> dict[str, Any]:
        rejected = self.rejected
        return {
            "file": self.source,
            "renditions": [w.to_dict() for w in self.written],
            "rejected": rejected and {"reason": rejected.reason, "message": rejected.message},
            "error": self.error,
        }


@dataclass
class Report:
    stack: str
    out: Path
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "out": str(self.out),
            "files": [o.to_dict() for o in self.outcomes],
        }


def os_problem(exc: OSError) -> str:
    """What went wrong with a file, in words: "no such file or directory"."""
    return (exc.strerror or type(exc).__name__).lower()


def _read(path: Path, max_bytes: int) -> bytes:
    """The file's bytes; ImageRejected for an empty or too large file (read no further
    than one byte past the limit); OSError for a path that cannot be read. The path is a
    regular file: inputs.collect takes no other (is_file), so no FIFO blocks the open."""
    check_byte_size(path.stat().st_size, max_bytes=max_bytes)
    with path.open("rb") as f:
        data = f.read(max_bytes + 1)
    check_byte_size(len(data), max_bytes=max_bytes)  # it may have changed since stat
    return data


def render_file(path: Path, out_dir: Path, limits: Limits, name: str | None = None) -> Outcome:
    """Render every rendition of one file into out_dir/<rendition key>; `name` is the
    key's source (default: the file's name)."""
    source = str(path)
    try:
        data = _read(path, limits.max_input_bytes)
    except ImageRejected as exc:
        return Outcome(source, rejected=exc)
    except OSError as exc:
        return Outcome(source, error=os_problem(exc))
    written: list[Written] = []
    try:
        info = validate_image(data, max_pixels=limits.max_input_pixels)
        stem = key_stem(name or path.name)
        for rendition in limits.renditions:
            planned = plan_rendition(rendition, source_format=info.format, stem=stem)
            image = render(data, rendition, max_pixels=limits.max_input_pixels)
            destination = out_dir / planned["key"]
            try:
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.write_bytes(image.data)
            except OSError as exc:
                problem = f"cannot write {destination}: {os_problem(exc)}"
                return Outcome(source, tuple(written), error=problem)
            shape = (image.width, image.height, len(image.data), image.format)
            written.append(Written(rendition.name, destination, *shape))
    except ImageRejected as exc:
        return Outcome(source, tuple(written), rejected=exc)
    except Exception as exc:  # one line per input, never a traceback
        problem = f"internal error: {type(exc).__name__}: {exc}"
        return Outcome(source, tuple(written), error=problem)
    return Outcome(source, tuple(written))


def limits_of(settings: Settings) -> Limits:
    """The renditions and limits of a stack's settings."""
    return Limits(settings.renditions, settings.max_input_bytes, settings.max_input_pixels)
