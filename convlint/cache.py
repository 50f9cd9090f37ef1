"""The findings cache: a second run over unchanged files parses nothing.

One JSON file per (file content, convlint version and code, effective configuration), in
`.convlint_cache/` beside the nearest pyproject.toml (else the working folder), or `--cache-dir`.

* The key is the sha256 of everything that can change a file's findings: its bytes, its path
  (messages and the `[tool.convlint] inputs` table depend on it), convlint's version *and* a
  fingerprint of its own source files (an edited checkout never serves results of older code),
  the Finding schema, and the effective configuration the caller passes in (selected checks,
  `--input`, severities, the applicable config file's inputs).
* An entry also records the size and modification time of every other file the analysis read
  (same-package siblings, zoo modules): when one of them changes, the entry is not used.
* Entries are written atomically (a temporary file, then os.replace): a reader sees a whole
  entry or none. An entry that cannot be read, is truncated or corrupt, or does not match the
  schema is ignored (the file is analysed again and the entry rewritten); the cache never
  makes a run fail: a folder that cannot be written just means nothing is cached.
* The folder holds a `.gitignore` of `*` so that it never ends up in a commit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from pathlib import Path

from . import __version__
from .findings import Finding, Span
from .imports import stamp

CACHE_DIR_NAME = ".convlint_cache"
FORMAT = 1


def default_dir(start: str | os.PathLike | None = None) -> Path:
    """`.convlint_cache/` beside the nearest pyproject.toml above `start` (default: the cwd), else in the cwd."""
    here = Path(os.path.abspath(start or os.getcwd()))
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file():
            return folder / CACHE_DIR_NAME
    return Path(os.getcwd()) / CACHE_DIR_NAME


_FINGERPRINT: str | None = None


def code_fingerprint() -> str:
    """convlint's version plus the names, sizes and mtimes of its source files."""
    global _FINGERPRINT
    if _FINGERPRINT is None:
        digest = hashlib.sha256(f"{__version__}\0{FORMAT}\0".encode())
        digest.update(",".join(f.name for f in dataclasses.fields(Finding)).encode())
        root = Path(__file__).resolve().parent
        for file in sorted(root.rglob("*.py")):
            try:
                stat = file.stat()
            except OSError:
                continue
            digest.update(f"{file.relative_to(root).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        _FINGERPRINT = digest.hexdigest()
    return _FINGERPRINT


def config_token(*parts) -> str:
    """A stable text for the effective configuration (sets sorted, dicts by key)."""

    def norm(value):
        if isinstance(value, (set, frozenset)):
            return sorted(norm(v) for v in value)
        if isinstance(value, dict):
            return sorted((str(k), norm(v)) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return [norm(v) for v in value]
        return value if isinstance(value, (int, float, str, bool, type(None))) else repr(value)

    return json.dumps([norm(p) for p in parts], sort_keys=True, default=repr)


def key_for(source: bytes, path: str, config: str, version: str | None = None) -> str:
    digest = hashlib.sha256()
    for part in (version if version is not None else code_fingerprint(), path, config):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    digest.update(source)
    return digest.hexdigest()


def _encode(finding: Finding, path: str) -> dict:
    out = {}
    for f in dataclasses.fields(Finding):
        if f.name == "path" and path in (None, finding.path):
            continue  # (another linted file's: a bad layer of it this file's analysis found)
        value = getattr(finding, f.name)
        if f.name == "home" and value is not None:
            value = [value[0], dataclasses.astuple(value[1]), value[2]]
        out[f.name] = dataclasses.astuple(value) if isinstance(value, Span) else value
    return out


def _decode(data: dict, path: str) -> Finding:
    data = {"path": path, **data}
    data["span"] = Span(*data["span"])
    if data.get("home") is not None:
        home_path, span, message = data["home"]
        data["home"] = (home_path, Span(*span), message)
    return Finding(**data)


class Cache:
    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self._ready = False
        self.hits = self.misses = 0

    def _entry(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key[2:]}.json"

    def get(self, key: str, path: str) -> tuple[list[Finding], list[Finding]] | None:
        """(kept, suppressed) findings, or None when absent or unusable."""
        try:
            with open(self._entry(key), "rb") as handle:
                data = json.loads(handle.read())
            if data.get("key") != key:
                raise ValueError("not this entry")
            if any(stamp(file) != list(seen) for file, seen in data.get("read", {}).items()):
                raise ValueError("a file it read has changed")
            found = ([_decode(d, path) for d in data["kept"]], [_decode(d, path) for d in data["suppressed"]])
        except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
            self.misses += 1
            return None
        self.hits += 1
        return found

    def put(self, key: str, kept: list[Finding], suppressed: list[Finding], read: tuple[str, ...] = (),
            path: str | None = None) -> None:
        """`read`: the other files the analysis read (siblings, zoos): a change to one of them
        makes the entry stale. `path`: the linted file (its findings' path is not stored)."""
        try:
            text = json.dumps({"key": key, "kept": [_encode(f, path) for f in kept],
                               "suppressed": [_encode(f, path) for f in suppressed],
                               "read": {file: stamp(file) for file in read}})
        except (TypeError, ValueError):
            return  # a finding that JSON cannot hold is simply not cached
        try:
            self._prepare()
            entry = self._entry(key)
            entry.parent.mkdir(exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(text)
                os.replace(temp, entry)
            except BaseException:
                try:
                    os.unlink(temp)
                except OSError:
                    pass
                raise
        except OSError:
            return  # read-only or full disk: run uncached, never fail

    def _prepare(self) -> None:
        if self._ready:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        ignore = self.folder / ".gitignore"
        if not ignore.is_file():
            ignore.write_text("# created by convlint: the cache is never committed\n*\n", encoding="utf-8")
        self._ready = True
