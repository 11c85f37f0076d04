"""Small synthetic ELF files: a header, a string table and a .gnu.version_r section,
which is all infra/elf.py reads. Enough to pin exact answers without a compiler."""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence

from infra.elf import EM_AARCH64, SHT_GNU_VERNEED

SHT_STRTAB = 3


def _strings(names: Sequence[str]) -> tuple[bytes, dict[str, int]]:
    table = b"\0"
    offsets: dict[str, int] = {}
    for name in names:
        if name not in offsets:
            offsets[name] = len(table)
            table += name.encode() + b"\0"
    return table, offsets


def _verneed(needed: Mapping[str, Sequence[str]], offsets: Mapping[str, int], order: str) -> bytes:
    out = b""
    libraries = list(needed)
    for i, library in enumerate(libraries):
        versions = needed[library]
        size = 16 + 16 * len(versions)
        last = i == len(libraries) - 1
        out += struct.pack(
            order + "HHIII", 1, len(versions), offsets[library], 16, 0 if last else size
        )
        for j, version in enumerate(versions):
            next_aux = 0 if j == len(versions) - 1 else 16
            out += struct.pack(order + "IHHII", 0, 0, j + 2, offsets[version], next_aux)
    return out


def synthetic_elf(
    needed: Mapping[str, Sequence[str]],
    *,
    machine: int = EM_AARCH64,
    wide: bool = True,
    little: bool = True,
) -> bytes:
    """A shared object that needs `needed` ({library: [version, ...]})."""
    order = "<" if little else ">"
    table, offsets = _strings([*needed, *(v for vs in needed.values() for v in vs)])
    verneed = _verneed(needed, offsets, order)
    header_size = 64 if wide else 52
    strtab_at = header_size
    verneed_at = strtab_at + len(table)
    shoff = verneed_at + len(verneed)
    word = "Q" if wide else "I"
    ident = b"\x7fELF" + bytes([2 if wide else 1, 1 if little else 2, 1]) + bytes(9)
    shentsize = 64 if wide else 40
    header = ident + struct.pack(
        order + f"HHI{word}{word}{word}IHHHHHH",
        3, machine, 1, 0, 0, shoff, 0, header_size, 0, 0, shentsize, 3, 0,
    )  # fmt: skip
    section = order + ("IIQQQQIIQQ" if wide else "IIIIIIIIII")
    sections = struct.pack(section, *[0] * 10)
    sections += struct.pack(section, 0, SHT_STRTAB, 0, 0, strtab_at, len(table), 0, 0, 1, 0)
    sections += struct.pack(
        section, 0, SHT_GNU_VERNEED, 0, 0, verneed_at, len(verneed), 1, len(needed), 4, 0
    )
    return header + table + verneed + sections
