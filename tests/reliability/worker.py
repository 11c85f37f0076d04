"""One input through the imaging core, in a process of its own: `python -m
tests.reliability.worker FILE LIMITS_JSON` prints one JSON line with the outcome, the
time the work took and the process's peak RSS.

It does what the two Lambdas do with an upload, in their order: Inspect (byte size,
the header check on the first HEADER_BYTES, validate_image on the whole file), then
Resize for every rendition (plan_rendition, render). The Lambdas' heavy imports (boto3,
Powertools) are imported first, so the baseline is a Lambda's, not a bare interpreter's.

Outcomes: "ok", "rejected" (with the reason code), or "error" (anything else: a bug,
with its traceback). Peak RSS is VmHWM, the most this process ever held resident.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]  # in a Lambda's baseline
from aws_lambda_powertools import Logger  # noqa: F401 - and this

from imagefn.errors import ImageRejected
from imagefn.imaging import (
    HEADER_BYTES,
    check_byte_size,
    key_stem,
    peek_image,
    plan_rendition,
    render,
    validate_image,
)
from imagefn.renditions import parse_renditions


def _status_mb(field: str) -> float | None:
    """A memory figure of this process from /proc/self/status (Linux), in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def _peak_rss_mb() -> float:
    """The most this process has held resident. VmHWM, not ru_maxrss: Linux carries
    ru_maxrss across exec, so a child would report its parent's peak if that was higher."""
    peak = _status_mb("VmHWM")
    if peak is None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return peak


def _rss_mb() -> float:
    now = _status_mb("VmRSS")
    return now if now is not None else _peak_rss_mb()


def process(data: bytes, name: str, limits: dict[str, Any]) -> dict[str, Any]:
    renditions = parse_renditions(limits["renditions"])
    max_pixels = int(limits["max_input_pixels"])
    check_byte_size(len(data), max_bytes=int(limits["max_input_bytes"]))
    peek_image(data[:HEADER_BYTES], max_pixels=max_pixels)
    info = validate_image(data, max_pixels=max_pixels)
    made = []
    for rendition in renditions:
        planned = plan_rendition(rendition, source_format=info.format, stem=key_stem(name))
        out = render(data, rendition, max_pixels=max_pixels)
        made.append(
            {
                "key": planned["key"],
                "width": out.width,
                "height": out.height,
                "bytes": len(out.data),
            }
        )
    return {"format": info.format, "width": info.width, "height": info.height, "renditions": made}


def main(argv: list[str]) -> int:
    path, limits = Path(argv[0]), json.loads(argv[1])
    data = path.read_bytes()
    boto3.client("s3", region_name="us-east-1")  # as the handlers do at import
    baseline = _rss_mb()
    started = time.perf_counter()
    result: dict[str, Any]
    try:
        result = {"outcome": "ok", **process(data, path.name, limits)}
    except ImageRejected as exc:
        result = {"outcome": "rejected", "reason": exc.reason, "message": exc.message}
    except Exception as exc:
        result = {
            "outcome": "error",
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
        }
    result.update(
        seconds=time.perf_counter() - started,
        peak_rss_mb=_peak_rss_mb(),
        baseline_rss_mb=baseline,
        bytes=len(data),
    )
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
