"""Lambda artifacts: the layer targets Lambda's platform; rebuilding changes nothing.

Tests marked `network` build the real layer: its wheels come from the package index.
"""

from __future__ import annotations

import importlib.util
import marshal
import platform
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

from infra import packaging
from infra.elf import EM_AARCH64, EM_X86_64, read_elf
from tests.infra.elf_samples import synthetic_elf


@pytest.mark.network
@pytest.mark.parametrize(
    ("python_version", "architecture", "machine"),
    [("3.12", "arm64", "aarch64"), ("3.13", "x86_64", "x86_64")],
)
def test_layer_holds_pillow_built_for_lambda(
    python_version: str, architecture: str, machine: str, tmp_path: Path
) -> None:
    artifact = packaging.build_layer(python_version, architecture, build_dir=tmp_path)
    with zipfile.ZipFile(artifact.path) as zf:
        names = zf.namelist()
    tag = python_version.replace(".", "")
    extensions = [n for n in names if n.startswith("python/PIL/_imaging.") and n.endswith(".so")]
    assert extensions == [f"python/PIL/_imaging.cpython-{tag}-{machine}-linux-gnu.so"]
    assert any(n.startswith("python/aws_lambda_powertools/") for n in names)
    assert any(n.startswith("python/pillow-13.0.0.dist-info/") for n in names)
    # HEIF input: pillow-heif's extension and the libheif/libde265 it bundles.
    heif = [n for n in names if n.startswith("python/_pillow_heif.") and n.endswith(".so")]
    assert heif == [f"python/_pillow_heif.cpython-{tag}-{machine}-linux-gnu.so"]
    assert any(n.startswith("python/pillow_heif.libs/libheif") for n in names)
    # boto3 is the runtime's.
    assert not any(n.startswith("python/boto3/") for n in names)
    # Bytecode for the runtime's Python when this machine has it (the cold start does not
    # compile), none otherwise; never another version's.
    compiled = {n for n in names if n.endswith(".pyc")}
    if packaging.bytecode_compiler(python_version) is None:
        assert not compiled
    else:
        assert compiled == {_pyc(n, tag) for n in names if n.endswith(".py")}
    size_mb = artifact.path.stat().st_size / 1e6
    assert size_mb < 50, f"layer is {size_mb:.1f} MB zipped; Lambda's limit is 50 MB"
    with zipfile.ZipFile(artifact.path) as zf:
        unzipped_mb = sum(i.file_size for i in zf.infolist()) / 1e6
    assert unzipped_mb < 250, f"layer is {unzipped_mb:.1f} MB unzipped; Lambda allows 250 MB"


@pytest.mark.network
def test_rebuilding_the_layer_gives_the_same_hash(tmp_path: Path) -> None:
    first = packaging.build_layer("3.12", "arm64", build_dir=tmp_path / "a")
    second = packaging.build_layer("3.12", "arm64", build_dir=tmp_path / "b")
    assert first.path != second.path
    assert first.source_code_hash == second.source_code_hash
    assert first.path.read_bytes() == second.path.read_bytes()


def _pyc(source: str, tag: str) -> str:
    """Where the bytecode of `source` (a path in a zip) for CPython `tag` (312) goes."""
    folder, _, name = source.rpartition("/")
    return f"{folder}/__pycache__/{name.removesuffix('.py')}.cpython-{tag}.pyc"


def _this_python() -> packaging.Compiler:
    return packaging.Compiler(sys.executable, platform.python_version())


def test_function_archive_is_reproducible_and_holds_only_the_handlers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(packaging, "_compilers", lambda: [])  # a machine without them
    first = packaging.build_function_archive(build_dir=tmp_path / "a")
    second = packaging.build_function_archive(build_dir=tmp_path / "b")
    assert first.source_code_hash == second.source_code_hash
    with zipfile.ZipFile(first.path) as zf:
        names = zf.namelist()
        infos = zf.infolist()
    assert "imagefn/__init__.py" in names
    assert all(n.startswith("imagefn/") for n in names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}


