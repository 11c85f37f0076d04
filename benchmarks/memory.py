"""Part 2: peak memory (RSS growth) of making one rendition, each in a fresh subprocess.

The child imports everything, reads the input, and warms the codecs up on a tiny image of
the same formats (so plugin and library loading is not counted); then it reads its peak
RSS (VmHWM; see peak_rss_kb for why not ru_maxrss), makes the rendition once, and reads
the peak again. The growth
is what the rendition needs on top of a warm process. A fresh process per measurement
keeps one run's heap (and the allocator's retained pages) out of the next.

Child usage: python -m benchmarks.memory CONTENDER INPUT_FILE RENDITION_JSON WIDTH HEIGHT
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from imagefn.renditions import Rendition

from .inputs import Input


@dataclass(frozen=True)
class Peak:
    base_mb: float  # peak RSS of the warm process before the rendition
    peak_mb: float  # peak RSS after it

    @property
    def growth_mb(self) -> float:
        return self.peak_mb - self.base_mb


def _child(argv: Sequence[str]) -> None:
    import gc
    import io

    from PIL import Image

    from . import contenders

    name, path, spec, width, height = argv
    fn = contenders.CONTENDERS[name]
    rendition = Rendition.from_dict(json.loads(spec))
    size = (int(width), int(height))
    data = Path(path).read_bytes()
    with contenders.open_image(data) as source:  # header only: nothing decoded
        mode, fmt = source.mode, source.format
    tiny = io.BytesIO()
    Image.new(mode, (64, 48)).save(tiny, fmt)
    tiny_rendition = Rendition.from_dict({**rendition.to_dict(), "width": 32, "height": 24})
    fn(tiny.getvalue(), tiny_rendition, (32, 24))
    del tiny
    gc.collect()
    before = peak_rss_kb()
    fn(data, rendition, size)
    after = peak_rss_kb()
    print(json.dumps({"base_kb": before, "peak_kb": after}))


def peak_rss_kb() -> int:
    """The process's peak RSS: VmHWM, which starts afresh at exec. getrusage's ru_maxrss
    does not: it keeps the peak of the parent's memory that the child was forked with."""
    import resource

    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure_one(name: str, path: Path, rendition: Rendition, size: tuple[int, int]) -> Peak:
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.memory",
        name,
        str(path),
        json.dumps(rendition.to_dict()),
        str(size[0]),
        str(size[1]),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    values = json.loads(done.stdout.strip().splitlines()[-1])
    return Peak(values["base_kb"] / 1024, values["peak_kb"] / 1024)


def run(
    inputs: Sequence[Input],
    renditions: tuple[Rendition, ...],
    sizes: dict[tuple[str, str], tuple[int, int]],
    names: Sequence[str],
    workdir: Path,
    unreadable: Mapping[tuple[str, str], str],
    progress: Callable[[str], None] = lambda _: None,
) -> dict[tuple[str, str, str], Peak]:
    """(input, rendition, contender) -> Peak. ``sizes``: the project's output sizes."""
    peaks: dict[tuple[str, str, str], Peak] = {}
    for source in inputs:
        progress(f"memory: {source.name}")
        path = source.write(workdir)
        for r in renditions:
            for name in names:
                if (source.name, name) in unreadable:
                    continue
                peaks[source.name, r.name, name] = measure_one(
                    name, path, r, sizes[source.name, r.name]
                )
    return peaks


if __name__ == "__main__":
    _child(sys.argv[1:])
