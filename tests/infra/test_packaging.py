"""Lambda artifacts: the layer targets Lambda's platform; rebuilding changes nothing."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from infra import packaging

pytestmark = pytest.mark.network  # the layer's wheels come from the package index


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
    # boto3 is the runtime's; bytecode would make the zip unreproducible.
    assert not any(n.startswith("python/boto3/") for n in names)
    assert not any(n.endswith(".pyc") for n in names)
    size_mb = artifact.path.stat().st_size / 1e6
    assert size_mb < 50, f"layer is {size_mb:.1f} MB zipped; Lambda's limit is 50 MB"


def test_rebuilding_the_layer_gives_the_same_hash(tmp_path: Path) -> None:
    first = packaging.build_layer("3.12", "arm64", build_dir=tmp_path / "a")
    second = packaging.build_layer("3.12", "arm64", build_dir=tmp_path / "b")
    assert first.path != second.path
    assert first.source_code_hash == second.source_code_hash
    assert first.path.read_bytes() == second.path.read_bytes()


def test_function_archive_is_reproducible_and_holds_only_the_handlers(tmp_path: Path) -> None:
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
