"""Build the Lambda artifacts: the function code zip and the Pillow layer zip.

Both are reproducible: the same inputs give a byte-identical archive (sorted entries,
fixed timestamps and permissions), so `source_code_hash` only changes when the code or
the pinned wheels do, and `pulumi up` makes no spurious updates. Built archives go to
`.build/` (git-ignored) and are reused while their inputs match.

Bytecode: /opt and /var/task are read-only on Lambda, so modules shipped without .pyc are
compiled again at every cold start (measured in benchmarks/results.md, section 3).
When this machine has an interpreter of the runtime's Python version (the minor version
decides the bytecode format), the zips carry bytecode made by it, hash-based and
unchecked (PEP 552: no timestamps, and the read-only source is never re-read to check
it), so the archive stays reproducible for that interpreter. Without one they carry
none, and the build goes on: the functions work the same, their cold start is longer. The
interpreter's exact version is part of the cache key, since another patch release may
write other bytes; IMAGEPIPE_RUNTIME_PYTHON names it when it is not python3.X on PATH
or a pyenv install.

The layer's wheels are chosen for the runtime's OS, not only its CPU: python3.11 runs on
Amazon Linux 2 (glibc 2.26), python3.12 and later on Amazon Linux 2023 (glibc 2.34), and
a library built for a newer glibc fails to load there. pip is given only the manylinux
tags that OS runs, and every native library of the result is checked (infra/elf.py).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from infra.elf import EM_AARCH64, EM_X86_64, glibc_too_new, is_elf, version_text

ROOT: Final = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR: Final = ROOT / "functions"
FUNCTION_PACKAGE: Final = FUNCTIONS_DIR / "imagefn"
LAYER_REQUIREMENTS: Final = FUNCTIONS_DIR / "requirements.txt"
BUILD_DIR: Final = Path(os.environ.get("IMAGEPIPE_BUILD_DIR", ROOT / ".build"))
# Bump when the way archives are built changes, so cached builds are not reused.
_RECIPE: Final = "3"
_EPOCH: Final = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
# Lambda's CPU names and the machine names in wheel tags and ELF headers.
_MACHINES: Final = {"arm64": ("aarch64", EM_AARCH64), "x86_64": ("x86_64", EM_X86_64)}


@dataclass(frozen=True)
class LambdaOS:
    """The OS a Lambda runtime runs on, and the glibc it has: what native code needs."""

    name: str
    glibc: tuple[int, int]

    def __str__(self) -> str:
        return f"{self.name} (glibc {version_text(self.glibc)})"


# Per runtime (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html): a wheel
# built for a newer glibc installs fine but its libraries fail to load there.
AMAZON_LINUX_2: Final = LambdaOS("Amazon Linux 2", (2, 26))
AMAZON_LINUX_2023: Final = LambdaOS("Amazon Linux 2023", (2, 34))
RUNTIME_OS: Final = {"3.11": AMAZON_LINUX_2, "3.12": AMAZON_LINUX_2023, "3.13": AMAZON_LINUX_2023}
# Oldest glibc minor a manylinux tag exists for, per machine (PEP 600, PEP 599).
_OLDEST_MANYLINUX: Final = {"x86_64": 5, "aarch64": 17}
_LEGACY_MANYLINUX: Final = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
_PIP_CONNECTION_ERRORS: Final = ("NewConnectionError", "Max retries exceeded", "Could not fetch")
RUNTIME_PYTHON_ENV: Final = "IMAGEPIPE_RUNTIME_PYTHON"
# Where each archive is unpacked on Lambda: the file names recorded in its bytecode.
_LAYER_ROOT: Final = "/opt"
_FUNCTION_ROOT: Final = "/var/task"


class PackagingError(RuntimeError):
    """An artifact could not be built; the message says which and why."""


@dataclass(frozen=True)
class Artifact:
    """A built zip and the hash Lambda compares (base64 of its SHA-256)."""

    path: Path
    source_code_hash: str


def _hash_file(path: Path) -> str:
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


def deterministic_zip(
    src: Path, dest: Path, *, arc_prefix: str = "", bytecode: bool = False
) -> Artifact:
    """Zip a directory so that equal trees give equal bytes.

    __pycache__ and *.pyc are left out unless ``bytecode`` (a tree whose bytecode
    compile_bytecode wrote, hash-based): timestamped bytecode from an import would break
    reproducibility.
    """
    files = sorted(
        p
        for p in src.rglob("*")
        if p.is_file() and (bytecode or ("__pycache__" not in p.parts and p.suffix != ".pyc"))
    )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{dest.name}.{os.getpid()}.tmp")  # builds in parallel processes
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in files:
            rel = path.relative_to(src).as_posix()
            info = zipfile.ZipInfo(f"{arc_prefix}{rel}", date_time=_EPOCH)
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, whatever machine builds it
            zf.writestr(info, path.read_bytes(), compresslevel=9)
    tmp.replace(dest)
    return Artifact(dest, _hash_file(dest))


@dataclass(frozen=True)
class Compiler:
    """An interpreter of a Lambda runtime's Python version, to write its bytecode with."""

    executable: str
    version: str
    """Its full version (3.12.1): the bytes it writes may differ from another patch's."""