def test_function_archive_carries_reproducible_bytecode_for_each_runtime_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hash-based, unchecked bytecode (PEP 552): no timestamps, so two builds are the same
    bytes; file names as Lambda unpacks the zip, none of this machine's."""
    monkeypatch.setattr(packaging, "_compilers", lambda: [_this_python()])
    first = packaging.build_function_archive(build_dir=tmp_path / "a")
    second = packaging.build_function_archive(build_dir=tmp_path / "b")
    assert first.path.read_bytes() == second.path.read_bytes()
    tag = "".join(platform.python_version_tuple()[:2])
    with zipfile.ZipFile(first.path) as zf:
        names = set(zf.namelist())
        sources = {n for n in names if n.endswith(".py")}
        assert {n for n in names if n.endswith(".pyc")} == {_pyc(n, tag) for n in sources}
        bytecode = zf.read(_pyc("imagefn/env.py", tag))
    assert bytecode[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(bytecode[4:8], "little") == 0b01  # hash-based, source unchecked
    code = marshal.loads(bytecode[16:])
    assert code.co_filename == "/var/task/imagefn/env.py"
    assert str(tmp_path).encode() not in bytecode
    # Without a compiler the archive is another one (its hash names what is in it).
    monkeypatch.setattr(packaging, "_compilers", lambda: [])
    assert packaging.build_function_archive(build_dir=tmp_path / "a").path != first.path


def test_bytecode_is_written_only_by_the_runtimes_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another minor version writes another format, which Lambda's Python would ignore."""
    packaging.bytecode_compiler.cache_clear()
    monkeypatch.setenv(packaging.RUNTIME_PYTHON_ENV, sys.executable)
    monkeypatch.setenv("PATH", str(tmp_path))  # no python3.X there
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))  # nor installed by pyenv
    here = ".".join(platform.python_version_tuple()[:2])
    other = "3.99"
    try:
        assert packaging.bytecode_compiler(here) == _this_python()
        assert packaging.bytecode_compiler(other) is None
    finally:
        packaging.bytecode_compiler.cache_clear()


