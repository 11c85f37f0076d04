"""The cold-start accounting of the benchmarks (benchmarks/coldstart.py): which imported
modules Lambda would compile, given the bytecode the built zips carry. No timing here."""

from __future__ import annotations

import zipfile
from pathlib import Path

from benchmarks.coldstart import ImportTimes, _compiled
from benchmarks.contenders import Output
from benchmarks.report import _vips_shrink


def _zip(path: Path, names: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name in names:
            zf.writestr(name, b"")
    return path


def test_a_module_counts_as_shipped_only_with_bytecode_for_the_runtimes_python(
    tmp_path: Path,
) -> None:
    layer = _zip(
        tmp_path / "layer.zip",
        [
            "python/PIL/Image.py",
            "python/PIL/__pycache__/Image.cpython-312.pyc",
            "python/PIL/ImageCms.py",
            "python/PIL/__pycache__/ImageCms.cpython-313.pyc",  # another runtime's
            "python/jmespath/lexer.py",
        ],
    )
    function = _zip(
        tmp_path / "code.zip",
        ["imagefn/imaging.py", "imagefn/__pycache__/imaging.cpython-312.pyc", "imagefn/env.py"],
    )
    shipped = _compiled(layer, "3.12") | _compiled(function, "3.12")
    assert shipped == {"python/PIL/Image.py", "imagefn/imaging.py"}
    times = ImportTimes(
        runs_ms=[100.0],
        cpu_ms=[90.0],
        bare_ms=[10.0],
        compile_ms={
            "python/PIL/Image.py": 20.0,
            "python/PIL/ImageCms.py": 3.0,
            "python/jmespath/lexer.py": 2.0,
            "imagefn/imaging.py": 8.0,
            "imagefn/env.py": 1.0,
        },
        rss_mb=50.0,
        sdk_ms=[(60.0, 40.0)],
    )
    assert times.lambda_compile_ms(shipped) == 6.0
    assert times.uncompiled(shipped) == 3
    assert times.lambda_compile_ms(frozenset()) == 34.0


def test_libvips_shrink_on_load_keeps_a_factor_of_two_for_its_resize() -> None:
    """As measured against libvips 8.18's thumbnail of a 4000x3000 JPEG."""
    for (width, height), scale in (
        ((200, 150), 8),
        ((400, 300), 4),
        ((200, 200), 4),  # a cover crop: the shorter side decides
        ((800, 600), 2),
        ((1600, 1200), 1),
    ):
        assert _vips_shrink((4000, 3000), Output(b"", width, height, "WEBP")) == scale