def _candidates(python_version: str) -> list[str]:
    named = os.environ.get(RUNTIME_PYTHON_ENV, "").strip()
    on_path = shutil.which(f"python{python_version}")
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    installs = sorted(
        pyenv.glob(f"{python_version}.*/bin/python{python_version}"),
        key=lambda p: [int(n) if n.isdigit() else -1 for n in p.parts[-3].split(".")],
        reverse=True,  # the newest patch release first
    )
    found = [named, on_path or "", sys.executable, *map(str, installs)]
    return [c for c in found if c]


def _version_of(executable: str) -> str | None:
    try:
        result = subprocess.run(  # noqa: S603
            [executable, "-S", "-c", "import platform; print(platform.python_version())"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


@functools.cache
def bytecode_compiler(python_version: str) -> Compiler | None:
    """An interpreter of this Python minor version on this machine, or None."""
    for candidate in _candidates(python_version):
        version = _version_of(candidate)
        if version is not None and version.split(".")[:2] == python_version.split("."):
            return Compiler(candidate, version)
    return None


def compile_bytecode(tree: Path, compiler: Compiler, deployed_at: str) -> None:
    """Write the bytecode of every module under ``tree`` for ``compiler``'s version.

    Hash-based and unchecked (PEP 552): the header holds a hash of the source instead of
    its time, and the import system trusts it without reading the source again. One
    process in sorted order, with a fixed hash seed, so the same interpreter writes the
    same bytes; file names are recorded as Lambda will have them (``deployed_at``).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONHASHSEED"] = "0"
    cmd = [
        compiler.executable, "-S", "-m", "compileall", "-q", "-j", "1",
        "--invalidation-mode", "unchecked-hash",
        "-s", str(tree), "-p", deployed_at, str(tree),
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)  # noqa: S603
    if result.returncode != 0:
        raise PackagingError(
            f"compiling the bytecode with Python {compiler.version} ({compiler.executable}) "
            f"failed:\n{(result.stdout + result.stderr).strip()[-2000:]}"
        )


def _compilers() -> list[Compiler]:
    """One interpreter per runtime the program deploys on that this machine has."""
    from infra.settings import RUNTIMES  # settings imports imagefn: only when needed

    found = (bytecode_compiler(runtime.removeprefix("python")) for runtime in RUNTIMES)
    return [compiler for compiler in found if compiler is not None]


def build_function_archive(build_dir: Path = BUILD_DIR) -> Artifact:
    """The function code: package `imagefn` at the zip root (handler imagefn.<module>.handler),
    with its data files (the watermark PNG): a change to any of them changes the hash.

    The same zip serves every runtime, so it carries bytecode for each runtime's Python
    this machine has (one .cpython-3XY.pyc per module and version, each read only by its
    own version)."""
    compilers = _compilers()
    digest = hashlib.sha256(_RECIPE.encode())
    digest.update(" ".join(c.version for c in compilers).encode())
    shipped = (
        p
        for p in FUNCTION_PACKAGE.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )
    for path in sorted(shipped):
        digest.update(path.relative_to(FUNCTIONS_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    dest = build_dir / f"function-{digest.hexdigest()[:16]}.zip"
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "imagefn"
        shutil.copytree(
            FUNCTION_PACKAGE, staged, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
        for compiler in compilers:
            compile_bytecode(Path(tmp), compiler, _FUNCTION_ROOT)
        return deterministic_zip(Path(tmp), dest, bytecode=bool(compilers))


def runtime_os(python_version: str) -> LambdaOS:
    """The OS Lambda runs this Python version on."""
    try:
        return RUNTIME_OS[python_version]
    except KeyError:
        known = ", ".join(RUNTIME_OS)
        raise PackagingError(
            f"no Lambda OS known for Python {python_version!r} (known: {known})"
        ) from None


def _machine(architecture: str) -> tuple[str, int]:
    """(wheel tag machine, ELF e_machine) of a Lambda architecture."""
    if architecture not in _MACHINES:
        raise PackagingError(f"no wheel platform known for architecture {architecture!r}")
    return _MACHINES[architecture]


def manylinux_platforms(machine: str, glibc: tuple[int, int]) -> list[str]:
    """Every manylinux platform tag that runs on this glibc, newest first (pip's preference).

    pip takes --platform tags literally (it widens only the legacy manylinux2014/2010
    names to the older legacy names): manylinux2014 alone would refuse the manylinux_2_28
    wheels that Amazon Linux 2023 runs, and adding manylinux_2_28 would accept wheels that
    Amazon Linux 2 cannot load. So each glibc version up to the OS's is listed.
    """
    major, newest = glibc
    tags: list[str] = []
    for minor in range(newest, _OLDEST_MANYLINUX[machine] - 1, -1):
        tags.append(f"manylinux_{major}_{minor}_{machine}")
        if minor in _LEGACY_MANYLINUX:
            tags.append(f"{_LEGACY_MANYLINUX[minor]}_{machine}")
    return tags


def layer_pip_command(target: Path, python_version: str, architecture: str) -> list[str]:
    """The pip call that fetches wheels for Lambda's platform rather than this machine's:
    its CPU, its Python and the glibc of the OS the runtime runs on."""
    machine, _ = _machine(architecture)
    tags = manylinux_platforms(machine, runtime_os(python_version).glibc)
    platforms = [arg for tag in tags for arg in ("--platform", tag)]
    return [
        sys.executable, "-m", "pip", "install",
        "--quiet", "--disable-pip-version-check", "--no-input",
        "--requirement", str(LAYER_REQUIREMENTS),
        "--target", str(target),
        *platforms,
        "--implementation", "cp",
        "--python-version", python_version,
        "--only-binary=:all:",
        "--no-compile",
        "--upgrade",
    ]  # fmt: skip


def _pip_failure(stderr: str, python_version: str, architecture: str) -> PackagingError:
    """Say what pip's failure means: most often no wheel for this OS, else no index."""
    what = f"the Pillow layer for Python {python_version} on {architecture}"
    system = runtime_os(python_version)
    missing = re.findall(r"No matching distribution found for (\S+)", stderr)
    # Offline, pip also finds no distribution, after connection warnings.
    unreachable = any(sign in stderr for sign in _PIP_CONNECTION_ERRORS)
    if missing and not unreachable:
        newer = [f"python{v}" for v, other in RUNTIME_OS.items() if other.glibc > system.glibc]
        advice = f"; choose a runtime on a newer OS ({', '.join(newer)})" if newer else ""
        return PackagingError(
            f"{what} cannot be built for {system}, the OS of Lambda's python{python_version}: "
            f"no wheel of {missing[-1]} ({LAYER_REQUIREMENTS.relative_to(ROOT)}) runs there"
            + advice
        )
    return PackagingError(
        f"building {what} failed; is the package index reachable?\n{stderr.strip()[-2000:]}"
    )


def native_libraries(root: Path) -> dict[str, bytes]:
    """Every ELF file under `root` (shared libraries and extension modules, whatever their
    name), by its path from root's parent: the path it has in the layer zip."""
    found: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as handle:
                if not is_elf(handle.read(4)):
                    continue
            found[path.relative_to(root.parent).as_posix()] = path.read_bytes()
    return found


def verify_layer(root: Path, python_version: str, architecture: str) -> None:
    """Refuse a layer whose native code would not load on the runtime's OS and CPU.

    pip's platform tags are what a wheel claims; this checks what its libraries need,
    so a mislabelled wheel or a wrong tag list fails the build, not the first image.
    """
    _verify_libraries(native_libraries(root), python_version, architecture)


def verify_layer_archive(layer: Artifact, python_version: str, architecture: str) -> None:
    """`verify_layer` for a layer zip built elsewhere: every ELF entry of the archive."""
    try:
        with zipfile.ZipFile(layer.path) as archive:
            libraries = {
                entry.filename: data
                for entry in archive.infolist()
                if not entry.is_dir() and is_elf(data := archive.read(entry))
            }
    except (OSError, zipfile.BadZipFile) as err:
        raise PackagingError(f"the layer archive {layer.path} cannot be read: {err}") from None
    _verify_libraries(libraries, python_version, architecture)


def _verify_libraries(libraries: dict[str, bytes], python_version: str, architecture: str) -> None:
    system = runtime_os(python_version)
    _, elf_machine = _machine(architecture)
    problems = glibc_too_new(libraries, system.glibc, elf_machine)
    if problems:
        raise PackagingError(
            f"the Pillow layer for Python {python_version} on {architecture} would not load "
            f"on {system}, the OS of Lambda's python{python_version}: " + "; ".join(problems)
        )


def prebuilt(path: Path) -> Artifact:
    """An archive built elsewhere (a CI job, the local stack), with the hash Lambda compares."""
    return Artifact(path, _hash_file(path))


PLACEHOLDER_README: Final = """\
This is the local stack's placeholder for the Pillow layer.

The local stack runs the functions on this machine's Python, with this machine's Pillow,
and never loads a layer, so it deploys this one instead of downloading Pillow's wheels for
Lambda's platform. It holds no library and cannot serve on AWS: there, `pulumi up` builds
the real layer (infra/packaging.py build_layer) or takes the one `layerArchive` names.
"""


def placeholder_layer(build_dir: Path = BUILD_DIR) -> Artifact:
    """A layer zip with only python/README.txt, for stacks whose functions never load the
    layer (the local stack, the program's mock tests). Written once, then reused."""
    dest = build_dir / f"layer-placeholder-{_RECIPE}.zip"
    if dest.exists():
        return prebuilt(dest)
    with tempfile.TemporaryDirectory() as tmp:
        readme = Path(tmp) / "python" / "README.txt"
        readme.parent.mkdir()
        readme.write_text(PLACEHOLDER_README, encoding="utf-8")
        return deterministic_zip(Path(tmp), dest)


def build_layer(python_version: str, architecture: str, build_dir: Path = BUILD_DIR) -> Artifact:
    """The layer: Pillow and Powertools under python/, for Lambda's platform and Python.

    Cached by (recipe, requirements, Python version, architecture, the interpreter that
    writes its bytecode if any): pinned requirements mean the same key always resolves to
    the same wheels. Every native library in it is checked against the glibc of the
    runtime's OS before the zip is written.
    """
    runtime_os(python_version)  # before any download: an unknown runtime is a clear error
    _machine(architecture)
    compiler = bytecode_compiler(python_version)
    compiled_by = compiler.version if compiler else "none"
    key = hashlib.sha256(
        f"{_RECIPE}|{python_version}|{architecture}|{compiled_by}|".encode()
        + LAYER_REQUIREMENTS.read_bytes()
    ).hexdigest()[:16]
    dest = build_dir / f"layer-py{python_version}-{architecture}-{key}.zip"
    if dest.exists():
        return Artifact(dest, _hash_file(dest))
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "python"
        cmd = layer_pip_command(target, python_version, architecture)
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            raise _pip_failure(result.stderr, python_version, architecture)
        verify_layer(target, python_version, architecture)
        # pip's own bookkeeping differs between runs and is useless at run time.
        for junk in target.glob("*.dist-info/RECORD"):
            junk.unlink()
        for junk in target.glob("*.dist-info/INSTALLER"):
            junk.unlink()
        for junk in target.glob("*.dist-info/direct_url.json"):
            junk.unlink()
        if compiler is not None:
            compile_bytecode(Path(tmp), compiler, _LAYER_ROOT)
        return deterministic_zip(Path(tmp), dest, bytecode=compiler is not None)
