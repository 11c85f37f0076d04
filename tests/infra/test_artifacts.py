"""Artifacts are inputs: prebuilt function code and layer zips are deployed instead of
built, from ImagePipelineArgs or from the functionArchive/layerArchive config keys, and
a prebuilt layer is checked against the runtime's glibc like a built one."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import pytest

from infra import functions, packaging
from infra.pipeline import ImagePipelineArgs
from infra.settings import PROJECT_DIR, ConfigError, Settings, settings_from_mapping
from tests.infra.conftest import deploy
from tests.infra.elf_samples import synthetic_elf
from tests.infra.test_tags import run_program

LAYER = "aws:lambda/layerVersion:LayerVersion"
FUNCTION = "aws:lambda/function:Function"


def _zip(path: Path, entries: dict[str, bytes]) -> packaging.Artifact:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return packaging.prebuilt(path)


@pytest.fixture
def nothing_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("built although a prebuilt artifact was given")

    monkeypatch.setattr(functions, "build_layer", refuse)
    monkeypatch.setattr(functions, "build_function_archive", refuse)


def test_prebuilt_artifacts_are_deployed_instead_of_built(
    tmp_path: Path, nothing_is_built: None
) -> None:
    code = _zip(tmp_path / "code.zip", {"imagefn/__init__.py": b""})
    layer = _zip(tmp_path / "layer.zip", {"python/PIL/Image.py": b"# pure Python\n"})
    settings = Settings(lambda_architecture="x86_64")  # a layer no test has built
    deployed = deploy(settings, ImagePipelineArgs(settings, function_code=code, layer=layer))
    [deployed_layer] = deployed.of_type(LAYER)
    assert deployed_layer.inputs["sourceCodeHash"] == layer.source_code_hash
    assert deployed_layer.inputs["code"].path == str(layer.path)
    for fn in deployed.of_type(FUNCTION):
        assert fn.inputs["sourceCodeHash"] == code.source_code_hash
        assert fn.inputs["code"].path == str(code.path)


def test_a_prebuilt_layer_is_still_checked_against_the_runtime_glibc(tmp_path: Path) -> None:
    library = "python/pillow.libs/libavif-ba04b566.so.16.4.2"
    layer = _zip(
        tmp_path / "layer.zip",
        {library: synthetic_elf({"libc.so.6": ["GLIBC_2.38"]}), "python/PIL/Image.py": b""},
    )
    settings = Settings()
    with pytest.raises(packaging.PackagingError) as caught:
        deploy(settings, ImagePipelineArgs(settings, layer=layer))
    message = str(caught.value)
    assert library in message and "GLIBC_2.38" in message and "Amazon Linux 2023" in message


def test_an_unreadable_layer_archive_is_a_packaging_error(tmp_path: Path) -> None:
    (tmp_path / "layer.zip").write_bytes(b"not a zip")
    with pytest.raises(packaging.PackagingError, match="cannot be read"):
        packaging.verify_layer_archive(packaging.prebuilt(tmp_path / "layer.zip"), "3.12", "arm64")


def test_the_placeholder_layer_holds_only_its_readme_and_is_written_once(tmp_path: Path) -> None:
    first = packaging.placeholder_layer(tmp_path)
    assert zipfile.ZipFile(first.path).namelist() == ["python/README.txt"]
    assert "placeholder" in zipfile.ZipFile(first.path).read("python/README.txt").decode()
    written = first.path.stat().st_mtime_ns
    assert packaging.placeholder_layer(tmp_path) == first
    assert first.path.stat().st_mtime_ns == written
    packaging.verify_layer_archive(first, "3.12", "arm64")  # nothing native in it


# --- the config keys ----------------------------------------------------------------------


@pytest.mark.parametrize("key", ["functionArchive", "layerArchive"])
def test_archive_paths_are_relative_to_the_project_and_must_be_zip_files(
    key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    field = {"functionArchive": "function_archive", "layerArchive": "layer_archive"}[key]
    assert getattr(settings_from_mapping({key: ""}), field) is None
    archive = _zip(tmp_path / "a.zip", {"x": b"y"}).path
    assert getattr(settings_from_mapping({key: str(archive)}), field) == archive
    monkeypatch.chdir(tmp_path / "..")  # relative to the project, not to where Pulumi runs
    relative = os.path.relpath(archive, PROJECT_DIR)
    assert getattr(settings_from_mapping({key: relative}), field) == archive
    with pytest.raises(ConfigError, match=rf"^imagepipeline:{key}: .*Pulumi.yaml is not a zip"):
        settings_from_mapping({key: "Pulumi.yaml"})
    with pytest.raises(ConfigError, match=rf"^imagepipeline:{key}: no file .*missing\.zip"):
        settings_from_mapping({key: "missing.zip"})


def test_the_program_deploys_the_archives_config_names(
    tmp_path: Path, nothing_is_built: None
) -> None:
    code = _zip(tmp_path / "code.zip", {"imagefn/__init__.py": b""})
    layer = packaging.placeholder_layer(tmp_path)
    resources = run_program(
        {
            "imagepipeline:functionArchive": str(code.path),
            "imagepipeline:layerArchive": str(layer.path),
        }
    )
    [deployed_layer] = [r for r in resources if r.typ == LAYER]
    assert deployed_layer.inputs["sourceCodeHash"] == layer.source_code_hash
    hashes = {r.inputs["sourceCodeHash"] for r in resources if r.typ == FUNCTION}
    assert hashes == {code.source_code_hash}
