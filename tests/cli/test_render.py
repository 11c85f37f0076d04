"""`imagepipe render`: output layout, line format, exit codes, and never a traceback."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from imagefn import imaging
from imagepipe import cli
from imagepipe.display import size
from imagepipe.render import Limits, limits_of, render_file
from imagepipe.target import stack_settings
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


def test_rejected_inputs(tmp_path: Path, photo: Path) -> None:
    (tmp_path / "notes.jpg").write_text("just text\n")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "cut.png").write_bytes(images.encode(images.photo((200, 200)), "PNG")[:300])
    args = ["notes.jpg", "empty.png", "cut.png", photo.name]
    result = run_cli("render", *args, "--out", "out", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    out_lines = result.stdout.splitlines()
    assert out_lines[0] == "notes.jpg: rejected: not_an_image: not a raster image (text)"
    assert out_lines[1] == "empty.png: rejected: empty: the file has no bytes"
    assert out_lines[2].startswith("cut.png: rejected: corrupt: PNG data")
    assert out_lines[3].startswith(f"{photo.name} -> out/thumb/My Photo.webp (200x200, ")
    assert len(out_lines) == 4
    assert result.stderr == ""
    assert (tmp_path / "out" / "thumb" / "My Photo.webp").is_file()
    assert not (tmp_path / "out" / "thumb" / "notes.webp").exists()


def test_a_folder_renders_its_images_as_upload_takes_them(tmp_path: Path) -> None:
    """Bug 7: `render DIR` was refused ("is a directory") while `upload DIR` took it."""
    folder = tmp_path / "photos"
    (folder / "2024").mkdir(parents=True)
    (folder / "2024" / "a.jpg").write_bytes(images.encode(images.photo((300, 200)), "JPEG"))
    (folder / "notes.txt").write_text("not an allowed suffix: left out, as upload does")
    (folder / ".hidden").mkdir()
    (folder / ".hidden" / "b.jpg").write_bytes(images.encode(images.photo((30, 20)), "JPEG"))
    result = run_cli("render", "photos", "--out", "out", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [item] = result_json(result)["files"]
    assert item["file"] == str(Path("photos/2024/a.jpg"))
    assert {r["path"] for r in item["renditions"]} == {
        "out/thumb/2024/a.webp", "out/medium/2024/a.jpg", "out/large/2024/a.webp"
    }  # fmt: skip


def result_json(result: subprocess.CompletedProcess[str]) -> Any:
    import json

    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("does-not-exist.jpg", "does-not-exist.jpg: no such file or folder"),
        ("a-directory", "a-directory: no images in it"),
        ("notes.txt", "notes.txt: the stack only processes names ending in"),
    ],
)
def test_a_missing_input_is_a_usage_error(tmp_path: Path, path: str, words: str) -> None:
    """Bug 7: a missing file was exit 1 for render and 2 for upload; now 2 for both,
    before anything is rendered, with the JSON error under --json."""
    (tmp_path / "a-directory").mkdir()
    (tmp_path / "notes.txt").write_text("text")
    result = run_cli("render", path, "--out", "out", "--json", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"imagepipe render: {path}") and words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result_json(result)["error"]["code"] == 2
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "make",
    [lambda d: d / "zero.jpg", lambda d: d / "text.jpg"],
    ids=["zero-bytes", "text"],
)
def test_one_bad_input_exits_1_without_traceback(tmp_path: Path, make: object) -> None:
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


def test_render_json(tmp_path: Path, photo: Path) -> None:
    """Bug 6: render had no --json."""
    (tmp_path / "notes.jpg").write_text("just text\n")
    result = run_cli("render", photo.name, "notes.jpg", "--out", "out", "--json", cwd=tmp_path)
    assert result.returncode == 1
    doc = result_json(result)
    assert set(doc) == {"stack", "out", "files"}
    good, bad = doc["files"]
    assert set(good) == {"file", "renditions", "rejected", "error"}
    assert {r["name"] for r in good["renditions"]} == {"thumb", "medium", "large"}
    assert set(good["renditions"][0]) == {"name", "path", "width", "height", "bytes", "format"}
    assert bad["rejected"] == {"reason": "not_an_image", "message": "not a raster image (text)"}


def test_main_in_process(tmp_path: Path, photo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["render", str(photo), "--out", str(tmp_path / "o"), "--stack", "dev"])
    captured = capsys.readouterr()
    assert code == 0
    assert captured.out.count("\n") == 1 and captured.err == ""
    with pytest.raises(SystemExit) as caught:
        cli.main(["render"])
    assert caught.value.code == 2


def test_limits_come_from_the_stack(tmp_path: Path) -> None:
    limits = limits_of(stack_settings("dev"))
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


def test_sizes_are_decimal_everywhere() -> None:
    """Bug 10: render printed "3.4 kB" (decimal) and upload "3.3 KB" (binary)."""
    assert [size(n) for n in (0, 999, 1000, 5100, 999_949, 999_950, 2_500_000)] == [
        "0 B",
        "999 B",
        "1.0 kB",
        "5.1 kB",
        "999.9 kB",
        "1.0 MB",
        "2.5 MB",
    ]


def test_heic_svg_and_animated_gif_render_as_the_pipeline_makes_them(tmp_path: Path) -> None:
    """Issue 13's inputs through the command: every rendition of the stack, byte for byte
    the resize Lambda's; an SVG that refers outside itself is refused with its reason."""
    from tests.functions.test_animation import moving_square
    from tests.functions.test_svg import drawing

    inputs = {
        "IMG_0042.HEIC": (images.heif(images.photo((1200, 900)), quality=80), "HEIF"),
        "logo.svg": (drawing(), "SVG"),
        "party.gif": (moving_square("GIF"), "GIF"),
    }
    for name, (data, _) in inputs.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "outside.svg").write_bytes(drawing('<image href="file:///etc/passwd"/>'))
    result = run_cli("render", *inputs, "outside.svg", "--out", "out", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "outside.svg: rejected: unsafe_svg: " in result.stdout + result.stderr
    settings = load_stack_settings("dev")
    for name, (data, source_format) in inputs.items():
        stem = name.rsplit(".", 1)[0]
        for rendition in settings.renditions:
            planned = imaging.plan_rendition(rendition, source_format=source_format, stem=stem)
            made = imaging.render(data, rendition, max_pixels=settings.max_input_pixels)
            assert (tmp_path / "out" / planned["key"]).read_bytes() == made.data, planned["key"]


def test_animation_gravity_and_watermark_render_as_the_pipeline_makes_them(
    tmp_path: Path,
) -> None:
    """The rendition options of issue 13 through render's own path (render_file, what the
    command runs for each file): the core's bytes, animated where asked."""
    from imagefn.renditions import Rendition, Watermark
    from tests.functions.test_animation import moving_square

    renditions = (
        Rendition(name="anim", width=80, height=60, format="webp", animated=True),
        Rendition(name="still", width=80, height=60, format="webp"),
        Rendition(name="smart", width=60, height=60, fit="cover", format="png",
                  gravity="entropy"),
        Rendition(name="marked", width=400, height=300, format="png",
                  watermark=Watermark(position="bottom-left", opacity=0.8)),
    )  # fmt: skip
    limits = Limits(renditions, max_input_bytes=10**8, max_input_pixels=10**8)
    path = tmp_path / "party.gif"
    path.write_bytes(moving_square("GIF", size=(480, 360)))
    outcome = render_file(path, tmp_path / "out", limits)
    assert outcome.ok, outcome.line()
    assert [w.name for w in outcome.written] == [r.name for r in renditions]
    for written in outcome.written:
        rendition = next(r for r in renditions if r.name == written.name)
        expected = imaging.render(path.read_bytes(), rendition, max_pixels=10**8).data
        assert written.path.read_bytes() == expected, written.name
        with Image.open(written.path) as image:
            frames = getattr(image, "n_frames", 1)
            assert frames == (4 if rendition.animated else 1), written.name
