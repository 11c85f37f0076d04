"""Part 3: cold start (importing the resize handler) and the size of what Lambda gets.

Import: ``python -S`` in a fresh process, with sys.path as Lambda builds it (the function
code, then the layer's packages; here the venv's site-packages stand in for both the
layer and the runtime's boto3) and the environment the Pulumi program sets. The child
times ``import imagefn.resize_handler`` (which also creates the S3 client and the
Powertools logger, as Lambda's init phase does). Median of several processes; one more
run under ``-X importtime`` says where the time goes.

Bytecode: /var/task and /opt are read-only, so Lambda compiles on every cold start each
imported module of the layer and the function code whose zip carries no bytecode for the
runtime's Python (packaging.py writes it when the build machine has that Python); botocore
comes precompiled with the runtime. The child times compiling the source of every
imported module, the part of a Lambda cold start that a local run with warm __pycache__
does not show, and ``lambda_compile_ms`` counts those the built zips do not cover.

The child also times the S3 client on its own (importing botocore's session and creating
the client, in another fresh process): the part of the cold start no change to the
project's code can take away while the handler talks to S3 through the AWS SDK.
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
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
FUNCTIONS: Final = ROOT / "functions"
HANDLER: Final = "imagefn.resize_handler"
LAYER_PACKAGES: Final = (
    "PIL", "aws_lambda_powertools", "jmespath", "typing_extensions", "pillow_heif", "resvg_py",
    "defusedxml", "blurhash",
)  # fmt: skip

ZIPPED_LIMIT_MB: Final = 50.0  # direct upload of a function zip (layers: same limit each)
UNZIPPED_LIMIT_MB: Final = 250.0  # function code plus all its layers, unzipped

_CHILD: Final = """
import json, os, resource, sys, time
t0, c0 = time.perf_counter(), time.process_time()
import {handler}
t1, c1 = time.perf_counter(), time.process_time()
rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for line in open("/proc/self/status"):  # VmHWM starts afresh at exec; ru_maxrss does not
    if line.startswith("VmHWM:"):
        rss_kb = int(line.split()[1])
compile_ms = {{}}  # path in its zip -> ms
for name, module in list(sys.modules.items()):
    path = getattr(module, "__file__", None) or ""
    top = name.split(".")[0]
    if not path.endswith(".py") or top not in {packages!r}:
        continue
    root = {functions!r} if top == "imagefn" else {purelib!r}
    where = os.path.relpath(path, root)
    with open(path, "rb") as f:
        source = f.read()
    k0 = time.perf_counter()
    compile(source, path, "exec", dont_inherit=True)
    compile_ms[where if top == "imagefn" else "python/" + where] = (
        (time.perf_counter() - k0) * 1000)
print(json.dumps({{"import_ms": (t1 - t0) * 1000, "cpu_ms": (c1 - c0) * 1000,
                  "rss_kb": rss_kb, "compile_ms": compile_ms}}))
"""
_SDK_CHILD: Final = """
import json, time
t0 = time.perf_counter()
import botocore.session
from botocore.config import Config
t1 = time.perf_counter()
botocore.session.get_session().create_client(
    "s3", config=Config(retries={"mode": "standard", "max_attempts": 3}))
