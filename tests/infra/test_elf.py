"""Reading what a native library needs from glibc (infra/elf.py): exact answers on
synthetic files, and agreement with binutils on the real libraries of this machine."""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
from pathlib import Path

import PIL
import pytest

from infra.elf import EM_AARCH64, EM_X86_64, ElfError, glibc_too_new, is_elf, read_elf
from tests.infra.elf_samples import synthetic_elf

NEEDS_2_27 = {
    "libc.so.6": ["GLIBC_2.17", "GLIBC_2.9", "GLIBC_2.27", "GLIBC_PRIVATE"],
    "libm.so.6": ["GLIBC_2.2.5"],
    "libstdc++.so.6": ["GLIBCXX_3.4.30", "CXXABI_1.3.13"],
}


@pytest.mark.parametrize(("wide", "little"), [(True, True), (False, False)])
def test_reads_every_needed_version(wide: bool, little: bool) -> None:
    info = read_elf(synthetic_elf(NEEDS_2_27, wide=wide, little=little))
    assert info.machine == EM_AARCH64
    assert info.needed == {lib: frozenset(versions) for lib, versions in NEEDS_2_27.items()}
    # Compared as numbers (2.9 < 2.27), and only GLIBC_x.y: not GLIBC_PRIVATE, not GLIBCXX.
    assert info.glibc == (2, 27)


def test_a_library_without_versioned_needs_has_no_glibc_floor() -> None:
    assert read_elf(synthetic_elf({})).glibc is None
    assert read_elf(synthetic_elf({"libz.so.1": ["ZLIB_1.2.9"]})).glibc is None


def test_too_new_names_the_library_and_the_version_it_needs() -> None:
    libraries = {
        "python/pillow.libs/libavif.so.16": synthetic_elf(NEEDS_2_27),
        "python/PIL/_imaging.so": synthetic_elf({"libc.so.6": ["GLIBC_2.17"]}),
    }
    assert glibc_too_new(libraries, (2, 26), EM_AARCH64) == [
        "python/pillow.libs/libavif.so.16 needs GLIBC_2.27"
    ]
    assert glibc_too_new(libraries, (2, 27), EM_AARCH64) == []
    assert glibc_too_new(libraries, (2, 34), EM_AARCH64) == []


def test_a_library_for_another_cpu_is_refused() -> None:
    libraries = {"x.so": synthetic_elf({"libc.so.6": ["GLIBC_2.17"]}, machine=EM_X86_64)}
    assert glibc_too_new(libraries, (2, 34), EM_AARCH64) == [
        f"x.so: built for ELF machine {EM_X86_64}, not {EM_AARCH64}"
    ]


@pytest.mark.parametrize(
    "data",
    [
        b"\x7fELF",  # magic only
        synthetic_elf(NEEDS_2_27)[:100],  # section headers cut off
        b"\x7fELF\x03\x01" + bytes(64),  # no such ELF class
    ],
)
def test_a_damaged_file_is_an_error_not_a_pass(data: bytes) -> None:
    with pytest.raises(ElfError):
        read_elf(data)
    [problem] = glibc_too_new({"bad.so": data}, (2, 34), EM_AARCH64)
    assert problem.startswith("bad.so: cannot be checked (")


def test_not_elf() -> None:
    assert not is_elf(b"PK\x03\x04")
    with pytest.raises(ElfError, match="not an ELF file"):
        read_elf(b"#!/bin/sh\n")


# -- the real libraries of the Pillow installed here ------------------------------------

HOST_MACHINE = {"x86_64": EM_X86_64, "aarch64": EM_AARCH64}.get(platform.machine())


def _host_pillow_libraries() -> dict[str, bytes]:
    root = Path(PIL.__file__).parent.parent
    found = {}
    for folder in (root / "PIL", root / "pillow.libs"):
        for path in sorted(folder.glob("*.so*")) if folder.is_dir() else []:
            data = path.read_bytes()
            if is_elf(data):
                found[path.relative_to(root).as_posix()] = data
    if not found or HOST_MACHINE is None:
        pytest.skip("Pillow here has no Linux ELF libraries (not a Linux x86_64/aarch64 wheel)")
    return found


def test_the_host_pillow_fails_below_its_own_glibc_floor() -> None:
    libraries = _host_pillow_libraries()
    assert HOST_MACHINE is not None
    floors = {name: read_elf(data).glibc for name, data in libraries.items()}
    newest = max(floor for floor in floors.values() if floor is not None)
    assert newest >= (2, 2, 5)  # any glibc-linked library on these CPUs needs at least that
    assert glibc_too_new(libraries, newest, HOST_MACHINE) == []
    below = (*newest[:-1], newest[-1] - 1)
    problems = glibc_too_new(libraries, below, HOST_MACHINE)
    needing = sorted(name for name, floor in floors.items() if floor == newest)
    version = ".".join(map(str, newest))
    assert problems == [f"{name} needs GLIBC_{version}" for name in needing]


@pytest.mark.skipif(shutil.which("readelf") is None, reason="binutils' readelf is not installed")
def test_agrees_with_readelf_on_the_host_pillow() -> None:
    root = Path(PIL.__file__).parent.parent
    for name, data in _host_pillow_libraries().items():
        listing = subprocess.run(
            ["readelf", "-V", "-W", str(root / name)], capture_output=True, text=True, check=True
        ).stdout
        expected: dict[str, set[str]] = {}
        library = None
        for line in listing.partition("Version needs section")[2].splitlines():
            if match := re.search(r"File: (\S+)", line):
                library = match.group(1)
                expected[library] = set()
            elif (match := re.search(r"Name: (\S+)", line)) and library:
                expected[library].add(match.group(1))
        assert {lib: set(v) for lib, v in read_elf(data).needed.items()} == expected, name
