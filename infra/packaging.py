"""Build the Lambda artifacts: the function code zip and the Pillow layer zip.

Both are reproducible: the same inputs give a byte-identical archive (sorted entries,
fixed timestamps and permissions, no bytecode), so `source_code_hash` only changes
when the code or the pinned wheels do, and `pulumi up` makes no spurious updates.
Built archives go to `.build/` (git-ignored) and are reused while their inputs match.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR: Final = ROOT / "functions"
FUNCTION_PACKAGE: Final = FUNCTIONS_DIR / "imagefn"
LAYER_REQUIREMENTS: Final = FUNCTIONS_DIR / "requirements.txt"
BUILD_DIR: Final = Path(os.environ.get("IMAGEPIPE_BUILD_DIR", ROOT / ".build"))
# Bump when the way archives are built changes, so cached builds are not reused.
_RECIPE: Final = "2"
_EPOCH: Final = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
_PLATFORM_TAGS: Final = {
    # Lambda's Amazon Linux has glibc 2.26+ (AL2) / 2.34 (AL2023): these wheels run there.
    "arm64": ("manylinux2014_aarch64", "manylinux_2_28_aarch64"),
    "x86_64": ("manylinux2014_x86_64", "manylinux_2_28_x86_64"),
}


class PackagingError(RuntimeError):
    """An artifact could not be built; the message says which and why."""


@dataclass(frozen=True)
class Artifact:
    """A built zip and the hash Lambda compares (base64 of its SHA-256)."""

    path: Path
    source_code_hash: str


def _hash_file(path: Path) -> str:
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


def deterministic_zip(src: Path, dest: Path, *, arc_prefix: str = "") -> Artifact:
    """Zip a directory so that equal trees give equal bytes.

    __pycache__ and *.pyc are left out: Lambda compiles on first import, and bytecode
    embeds timestamps that would break reproducibility.
    """
    files = sorted(
        p
        for p in src.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".tmp")
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


def build_function_archive(build_dir: Path = BUILD_DIR) -> Artifact:
    """The function code: package `imagefn` at the zip root (handler imagefn.<module>.handler)."""
    digest = hashlib.sha256(_RECIPE.encode())
    for path in sorted(FUNCTION_PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(FUNCTIONS_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    dest = build_dir / f"function-{digest.hexdigest()[:16]}.zip"
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "imagefn"
        shutil.copytree(
            FUNCTION_PACKAGE, staged, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
        return deterministic_zip(Path(tmp), dest)


def layer_pip_command(target: Path, python_version: str, architecture: str) -> list[str]:
    """The pip call that fetches wheels for Lambda's platform rather than this machine's."""
    if architecture not in _PLATFORM_TAGS:
        raise PackagingError(f"no wheel platform known for architecture {architecture!r}")
    platforms = [arg for tag in _PLATFORM_TAGS[architecture] for arg in ("--platform", tag)]
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


def build_layer(python_version: str, architecture: str, build_dir: Path = BUILD_DIR) -> Artifact:
    """The layer: Pillow and Powertools under python/, for Lambda's platform and Python.

    Cached by (recipe, requirements, Python version, architecture): pinned requirements
    mean the same key always resolves to the same wheels.
    """
    key = hashlib.sha256(
        f"{_RECIPE}|{python_version}|{architecture}|".encode() + LAYER_REQUIREMENTS.read_bytes()
    ).hexdigest()[:16]
    dest = build_dir / f"layer-py{python_version}-{architecture}-{key}.zip"
    if dest.exists():
        return Artifact(dest, _hash_file(dest))
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "python"
        cmd = layer_pip_command(target, python_version, architecture)
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            raise PackagingError(
                f"building the Pillow layer for Python {python_version} on {architecture} "
                f"failed (pip exit {result.returncode}); is the package index reachable?\n"
                f"{result.stderr.strip()[-2000:]}"
            )
        # pip's own bookkeeping differs between runs and is useless at run time.
        for junk in target.glob("*.dist-info/RECORD"):
            junk.unlink()
        for junk in target.glob("*.dist-info/INSTALLER"):
            junk.unlink()
        for junk in target.glob("*.dist-info/direct_url.json"):
            junk.unlink()
        return deterministic_zip(Path(tmp), dest)
