"""Imports: `from .blocks import Block`, `from torchvision.models import resnet18`, `import timm`
bind names that are read, when first used, from the file that defines them (convlint.imports
finds it), interpreted once per process (large files sliced to what is asked)."""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from .. import slices, syntax
from ..imports import NEVER_READ, READ, find_module, locate, package_root, stamp
from ..sizes import UNKNOWN
from .calls import QUAL_CALLS, QUAL_FALLBACKS
from .values import JUMPS, STARS, ClassInfo, Env, Function, Lazy, ModuleRef, Qual, interpreted

LOADED: dict[str, Env | None] = {}  # sibling modules' globals, the most recently used last
MAX_LOADED = 48  # beyond this the least recently used is forgotten: memory stays bounded
MAX_IMPORT_DEPTH = 3
LINES: dict[str, int] = {}  # path -> its number of lines, for the budget of the files that read it
STAMPS: dict[str, list | None] = {}  # path -> its size and mtime when LOADED read it
PARTIAL: dict[str, tuple] = {}  # sliced siblings: path -> (slices.Plan, their Extractor), beside LOADED
STARRED: dict[tuple, tuple] = {}  # (star files, name) -> (their globals then, the value, the files read)
RECORDING: list[_Lookup] = []  # the lookups through star imports in progress, innermost last
NO_NAME = ""  # load(path, NO_NAME): the module's globals, running none of its statements before a name is asked


class _Lookup:
    """A lookup through star imports: the files it loads, and whether its answer is final (no
    module it needed was mid-load or beyond the import depth)."""

    __slots__ = ("complete", "files")

    def __init__(self) -> None:
        self.files: set[str] = set()
        self.complete = True


def _incomplete() -> None:
    for lookup in RECORDING:
        lookup.complete = False