t2 = time.perf_counter()
print(json.dumps([(t1 - t0) * 1000, (t2 - t1) * 1000]))
"""

# -X importtime self time, grouped by top-level package.
GROUPS: Final = {
    "boto3": "AWS SDK (botocore, urllib3, dateutil, jmespath; boto3 if imported)",
    "botocore": "AWS SDK (botocore, urllib3, dateutil, jmespath; boto3 if imported)",
    "s3transfer": "AWS SDK (botocore, urllib3, dateutil, jmespath; boto3 if imported)",
    "urllib3": "AWS SDK (botocore, urllib3, dateutil, jmespath; boto3 if imported)",
    "dateutil": "AWS SDK (botocore, urllib3, dateutil, jmespath; boto3 if imported)",
    "jmespath": "AWS SDK (botocore, urllib3, dateutil, jmespath; boto3 if imported)",
    "aws_lambda_powertools": "Powertools",
    "typing_extensions": "Powertools",
    "PIL": "Pillow",
    "imagefn": "imagefn (imaging, renditions, errors)",
}
HANDLER_BODY: Final = "resize_handler module body (S3 client, Logger)"


@dataclass
class ImportTimes:
    runs_ms: list[float]
    cpu_ms: list[float]  # the same runs' CPU time (less moved by other work on the machine)
    bare_ms: list[float]  # `python -S -c pass`, for scale
    compile_ms: dict[str, float]  # per imported module of the layer and function code
    rss_mb: float
    sdk_ms: list[tuple[float, float]]  # (import botocore.session, create the S3 client)
    breakdown_ms: dict[str, float] = field(default_factory=dict)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.runs_ms)

    @property
    def median_cpu_ms(self) -> float:
        return statistics.median(self.cpu_ms)

    @property
    def sdk_median_ms(self) -> tuple[float, float]:
        """Median of (botocore import, S3 client creation), each over the runs."""
        return (
            statistics.median(a for a, _ in self.sdk_ms),
            statistics.median(b for _, b in self.sdk_ms),
        )

    def lambda_compile_ms(self, shipped: frozenset[str]) -> float:
        """What Lambda compiles at cold start: modules whose bytecode is not ``shipped``
        (source paths, as in the zips, that have .pyc for the runtime's Python)."""
        return sum(ms for path, ms in self.compile_ms.items() if path not in shipped)

    def uncompiled(self, shipped: frozenset[str]) -> int:
        return sum(1 for path in self.compile_ms if path not in shipped)


@dataclass(frozen=True)
class Artifact:
    name: str
    zipped_mb: float | None
    unzipped_mb: float | None
    note: str = ""
    top: tuple[tuple[str, float], ...] = ()  # biggest top-level entries, unzipped MB
    compiled: frozenset[str] = frozenset()
    """Its .py files that carry bytecode for the runtime's Python (paths in the zip)."""
    compiled_by: str = ""
    """What wrote that bytecode (Python 3.12.1), or "" for none."""


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


def _child(*flags: str, code: str = "") -> subprocess.CompletedProcess[str]:
    code = code or _CHILD.format(
        handler=HANDLER,
        packages=(*LAYER_PACKAGES, "imagefn"),
        functions=str(FUNCTIONS),
        purelib=sysconfig.get_paths()["purelib"],
    )
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
    cpu: list[float] = []
    bare: list[float] = []
    sdk: list[tuple[float, float]] = []
    last: dict[str, Any] = {}
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-S", "-c", "pass"], env=_env(), check=True)
        bare.append((time.perf_counter() - start) * 1000)
        last = json.loads(_child().stdout)
        runs.append(last["import_ms"])
        cpu.append(last["cpu_ms"])
        botocore_ms, client_ms = json.loads(_child(code=_SDK_CHILD).stdout)
        sdk.append((botocore_ms, client_ms))
    traced = _child("-X", "importtime")
    return ImportTimes(
        runs_ms=runs,
        cpu_ms=cpu,
        bare_ms=bare,
        compile_ms=last["compile_ms"],
        rss_mb=last["rss_kb"] / 1024,
        sdk_ms=sdk,
        breakdown_ms=_breakdown(traced.stderr),
    )


def _compiled(path: Path, python_version: str) -> frozenset[str]:
    """The .py files of a zip that have bytecode for this Python version next to them."""
    tag = f".cpython-{python_version.replace('.', '')}.pyc"
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
    found = set()
    for name in names:
        folder, _, file = name.rpartition("/")
        if file.endswith(".py"):
            pyc = f"{folder}/__pycache__/{file.removesuffix('.py')}{tag}".lstrip("/")
            if pyc in names:
                found.add(name)
    return frozenset(found)


def _sizes(path: Path) -> tuple[float, float, tuple[tuple[str, float], ...]]:
    with zipfile.ZipFile(path) as zf:
        entries = zf.infolist()
    by_top: dict[str, int] = defaultdict(int)
    for entry in entries:
        parts = entry.filename.split("/")
        top = "/".join(parts[:2]) if parts[0] == "python" and len(parts) > 2 else parts[0]
        by_top[top] += entry.file_size
    unzipped = sum(e.file_size for e in entries) / 1e6
    largest = tuple(
        (name, size / 1e6) for name, size in sorted(by_top.items(), key=lambda kv: -kv[1])[:5]
    )
    return path.stat().st_size / 1e6, unzipped, largest


def artifacts(
    python_version: str, architecture: str, progress: Callable[[str], None] = lambda _: None
) -> list[Artifact]:
    """The function code zip and the layer zip, built by infra/packaging.py (cached)."""
    from infra import packaging

    built: list[Artifact] = []
    compiler = packaging.bytecode_compiler(python_version)
    compiled_by = f"Python {compiler.version}" if compiler else ""
    progress("cold start: function zip")
    function = packaging.build_function_archive()
    zipped, unzipped, top = _sizes(function.path)
    built.append(
        Artifact(
            "function code (imagefn)", zipped, unzipped, top=top,
            compiled=_compiled(function.path, python_version), compiled_by=compiled_by,
        )
    )  # fmt: skip
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
                compiled=_compiled(layer.path, python_version),
                compiled_by=compiled_by,
            )
        )
    return built