def test_a_changed_data_file_changes_the_function_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watermark PNG ships in the zip: changing it must redeploy the function."""
    copy = tmp_path / "functions" / "imagefn"
    shutil.copytree(packaging.FUNCTION_PACKAGE, copy,
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    monkeypatch.setattr(packaging, "FUNCTION_PACKAGE", copy)
    monkeypatch.setattr(packaging, "FUNCTIONS_DIR", copy.parent)
    before = packaging.build_function_archive(build_dir=tmp_path / "a")
    with zipfile.ZipFile(before.path) as zf:
        assert zf.read("imagefn/watermark.png") == (copy / "watermark.png").read_bytes()
    (copy / "watermark.png").write_bytes((copy / "watermark.png").read_bytes() + b"\0")
    after = packaging.build_function_archive(build_dir=tmp_path / "a")
    assert after.path != before.path
    assert after.source_code_hash != before.source_code_hash


def test_deterministic_zip_ignores_file_times(tmp_path: Path) -> None:
    import os

    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("same")
    one = packaging.deterministic_zip(src, tmp_path / "one.zip")
    os.utime(src / "a.txt", (1_000_000_000, 1_000_000_000))
    two = packaging.deterministic_zip(src, tmp_path / "two.zip")
    assert one.source_code_hash == two.source_code_hash


def test_unknown_architecture_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(packaging.PackagingError, match="riscv"):
        packaging.build_layer("3.12", "riscv", build_dir=tmp_path)


# -- the runtime's OS: glibc 2.26 on Amazon Linux 2, 2.34 on Amazon Linux 2023 ---------


def _platforms(python_version: str, architecture: str) -> list[str]:
    cmd = packaging.layer_pip_command(Path("/x"), python_version, architecture)
    return [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "--platform"]


@pytest.mark.parametrize("machine", ["aarch64", "x86_64"])
def test_pip_is_offered_only_wheels_amazon_linux_2_can_load(machine: str) -> None:
    architecture = "arm64" if machine == "aarch64" else "x86_64"
    tags = _platforms("3.11", architecture)
    assert tags[0] == f"manylinux_2_26_{machine}"  # newest first: pip prefers earlier tags
    assert f"manylinux_2_17_{machine}" in tags and f"manylinux2014_{machine}" in tags
    # The wheels Pillow 13 publishes (manylinux_2_27, manylinux_2_28) need glibc 2.27.
    assert f"manylinux_2_27_{machine}" not in tags
    assert f"manylinux_2_28_{machine}" not in tags
    assert all(tag.endswith(f"_{machine}") for tag in tags)


@pytest.mark.parametrize("python_version", ["3.12", "3.13"])
def test_amazon_linux_2023_runtimes_take_wheels_up_to_glibc_2_34(python_version: str) -> None:
    tags = _platforms(python_version, "arm64")
    assert tags[0] == "manylinux_2_34_aarch64"
    assert {"manylinux_2_28_aarch64", "manylinux2014_aarch64"} <= set(tags)
    assert "manylinux_2_35_aarch64" not in tags
    # x86_64 also runs the older legacy tags.
    assert {"manylinux2010_x86_64", "manylinux1_x86_64"} <= set(
        _platforms(python_version, "x86_64")
    )


def test_an_unknown_runtime_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(packaging.PackagingError, match=r"Python '3\.9'.*known: 3\.11"):
        packaging.build_layer("3.9", "arm64", build_dir=tmp_path)


def _layer(tmp_path: Path, libraries: dict[str, bytes]) -> Path:
    root = tmp_path / "python"
    for name, data in libraries.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (root / "PIL" / "Image.py").write_text("# not ELF: not checked\n")
    return root


def test_verify_layer_names_each_library_too_new_for_the_runtime_os(tmp_path: Path) -> None:
    root = _layer(
        tmp_path,
        {
            "PIL/_avif.cpython-311-aarch64-linux-gnu.so": synthetic_elf(
                {"libc.so.6": ["GLIBC_2.17"]}
            ),
            "pillow.libs/libavif-ba04b566.so.16.4.2": synthetic_elf(
                {"libc.so.6": ["GLIBC_2.27"], "libm.so.6": ["GLIBC_2.17"]}
            ),
            "pillow.libs/libsharpyuv-5dac68d0.so.0.1.2": synthetic_elf(
                {"libm.so.6": ["GLIBC_2.27"]}
            ),
        },
    )
    with pytest.raises(packaging.PackagingError) as caught:
        packaging.verify_layer(root, "3.11", "arm64")
    message = str(caught.value)
    assert "Amazon Linux 2 (glibc 2.26), the OS of Lambda's python3.11" in message
    assert "python/pillow.libs/libavif-ba04b566.so.16.4.2 needs GLIBC_2.27" in message
    assert "python/pillow.libs/libsharpyuv-5dac68d0.so.0.1.2 needs GLIBC_2.27" in message
    assert "_avif" not in message
    packaging.verify_layer(root, "3.12", "arm64")  # Amazon Linux 2023 has glibc 2.34
    with pytest.raises(packaging.PackagingError, match="not 62"):
        packaging.verify_layer(root, "3.12", "x86_64")  # aarch64 code in an x86_64 layer


def test_pip_finding_no_wheel_for_the_os_says_which_runtimes_would_do() -> None:
    stderr = (
        "ERROR: Could not find a version that satisfies the requirement pillow==13.0.0 "
        "(from versions: 9.2.0, 12.2.0)\nERROR: No matching distribution found for pillow==13.0.0\n"
    )
    message = str(packaging._pip_failure(stderr, "3.11", "arm64"))
    assert "cannot be built for Amazon Linux 2 (glibc 2.26)" in message
    assert "no wheel of pillow==13.0.0 (functions/requirements.txt) runs there" in message
    assert message.endswith("choose a runtime on a newer OS (python3.12, python3.13)")
    offline = "WARNING: Retrying ... NewConnectionError(...)\n" + stderr
    assert "is the package index reachable?" in str(
        packaging._pip_failure(offline, "3.11", "arm64")
    )


@pytest.mark.network
@pytest.mark.parametrize("architecture", ["arm64", "x86_64"])
def test_python311_layer_is_refused_with_the_reason(architecture: str, tmp_path: Path) -> None:
    """Pillow 13 publishes no wheel that loads on glibc 2.26 (manylinux_2_27 and up only)."""
    with pytest.raises(packaging.PackagingError) as caught:
        packaging.build_layer("3.11", architecture, build_dir=tmp_path)
    message = str(caught.value)
    assert "Amazon Linux 2 (glibc 2.26)" in message
    assert "pillow==13.0.0" in message
    assert "python3.12" in message
    assert not list(tmp_path.glob("*.zip"))


@pytest.mark.network
def test_a_wheel_pip_should_not_have_taken_is_still_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tags of before (manylinux2014 plus manylinux_2_28 for every runtime) let pip
    install Pillow 13's glibc 2.27 wheel for python3.11: the library check refuses it."""
    monkeypatch.setattr(
        packaging,
        "manylinux_platforms",
        lambda machine, glibc: [f"manylinux2014_{machine}", f"manylinux_2_28_{machine}"],
    )
    with pytest.raises(packaging.PackagingError) as caught:
        packaging.build_layer("3.11", "arm64", build_dir=tmp_path)
    message = str(caught.value)
    assert "would not load on Amazon Linux 2 (glibc 2.26)" in message
    assert "python/pillow.libs/libavif-" in message
    assert "needs GLIBC_2.27" in message


@pytest.mark.network
@pytest.mark.parametrize(
    ("architecture", "machine"), [("arm64", EM_AARCH64), ("x86_64", EM_X86_64)]
)
def test_every_library_in_the_layer_loads_on_amazon_linux_2023(
    architecture: str, machine: int, tmp_path: Path
) -> None:
    artifact = packaging.build_layer("3.12", architecture, build_dir=tmp_path)
    with zipfile.ZipFile(artifact.path) as zf:
        elves = [read_elf(zf.read(n)) for n in zf.namelist() if zf.read(n)[:4] == b"\x7fELF"]
    assert len(elves) > 10  # Pillow's extension modules and the libraries they bundle
    assert {e.machine for e in elves} == {machine}
    assert max(e.glibc for e in elves if e.glibc) <= (2, 34)