class Siblings:
    """Following imports of sibling modules (a mixin of the Extractor)."""

    def exec_import_from(self, stmt: ast.ImportFrom, env: Env) -> None:
        base, level = stmt.module or "", stmt.level
        if stmt.names[0].name == "*":
            module_file = locate(self.path, base, level)
            if module_file is None and not level:
                module_file = find_module(base, self.path, self.extra_paths)
            if module_file is not None:  # timm's `from .activations import *`: looked up when a name is missing
                env.vars[STARS] = (*env.vars.get(STARS, ()), module_file)
            return
        for alias in stmt.names:
            name = alias.name
            sibling = locate(self.path, base, level)
            if sibling is None and base and not level:
                self.bind_name(alias, self.imported(f"{base}.{name}"), env)
            elif sibling is None:
                module_file = locate(self.path, f"{base}.{name}", level)  # `from . import blocks`
                self.bind_name(alias, Lazy(module_file, None) if module_file else UNKNOWN, env)
            elif sibling.name == "__init__.py" and name not in init_binds(sibling) and \
                    (module_file := locate(self.path, f"{base}.{name}", level)):
                self.bind_name(alias, Lazy(module_file, None), env)  # `from ..ops import misc`: the submodule
            else:
                self.bind_name(alias, Lazy(sibling, name), env)

    def importable(self, module: str, dotted: str | None = None) -> bool:
        """Whether `import module` (`from module import name`: `dotted` is module.name) succeeds as
        far as convlint knows: its tables model it, or the search path has its source."""
        return modelled(dotted or module) or find_module(module, self.path, self.extra_paths) is not None

    def imported(self, dotted: str) -> Any:
        """What an absolute import of `dotted` binds: the module or the name of a module that the
        search path has (read when used), else its qualified name (torch, what is not found)."""
        if modelled(dotted):
            return Qual(dotted)
        module_file = find_module(dotted, self.path, self.extra_paths)
        if module_file is not None:
            return Lazy(module_file, None, dotted)
        module, _, name = dotted.rpartition(".")
        module_file = find_module(module, self.path, self.extra_paths) if module else None
        return Qual(dotted) if module_file is None else Lazy(module_file, name)

    def resolve(self, lazy: Lazy) -> Any:
        if type(lazy.path) is tuple:  # a name the module's code reads that its star imports may bind
            return self.from_stars(lazy.path, lazy.name)
        if lazy in self.resolving:
            _incomplete()
            return UNKNOWN  # modules that import a name from each other: it is bound in neither
        self.resolving.add(lazy)
        try:
            globals_ = self.load(lazy.path, NO_NAME if lazy.name is None else lazy.name)
            if globals_ is None:
                return UNKNOWN
            if lazy.name is None:
                return ModuleRef(globals_, lazy.path, lazy.module)
            return self.module_attr(globals_, lazy.name)
        finally:
            self.resolving.discard(lazy)

    def module_attr(self, globals_: Env, name: str, path=None) -> Any:
        """A module's global `name` (`path`: the module's file, to run what `name` needs first),
        or what its star imports give under that name."""
        value = globals_.vars.get(name, _ABSENT)
        if value is _ABSENT and path is not None:
            self.load(path, name)
            value = globals_.vars.get(name, _ABSENT)
        if value is _ABSENT:
            value = self.from_stars(globals_.vars.get(STARS, ()), name)
        return self.resolve(value) if type(value) is Lazy and len(self.loading) < MAX_IMPORT_DEPTH else value

    def from_stars(self, stars: tuple, name: str) -> Any:
        """`name` as a module's `from X import *` (the files `stars`) bind it: the last of them
        that defines it. What was found is kept while the star modules stay loaded (fastai's
        modules read most names through chains of star imports)."""
        if not stars or name.startswith("_"):
            return UNKNOWN
        kept = STARRED.get((stars, name))
        if kept is not None and all(LOADED.get(str(f)) is env for f, env in zip(stars, kept[0])):
            READ.update(kept[2])
            for key in kept[2]:
                self.count_lines(key)
            return kept[1]
        lookup = _Lookup()
        RECORDING.append(lookup)
        try:
            value = self._from_stars(stars, name)
        finally:
            RECORDING.pop()
        if value is not UNKNOWN or lookup.complete:  # not "unknown because a module was mid-load"
            STARRED[(stars, name)] = (tuple(LOADED.get(str(f)) for f in stars), value, tuple(lookup.files))
        return value

    def _from_stars(self, stars: tuple, name: str) -> Any:
        for module_file in reversed(stars):
            if not _mentions(module_file, name):
                continue
            star_globals = self.load(module_file, name)
            if star_globals is None:
                continue
            value = star_globals.vars.get(name, _ABSENT)
            if value is _ABSENT and star_globals.vars.get(STARS):
                if len(self.loading) < MAX_IMPORT_DEPTH:
                    value = self.from_stars(star_globals.vars[STARS], name)
                else:
                    _incomplete()
            if type(value) is Lazy:
                value = self.resolve(value)  # (`from . import X` back into the package: the earlier star's X)
            if value is not UNKNOWN and value is not _ABSENT:
                return value
        return UNKNOWN

    def load(self, path, name: str | None = None) -> Env | None:
        """The globals of a sibling module, interpreted once per process while it is used.
        `name`: the one name wanted (None: the module itself). A sibling that is not small is
        sliced (convlint.slices): only the statements the wanted names need are run, more of
        them as more names are asked for."""
        key = str(path)
        READ.add(key)  # what a cached result depends on
        for lookup in RECORDING:
            lookup.files.add(key)
        if key in LOADED:
            self.count_lines(path)
            LOADED[key] = LOADED.pop(key)
            if key in PARTIAL and key not in self.loading:
                self.grow(key, name)
            elif key in PARTIAL or LOADED[key] is None:
                _incomplete()  # mid-load: what it binds later is not bound yet
            return LOADED[key]
        if len(LOADED) >= MAX_LOADED:
            evicted = next(iter(LOADED))
            del LOADED[evicted]
            PARTIAL.pop(evicted, None)
        if key in self.loading or len(self.loading) >= MAX_IMPORT_DEPTH:
            _incomplete()
            return None
        LOADED[key] = None
        try:
            source = path.read_bytes()
        except OSError:
            return None
        STAMPS[key] = stamp(key)
        LINES[key] = source.count(b"\n") + 1
        self.count_lines(path)
        module = syntax.parse(source, key)
        if not isinstance(module, ast.Module):  # a sibling that does not parse is simply unknown
            return None
        plan = slices.plan(module, source)
        stmts, literals = (module.body, {}) if plan is None else plan.take(name)
        sibling = type(self)(None, key, self.loading | {key})
        sibling.extra_paths, sibling.read_lines, sibling.home = self.extra_paths, self.read_lines, self.home
        run_sibling(sibling, stmts, literals)
        LOADED[key] = sibling.globals
        if plan is not None:
            PARTIAL[key] = (plan, sibling)
        return sibling.globals

    def count_lines(self, path) -> None:
        """Another package's file read (a zoo's): its lines add to the file budget (State.budget)."""
        key = str(path)
        if key not in self.read_lines and package_folder(key) != self.home:
            self.read_lines[key] = LINES.get(key, 0)

    def grow(self, key: str, name: str | None) -> None:
        """Run the statements of a sliced sibling that `name` needs and that have not run yet."""
        plan, sibling = PARTIAL.pop(key)  # out while it grows: a cycle back to it takes it as it is
        try:
            stmts, literals = plan.take(name)
            if stmts or literals:
                run_sibling(sibling, stmts, literals)
        finally:
            PARTIAL[key] = (plan, sibling)


