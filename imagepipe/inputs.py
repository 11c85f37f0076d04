"""Which local files `upload` and `render` take, by the same rules: a FILE by its name,
ending in a suffix the stack processes (each allowed suffix in lower or upper case, as
S3's case-sensitive filters match them); a DIR gives every such file under it, hidden ones
excepted, by its path in DIR. A missing path, or a folder without images, is a usage error.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from imagefn.plan import suffix_variants
from imagepipe.errors import ExitCode, OpsError


@dataclass(frozen=True)
class Input:
    path: Path
    name: str  # the file's name, or its path in the folder given ('/'-separated)
    size: int


def collect(paths: Iterable[Path], allowed_suffixes: Sequence[str]) -> list[Input]:
    """The files to take from `paths`, or OpsError(USAGE) saying which path is wrong."""
    suffixes = tuple(suffix_variants(allowed_suffixes))
    found: list[Input] = []
    for path in paths:
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.name.endswith(suffixes)
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not files:
                raise OpsError(
                    ExitCode.USAGE,
                    f"{path}: no images in it (files ending in {' '.join(allowed_suffixes)})",
                )
            found += [Input(p, p.relative_to(path).as_posix(), p.stat().st_size) for p in files]
        elif path.is_file():
            if not path.name.endswith(suffixes):
                raise OpsError(
                    ExitCode.USAGE,
                    f"{path}: the stack only processes names ending in {' '.join(suffixes)} "
                    "(allowedSuffixes, matched in lower or upper case as S3's notification "
                    "filters match them); rename it or change the stack's config",
                )
            found.append(Input(path, path.name, path.stat().st_size))
        else:
            raise OpsError(ExitCode.USAGE, f"{path}: no such file or folder")
    duplicates = sorted(name for name, n in Counter(i.name for i in found).items() if n > 1)
    if duplicates:
        raise OpsError(ExitCode.USAGE, f"two files have the same name: {duplicates[0]}")
    return found
