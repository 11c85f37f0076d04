"""What a native library needs from the system it is loaded on, read from its ELF file.

A shared library built against glibc records, per library it links (libc.so.6,
libm.so.6, ...), the symbol versions it uses (GLIBC_2.17, GLIBC_2.27, ...) in its
`.gnu.version_r` section (SHT_GNU_verneed). The dynamic loader refuses to load it on a
system whose glibc lacks one of them, so the newest GLIBC_x.y there is the oldest glibc
it runs on. The Lambda layer build checks every library against the glibc of the
runtime's OS with this (see infra/packaging.py).

A small reader rather than a dependency: the format has not changed since it was
introduced, and only the section headers, one string table and the verneed chain are
read. Everything here is pure (bytes in, values out) so it is tested on synthetic files.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Final, NamedTuple

ELF_MAGIC: Final = b"\x7fELF"
SHT_GNU_VERNEED: Final = 0x6FFFFFFE
# e_machine values of the architectures Lambda runs.
EM_X86_64: Final = 62
EM_AARCH64: Final = 183
_GLIBC_VERSION: Final = re.compile(r"GLIBC_(\d+(?:\.\d+)+)")  # not GLIBC_PRIVATE, GLIBCXX_*
_MAX_ENTRIES: Final = 10_000  # a corrupt chain must not loop for ever


class ElfError(ValueError):
    """The bytes are not an ELF file this reader understands; the message says why."""


@dataclass(frozen=True)
class ElfInfo:
    """What the loader needs to know about one ELF file."""

    machine: int
    """e_machine: EM_X86_64, EM_AARCH64, ..."""
    needed: Mapping[str, frozenset[str]]
    """Linked library file -> symbol versions used from it (from .gnu.version_r)."""

    @property
    def glibc(self) -> tuple[int, ...] | None:
        """The newest GLIBC_x.y needed from any library, as (2, 27); None if none."""
        versions = [
            tuple(int(part) for part in match.group(1).split("."))
            for names in self.needed.values()
            for name in names
            if (match := _GLIBC_VERSION.fullmatch(name))
        ]
        return max(versions, default=None)


@dataclass(frozen=True)
class _Layout:
    """How this file encodes integers: struct byte order and word size."""

    order: str  # "<" or ">"
    wide: bool  # ELFCLASS64

    def unpack(self, fmt: str, data: bytes, offset: int) -> tuple[int, ...]:
        try:
            return struct.unpack_from(self.order + fmt, data, offset)
        except struct.error:
            raise ElfError(f"truncated at byte {offset}") from None


def is_elf(data: bytes) -> bool:
    return data[:4] == ELF_MAGIC


def _layout(data: bytes) -> _Layout:
    if not is_elf(data):
        raise ElfError("not an ELF file (no \\x7fELF magic)")
    if len(data) < 6 or data[4] not in (1, 2) or data[5] not in (1, 2):
        raise ElfError("unknown ELF class or byte order")
    return _Layout(order="<" if data[5] == 1 else ">", wide=data[4] == 2)


class _Section(NamedTuple):
    kind: int  # sh_type
    offset: int  # sh_offset
    link: int  # sh_link: for a version section, its string table's index
    info: int  # sh_info: for a version section, its number of entries


def _sections(data: bytes, layout: _Layout) -> list[_Section]:
    """Every section header."""
    if layout.wide:
        (shoff,) = layout.unpack("Q", data, 0x28)
        entsize, count = layout.unpack("HH", data, 0x3A)
        fmt = "IIQQQQIIQQ"  # name type flags addr offset size link info align entsize
    else:
        (shoff,) = layout.unpack("I", data, 0x20)
        entsize, count = layout.unpack("HH", data, 0x2E)
        fmt = "IIIIIIIIII"
    if shoff == 0 or count == 0:
        # The loader does not need section headers, but without them this reader cannot
        # tell what the file needs: refuse rather than pass it unchecked.
        raise ElfError("no section headers")
    headers = []
    for index in range(count):
        _name, kind, _flags, _addr, offset, _size, link, info, *_ = layout.unpack(
            fmt, data, shoff + index * entsize
        )
        headers.append(_Section(kind, offset, link, info))
    return headers


def _string(data: bytes, offset: int) -> str:
    end = data.find(b"\0", offset)
    if offset >= len(data) or end < 0:
        raise ElfError(f"string at byte {offset} is outside the file")
    return data[offset:end].decode("utf-8", "replace")


def _verneed(
    data: bytes, layout: _Layout, offset: int, count: int, strtab: int
) -> Iterator[tuple[str, str]]:
    """(library file, version name) pairs of a .gnu.version_r chain."""
    for _ in range(min(count, _MAX_ENTRIES)):
        _version, aux_count, file_name, aux, next_need = layout.unpack("HHIII", data, offset)
        library = _string(data, strtab + file_name)
        aux_offset = offset + aux
        for _ in range(min(aux_count, _MAX_ENTRIES)):
            _hash, _flags, _other, name, next_aux = layout.unpack("IHHII", data, aux_offset)
            yield library, _string(data, strtab + name)
            if next_aux == 0:
                break
            aux_offset += next_aux
        if next_need == 0:
            break
        offset += next_need


def read_elf(data: bytes) -> ElfInfo:
    """The machine and the versioned symbols an ELF file needs. Raises ElfError."""
    layout = _layout(data)
    (machine,) = layout.unpack("H", data, 0x12)
    sections = _sections(data, layout)
    needed: dict[str, set[str]] = {}
    for section in sections:
        if section.kind != SHT_GNU_VERNEED:
            continue
        if section.link >= len(sections):
            raise ElfError(f"version section links to section {section.link}, which is not there")
        strtab = sections[section.link].offset
        for library, version in _verneed(data, layout, section.offset, section.info, strtab):
            needed.setdefault(library, set()).add(version)
    return ElfInfo(machine, {lib: frozenset(v) for lib, v in needed.items()})


def version_text(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version)


def glibc_too_new(
    libraries: Mapping[str, bytes], limit: tuple[int, ...], machine: int
) -> list[str]:
    """One line per library (name -> ELF bytes) that would not load on a system with glibc
    `limit` and CPU `machine`: what it needs instead. Empty when every one would load."""
    problems: list[str] = []
    for name in sorted(libraries):
        try:
            info = read_elf(libraries[name])
        except ElfError as err:
            problems.append(f"{name}: cannot be checked ({err})")
            continue
        if info.machine != machine:
            problems.append(f"{name}: built for ELF machine {info.machine}, not {machine}")
        if info.glibc is not None and info.glibc > limit:
            problems.append(f"{name} needs GLIBC_{version_text(info.glibc)}")
    return problems
