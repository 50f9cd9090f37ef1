"""Same-package imports: `from .blocks import Block` binds a name that is read, when first used,
from the sibling file, interpreted once per process (large siblings sliced to what is asked)."""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path
from typing import Any

from .. import slices, syntax
from ..imports import locate
from ..sizes import UNKNOWN
from .values import JUMPS, STARS, ClassInfo, Env, Function, Lazy, ModuleRef, Qual, interpreted

LOADED: dict[str, Env | None] = {}  # sibling modules' globals, the most recently used last
MAX_LOADED = 48  # beyond this the least recently used is forgotten: memory stays bounded
MAX_IMPORT_DEPTH = 3
PARTIAL: dict[str, tuple] = {}  # sliced siblings: path -> (slices.Plan, their Extractor), beside LOADED


class Siblings:
    """Following imports of sibling modules (a mixin of the Extractor)."""

    def exec_import_from(self, stmt: ast.ImportFrom, env: Env) -> None:
        base, level = stmt.module or "", stmt.level
        if stmt.names[0].name == "*":
            sibling = locate(self.path, base, level)
            if sibling is not None:  # timm's `from .activations import *`: looked up when a name is missing
                env.vars[STARS] = (*env.vars.get(STARS, ()), sibling)
            return
        for alias in stmt.names:
            name = alias.name
            sibling = locate(self.path, base, level)
            if sibling is None and base and not level:
                self.bind_name(alias, Qual(f"{base}.{name}"), env)
            elif sibling is None:
                module_file = locate(self.path, f"{base}.{name}", level)  # `from . import blocks`
                self.bind_name(alias, Lazy(module_file, None) if module_file else UNKNOWN, env)
            elif sibling.name == "__init__.py" and name not in init_binds(sibling) and \
                    (module_file := locate(self.path, f"{base}.{name}", level)):
                self.bind_name(alias, Lazy(module_file, None), env)  # `from ..ops import misc`: the submodule
            else:
                self.bind_name(alias, Lazy(sibling, name), env)

    def resolve(self, lazy: Lazy) -> Any:
        if type(lazy.path) is tuple:  # a name from the star imports: the last that binds it
            for path in reversed(lazy.path):
                if lazy.name in star_names(path):
                    return self.resolve(Lazy(path, lazy.name))
            return UNKNOWN
        globals_ = self.load(lazy.path, lazy.name)
        if globals_ is None:
            return UNKNOWN
        if lazy.name is None:
            return ModuleRef(globals_)
        value = globals_.vars.get(lazy.name, UNKNOWN)
        return self.resolve(value) if type(value) is Lazy and len(self.loading) < MAX_IMPORT_DEPTH else value

    def load(self, path, name: str | None = None) -> Env | None:
        """The globals of a sibling module, interpreted once per process while it is used.
        `name`: the one name wanted (None: the module itself). A sibling that is not small is
        sliced (convlint.slices): only the statements the wanted names need are run, more of
        them as more names are asked for."""
        key = str(path)
        if key in LOADED:
            LOADED[key] = LOADED.pop(key)
            if key in PARTIAL and key not in self.loading:
                self.grow(key, name)
            return LOADED[key]
        if len(LOADED) >= MAX_LOADED:
            evicted = next(iter(LOADED))
            del LOADED[evicted]
            PARTIAL.pop(evicted, None)
        if key in self.loading or len(self.loading) >= MAX_IMPORT_DEPTH:
            return None
        LOADED[key] = None
        try:
            source = path.read_bytes()
        except OSError:
            return None
        module = syntax.parse(source, key)
        if not isinstance(module, ast.Module):  # a sibling that does not parse is simply unknown
            return None
        plan = slices.plan(module, source)
        stmts, literals = (module.body, {}) if plan is None else plan.take(name)
        sibling = type(self)(None, key, self.loading | {key})
        run_sibling(sibling, stmts, literals)
        LOADED[key] = sibling.globals
        if plan is not None:
            PARTIAL[key] = (plan, sibling)
        return sibling.globals

    def grow(self, key: str, name: str | None) -> None:
        """Run the statements of a sliced sibling that `name` needs and that have not run yet."""
        plan, sibling = PARTIAL.pop(key)  # out while it grows: a cycle back to it takes it as it is
        try:
            stmts, literals = plan.take(name)
            if stmts or literals:
                run_sibling(sibling, stmts, literals)
        finally:
            PARTIAL[key] = (plan, sibling)


@lru_cache(maxsize=256)
def init_binds(path: Path) -> frozenset[str]:
    """The names a package's __init__.py binds itself: `from package import name` takes that
    binding, not the submodule of the same name (timm's `from .create_attn import create_attn`)."""
    try:
        module = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return frozenset()
    return frozenset(name for stmt in module.body for name in slices.statement_binds(stmt))


@lru_cache(maxsize=256)
def star_names(path: Path) -> tuple[str, ...]:
    """The names `from module import *` binds: its literal `__all__`, else every top-level name it
    binds that does not start with an underscore (those its own star imports bind are not known)."""
    try:
        module = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return ()
    for stmt in module.body:
        if type(stmt) is ast.Assign and any(type(t) is ast.Name and t.id == "__all__" for t in stmt.targets):
            try:
                names = ast.literal_eval(stmt.value)
            except ValueError:
                return ()
            return tuple(n for n in names if isinstance(n, str)) if isinstance(names, (list, tuple)) else ()
    return tuple(sorted({n for stmt in module.body for n in slices.statement_binds(stmt) if not n.startswith("_")}))


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