def forget_changed() -> None:
    """Drop the modules whose file changed since they were read (a long-running language server)."""
    for key in [key for key in LOADED if STAMPS.get(key) != stamp(key)]:
        del LOADED[key]
        PARTIAL.pop(key, None)


_ABSENT = object()


@lru_cache(maxsize=4096)
def package_folder(path: str) -> str | None:
    """The file's top-level package folder (imports.package_root), as a string: compared often."""
    root = package_root(Path(path))
    return None if root is None else str(root)


def modelled(dotted: str) -> bool:
    """Whether convlint's own tables say what `dotted` is (torch, numpy, the standard library, a
    zoo's registry): its source is never read."""
    return dotted.partition(".")[0] in NEVER_READ or dotted in QUAL_CALLS or dotted in QUAL_FALLBACKS


def _mentions(path, name: str) -> bool:
    """Whether the file's text has the word `name` or a star import of its own: the files of a
    star import that cannot bind it are never interpreted."""
    words = _words(path)
    return "*" in words or name in words


@lru_cache(maxsize=256)
def _words(path) -> frozenset[str]:
    try:
        text = path.read_bytes()
    except OSError:
        return frozenset()
    found = {word.decode("utf-8", "replace") for word in re.findall(rb"\w+", text)}
    return frozenset(found | {"*"} if b"import *" in text else found)


@lru_cache(maxsize=256)
def init_binds(path: Path) -> frozenset[str]:
    """The names a package's __init__.py binds itself: `from package import name` takes that
    binding, not the submodule of the same name (timm's `from .create_attn import create_attn`)."""
    try:
        module = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return frozenset()
    return frozenset(name for stmt in module.body for name in slices.statement_binds(stmt))


def run_sibling(sibling: Siblings, stmts: list[ast.stmt], literals: dict | None = None) -> None:
    """Interpret a sibling's statements into its globals; what they define is foreign code.
    `literals`: values of large literal assignments among them (convlint.slices), bound first."""
    for name, value in (literals or {}).items():
        sibling.globals.vars[name] = interpreted(value)
    try:
        sibling.exec_block(stmts, sibling.globals)
    except JUMPS:
        pass
    for value in sibling.globals.vars.values():
        if isinstance(value, (Function, ClassInfo)) and value.foreign is None:
            value.foreign = sibling.path
        if isinstance(value, ClassInfo):
            for method in value.attrs.values():
                if isinstance(method, Function) and method.foreign is None:
                    method.foreign = value.foreign
