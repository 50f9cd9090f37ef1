"""Where an imported module's source is: another file of the same package (`from .blocks import
ResBlock`), or a package found on the search path (`torchvision.models.resnet18`).

A file is read and its module-level code interpreted once per process, and only when one of its
names is actually used. Nothing is ever imported. Whatever cannot be found stays unknown.

The search path is what Python's would be for the linted file run as a script, never importing
anything: the folder above the file's top-level package (or the file's own folder), then the
`extra-paths` of the configuration and `--extra-path`, then the running interpreter's own
`sys.path` (its site-packages: the zoos installed beside convlint). torch and the standard
library are never read: what they do is in convlint's tables.
"""

from __future__ import annotations

import os
import sys
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


def _resolved(path: str) -> Path:
    """The real path (a relative one is resolved against the current folder, which may change)."""
    return _resolved_absolute(os.path.abspath(path))


@lru_cache(maxsize=1024)
def _resolved_absolute(path: str) -> Path:
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


READ: set[str] = set()  # the files interpreted for the current file (the runner clears it): the cache's dependencies
NEVER_READ = frozenset({"torch", "numpy", "__future__", *sys.stdlib_module_names})  # in convlint's tables
EXTRA_PATHS: list[Path] = []  # this run's --extra-path (engine.read puts them before the configuration's)


@lru_cache(maxsize=256)
def _search_path(importer_folder: Path | None, extra: tuple[Path, ...]) -> tuple[Path, ...]:
    first = []
    if importer_folder is not None:
        root = package_root(importer_folder / "__init__.py")
        first.append(root.parent if root is not None else importer_folder)
    installed = [Path(p) for p in sys.path[1:] if p and os.path.isdir(p)]  # [0]: convlint's own script folder
    return tuple(dict.fromkeys((*first, *extra, *installed)))


def find_module(dotted: str, importer: str | None = None, extra: tuple[Path, ...] = ()) -> Path | None:
    """The source file of the module `dotted` (`torchvision.models`), as an absolute import in
    `importer` finds it (`extra`: --extra-path and the configuration's extra-paths); None when it is not found or
    not read (torch, the standard library)."""
    return _find_module(dotted, None if importer is None else os.path.abspath(importer), extra)


@lru_cache(maxsize=4096)
def _find_module(dotted: str, importer: str | None, extra: tuple[Path, ...]) -> Path | None:
    parts = dotted.split(".")
    if not all(parts) or parts[0] in NEVER_READ:
        return None
    here = _resolved(importer) if importer is not None else None
    for root in _search_path(here.parent if here is not None else None, extra):
        top = root / parts[0]
        if not (top.is_dir() or top.with_suffix(".py").is_file()):
            continue  # the first folder that has the top-level name decides, as for Python
        target = root.joinpath(*parts)
        for candidate in (target.with_suffix(".py"), target / "__init__.py"):
            if candidate.is_file() and candidate.stat().st_size <= MAX_FILE_BYTES and candidate != here:
                return candidate
        return None
    return None


def stamp(file: str) -> list | None:
    """What tells a file changed without reading it: its size and modification time."""
    try:
        info = os.stat(file)
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns]
