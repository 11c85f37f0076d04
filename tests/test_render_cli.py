"""`imagepipe render`: output layout, line format, exit codes, and never a traceback."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from imagefn import imaging
from imagepipe import cli
from imagepipe.render import Limits, human_size, load_limits, render_file
from infra.settings import DEFAULT_RENDITIONS, PROJECT_DIR, load_stack_settings
from tests.functions import images


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(PROJECT_DIR), str(PROJECT_DIR / "functions")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "imagepipe", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "My Photo.JPG"
    path.write_bytes(images.encode(images.photo((1000, 750)), "JPEG", quality=85))
    return path


def test_renders_every_rendition_of_the_stack(tmp_path: Path, photo: Path) -> None:
    out = tmp_path / "out"
    result = run_cli("render", str(photo), "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    settings = load_stack_settings("dev")
    expected = {
        f"{r.name}/My Photo.{imaging.EXTENSIONS[imaging.output_format(r.format, 'JPEG')]}"
        for r in settings.renditions
    }
    written = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert written == expected
    line = result.stdout.strip()
    assert line.startswith(f"{photo} -> ")
    assert f"{out / 'thumb' / 'My Photo.webp'} (200x200, " in line
    assert f"{out / 'medium' / 'My Photo.jpg'} (800x600, " in line
    assert " kB)" in line
    # Byte for byte what the resize Lambda writes for the same rendition.
    data = photo.read_bytes()
    for rendition in settings.renditions:
        planned = imaging.plan_rendition(rendition, source_format="JPEG", stem="My Photo")
        expected_bytes = imaging.render(data, rendition, max_pixels=settings.max_input_pixels).data
        assert (out / planned["key"]).read_bytes() == expected_bytes


def test_rejected_and_unreadable_inputs(tmp_path: Path, photo: Path) -> None:
    (tmp_path / "notes.jpg").write_text("just text\n")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "cut.png").write_bytes(images.encode(images.photo((200, 200)), "PNG")[:300])
    (tmp_path / "folder").mkdir()
    args = ["notes.jpg", "empty.png", "cut.png", "folder", "missing.jpg", photo.name]
    result = run_cli("render", *args, "--out", "out", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    out_lines = result.stdout.splitlines()
    assert out_lines[0] == "notes.jpg: rejected: not_an_image: not a raster image (text)"
    assert out_lines[1] == "empty.png: rejected: empty: the file has no bytes"
    assert out_lines[2].startswith("cut.png: rejected: corrupt: PNG data")
    assert out_lines[3].startswith(f"{photo.name} -> out/thumb/My Photo.webp (200x200, ")
    assert len(out_lines) == 4
    assert result.stderr.splitlines() == [
        "folder: error: is a directory",
        "missing.jpg: error: no such file or directory",
    ]
    assert (tmp_path / "out" / "thumb" / "My Photo.webp").is_file()
    assert not (tmp_path / "out" / "thumb" / "notes.webp").exists()


@pytest.mark.parametrize(
    "make",
    [
        lambda d: d / "a-directory",
        lambda d: d / "does-not-exist.jpg",
        lambda d: d / "zero.jpg",
        lambda d: d / "text.jpg",
    ],
    ids=["directory", "missing", "zero-bytes", "text"],
)
def test_one_bad_input_exits_1_without_traceback(tmp_path: Path, make: object) -> None:
    (tmp_path / "a-directory").mkdir()
    (tmp_path / "zero.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("hello\n")
    path = make(tmp_path)  # type: ignore[operator]
    result = run_cli("render", str(path), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{path}: ")


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["render"],
        ["render", "x.jpg"],  # --out is required
        ["render", "--out", "o"],  # no files
        ["frobnicate"],
        ["render", "x.jpg", "--out", "o", "--bogus"],
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str]) -> None:
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert "usage:" in result.stderr and "Traceback" not in result.stderr


def test_unknown_stack_exits_2(tmp_path: Path, photo: Path) -> None:
    result = run_cli("render", str(photo), "--out", "out", "--stack", "nope", cwd=tmp_path)
    assert result.returncode == 2
    assert "Pulumi.nope.yaml" in result.stderr and "Traceback" not in result.stderr


def test_output_folder_that_cannot_be_created_exits_2(tmp_path: Path, photo: Path) -> None:
    (tmp_path / "file").write_text("in the way")
    result = run_cli("render", str(photo), "--out", "file/out", cwd=tmp_path)
    assert result.returncode == 2
    assert "cannot create file/out" in result.stderr and "Traceback" not in result.stderr


def test_main_in_process(tmp_path: Path, photo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["render", str(photo), "--out", str(tmp_path / "o"), "--stack", "dev"])
    captured = capsys.readouterr()
    assert code == 0
    assert captured.out.count("\n") == 1 and captured.err == ""
    with pytest.raises(SystemExit) as caught:
        cli.main(["render"])
    assert caught.value.code == 2


def test_limits_come_from_the_stack(tmp_path: Path) -> None:
    limits = load_limits("dev")
    settings = load_stack_settings("dev")
    assert limits.renditions == settings.renditions == DEFAULT_RENDITIONS
    assert limits.max_input_bytes == settings.max_input_bytes
    assert limits.max_input_pixels == settings.max_input_pixels


def test_byte_and_pixel_limits_apply(tmp_path: Path) -> None:
    path = tmp_path / "p.png"
    path.write_bytes(images.encode(images.photo((300, 200)), "PNG"))
    tight_bytes = Limits(DEFAULT_RENDITIONS, max_input_bytes=100, max_input_pixels=10**8)
    outcome = render_file(path, tmp_path / "o", tight_bytes)
    assert outcome.rejected is not None and outcome.rejected.reason == "too_many_bytes"
    tight_pixels = Limits(DEFAULT_RENDITIONS, max_input_bytes=10**8, max_input_pixels=1000)
    outcome = render_file(path, tmp_path / "o", tight_pixels)
    assert outcome.rejected is not None and outcome.rejected.reason == "too_many_pixels"
    assert outcome.line().startswith(f"{path}: rejected: too_many_pixels: 300x200 is 60,000")


def test_original_format_follows_the_bytes_not_the_name(tmp_path: Path) -> None:
    from imagefn.renditions import Rendition

    path = tmp_path / "really-a-gif.jpg"
    path.write_bytes(images.animated("GIF", [images.RED, images.BLUE]))
    limits = Limits((Rendition(name="o", width=10, height=10, format="original"),), 10**8, 10**8)
    outcome = render_file(path, tmp_path / "out", limits)
    assert outcome.ok
    (written,) = outcome.written
    assert written.path == tmp_path / "out" / "o" / "really-a-gif.gif"
    assert Image.open(io.BytesIO(written.path.read_bytes())).format == "GIF"


def test_human_size() -> None:
    assert [human_size(n) for n in (0, 999, 1000, 5100, 999_949, 2_500_000)] == [
        "0 B",
        "999 B",
        "1.0 kB",
        "5.1 kB",
        "999.9 kB",
        "2.5 MB",
    ]
