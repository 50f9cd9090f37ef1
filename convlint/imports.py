"""Following imports from other files of the same package: `from .blocks import ResBlock`.

A sibling file is read and its module-level code interpreted once per process, and only
when one of its names is actually used. Whatever cannot be found stays unknown.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

MAX_FILE_BYTES = 300_000  # larger siblings are not worth their parse on a pre-commit path


@lru_cache(maxsize=1024)
def package_root(path: Path) -> Path | None:
    """The top-most folder above `path` that is a package (has __init__.py)."""
    folder = path.parent
    root = None
    while (folder / "__init__.py").is_file():
        root = folder
        if folder.parent == folder:
            break
        folder = folder.parent
    return root


@lru_cache(maxsize=1024)
def _resolved(path: str) -> Path:
    return Path(path).resolve()


def locate(importer: str | None, module: str, level: int) -> Path | None:
    """The file a `from <dots><module> import ...` in `importer` refers to, if it is in this package."""
    if importer is None:
        return None
    here = _resolved(importer)
    parts = [p for p in module.split(".") if p] if module else []
    if level:
        base = here.parent
        for _ in range(level - 1):
            base = base.parent
    else:
        root = package_root(here)
        if root is None or not parts or parts[0] != root.name:
            return None
        base, parts = root, parts[1:]
    target = base.joinpath(*parts)
    for candidate in (target.with_suffix(".py"), target / "__init__.py"):
        if candidate.is_file() and candidate.stat().st_size <= MAX_FILE_BYTES and candidate != here:
            return candidate
    return None
