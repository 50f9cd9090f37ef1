"""Which files to lint: Python files under the given paths, skipping what a user would expect skipped."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator
from pathlib import Path

SKIPPED_DIRS = {"__pycache__", "node_modules", "site-packages", "venv", "env", "build", "dist"}


class GitIgnore:
    """The subset of .gitignore that matters for source trees: globs, `**`, `/`-anchoring,
    trailing `/` for directories, and `!` negation, each file relative to its own folder."""

    def __init__(self) -> None:
        self.rules: list[tuple[Path, str, bool, bool, bool]] = []  # base, pattern, negated, dir_only, anchored

    def add_file(self, folder: Path) -> None:
        try:
            text = (folder / ".gitignore").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            line = line[1:] if negated else line
            dir_only = line.endswith("/")
            line = line.rstrip("/")
            anchored = "/" in line
            self.rules.append((folder, line.lstrip("/"), negated, dir_only, anchored))

    def ignored(self, path: Path, is_dir: bool) -> bool:
        verdict = False
        for base, pattern, negated, dir_only, anchored in self.rules:
            if dir_only and not is_dir:
                continue
            try:
                relative = path.relative_to(base).as_posix()
            except ValueError:
                continue
            if _matches(relative, pattern, anchored):
                verdict = not negated
        return verdict


def _matches(relative: str, pattern: str, anchored: bool) -> bool:
    if not anchored:
        return fnmatch.fnmatchcase(relative.rsplit("/", 1)[-1], pattern)
    if fnmatch.fnmatchcase(relative, pattern):
        return True
    if pattern.startswith("**/"):
        return _matches(relative, pattern[3:], False) or fnmatch.fnmatchcase(relative, pattern[3:])
    return False


def is_virtualenv(folder: Path) -> bool:
    return (folder / "pyvenv.cfg").is_file()


def discover(paths: list[str]) -> Iterator[Path]:
    """Python files and notebooks: explicit files as given, directories walked in sorted order."""
    for given in paths:
        path = Path(given)
        if path.is_dir():
            yield from _walk(path)
        else:
            yield path


def _walk(root: Path) -> Iterator[Path]:
    ignore = GitIgnore()
    for folder, dirs, files in os.walk(root, followlinks=False):
        here = Path(folder)
        ignore.add_file(here)
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".")
            and d not in SKIPPED_DIRS
            and not is_virtualenv(here / d)
            and not ignore.ignored(here / d, True)
        )
        for name in sorted(files):
            if name.endswith((".py", ".ipynb")) and not ignore.ignored(here / name, False):
                yield here / name
