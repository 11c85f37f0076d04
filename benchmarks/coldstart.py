"""Part 3: cold start (importing the resize handler) and the size of what Lambda gets.

Import: ``python -S`` in a fresh process, with sys.path as Lambda builds it (the function
code, then the layer's packages; here the venv's site-packages stand in for both the
layer and the runtime's boto3) and the environment the Pulumi program sets. The child
times ``import imagefn.resize_handler`` (which also creates the S3 client and the
Powertools logger, as Lambda's init phase does). Median of several processes; one more
run under ``-X importtime`` says where the time goes.

Bytecode: the function and layer zips carry no .pyc (packaging.py leaves them out to stay
reproducible) and /var/task and /opt are read-only, so Lambda compiles those modules on
every cold start; boto3 comes precompiled with the runtime. The child also times
compiling the source of every imported module from the layer and the function code, the
part of a Lambda cold start that a local run with warm __pycache__ does not show.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import sysconfig
import time
import zipfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
FUNCTIONS: Final = ROOT / "functions"
HANDLER: Final = "imagefn.resize_handler"
LAYER_PACKAGES: Final = ("PIL", "aws_lambda_powertools", "jmespath", "typing_extensions")

ZIPPED_LIMIT_MB: Final = 50.0  # direct upload of a function zip (layers: same limit each)
UNZIPPED_LIMIT_MB: Final = 250.0  # function code plus all its layers, unzipped

_CHILD: Final = """
import json, resource, sys, time
t0 = time.perf_counter()
import {handler}
t1 = time.perf_counter()
rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for line in open("/proc/self/status"):  # VmHWM starts afresh at exec; ru_maxrss does not
    if line.startswith("VmHWM:"):
        rss_kb = int(line.split()[1])
compile_ms = 0.0
files = 0
for name, module in list(sys.modules.items()):
    path = getattr(module, "__file__", None) or ""
    if not path.endswith(".py") or name.split(".")[0] not in {packages!r}:
        continue
    with open(path, "rb") as f:
        source = f.read()
    c0 = time.perf_counter()
    compile(source, path, "exec", dont_inherit=True)
    compile_ms += (time.perf_counter() - c0) * 1000
    files += 1
print(json.dumps({{"import_ms": (t1 - t0) * 1000, "rss_kb": rss_kb,
                  "compile_ms": compile_ms, "compiled_files": files}}))
"""

# -X importtime self time, grouped by top-level package.
GROUPS: Final = {
    "boto3": "AWS SDK (boto3, botocore, s3transfer, urllib3, dateutil)",
    "botocore": "AWS SDK (boto3, botocore, s3transfer, urllib3, dateutil)",
    "s3transfer": "AWS SDK (boto3, botocore, s3transfer, urllib3, dateutil)",
    "urllib3": "AWS SDK (boto3, botocore, s3transfer, urllib3, dateutil)",
    "dateutil": "AWS SDK (boto3, botocore, s3transfer, urllib3, dateutil)",
    "jmespath": "AWS SDK (boto3, botocore, s3transfer, urllib3, dateutil)",
    "aws_lambda_powertools": "Powertools",
    "typing_extensions": "Powertools",
    "PIL": "Pillow",
    "imagefn": "imagefn (imaging, renditions, errors)",
}
HANDLER_BODY: Final = "resize_handler module body (S3 client, Logger)"


@dataclass
class ImportTimes:
    runs_ms: list[float]
    bare_ms: list[float]  # `python -S -c pass`, for scale
    compile_ms: float
    compiled_files: int
    rss_mb: float
    breakdown_ms: dict[str, float] = field(default_factory=dict)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.runs_ms)


@dataclass(frozen=True)
class Artifact:
    name: str
    zipped_mb: float | None
    unzipped_mb: float | None
    note: str = ""
    top: tuple[tuple[str, float], ...] = ()  # biggest top-level entries, unzipped MB


def _env() -> dict[str, str]:
    purelib = sysconfig.get_paths()["purelib"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_"))}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join([str(FUNCTIONS), purelib]),
            "DESTINATION_BUCKET": "imagepipe-dev-renditions",
            "MAX_INPUT_PIXELS": "40000000",
            "AWS_REGION": "eu-west-1",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "POWERTOOLS_SERVICE_NAME": "imagepipe-resize",
            "POWERTOOLS_METRICS_NAMESPACE": "ImagePipeline",
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }
    )
    return env


def _child(*flags: str) -> subprocess.CompletedProcess[str]:
    code = _CHILD.format(handler=HANDLER, packages=(*LAYER_PACKAGES, "imagefn"))
    return subprocess.run(
        [sys.executable, "-S", *flags, "-c", code],
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )


def _breakdown(stderr: str) -> dict[str, float]:
    groups: dict[str, float] = defaultdict(float)
    for line in stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if not match:
            continue
        self_us, name = int(match[1]), match[4]
        if name == HANDLER:
            groups[HANDLER_BODY] += self_us / 1000
            continue
        groups[GROUPS.get(name.split(".")[0], "Python standard library and other")] += (
            self_us / 1000
        )
    return dict(sorted(groups.items(), key=lambda kv: -kv[1]))


def import_times(repeats: int) -> ImportTimes:
    runs: list[float] = []
    bare: list[float] = []
    last: dict[str, float] = {}
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-S", "-c", "pass"], env=_env(), check=True)
        bare.append((time.perf_counter() - start) * 1000)
        last = json.loads(_child().stdout)
        runs.append(last["import_ms"])
    traced = _child("-X", "importtime")
    return ImportTimes(
        runs_ms=runs,
        bare_ms=bare,
        compile_ms=last["compile_ms"],
        compiled_files=int(last["compiled_files"]),
        rss_mb=last["rss_kb"] / 1024,
        breakdown_ms=_breakdown(traced.stderr),
    )


def _sizes(path: Path) -> tuple[float, float, tuple[tuple[str, float], ...]]:
    with zipfile.ZipFile(path) as zf:
        entries = zf.infolist()
    by_top: dict[str, int] = defaultdict(int)
    for entry in entries:
        parts = entry.filename.split("/")
        top = "/".join(parts[:2]) if parts[0] == "python" and len(parts) > 2 else parts[0]
        by_top[top] += entry.file_size
    unzipped = sum(e.file_size for e in entries) / 1e6
    top = tuple(
        (name, size / 1e6) for name, size in sorted(by_top.items(), key=lambda kv: -kv[1])[:5]
    )
    return path.stat().st_size / 1e6, unzipped, top


def artifacts(
    python_version: str, architecture: str, progress: Callable[[str], None] = lambda _: None
) -> list[Artifact]:
    """The function code zip and the layer zip, built by infra/packaging.py (cached)."""
    from infra import packaging

    built: list[Artifact] = []
    progress("cold start: function zip")
    function = packaging.build_function_archive()
    zipped, unzipped, top = _sizes(function.path)
    built.append(Artifact("function code (imagefn)", zipped, unzipped, top=top))
    progress(f"cold start: layer zip (Python {python_version}, {architecture})")
    try:
        layer = packaging.build_layer(python_version, architecture)
    except packaging.PackagingError as exc:
        first = str(exc).splitlines()[0]
        built.append(Artifact(f"Pillow layer ({architecture})", None, None, note=first))
    else:
        zipped, unzipped, top = _sizes(layer.path)
        built.append(
            Artifact(
                f"Pillow + Powertools layer (py{python_version}, {architecture})",
                zipped,
                unzipped,
                top=top,
            )
        )
    return built
