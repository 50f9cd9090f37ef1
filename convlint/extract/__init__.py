"""Extraction: read a module's syntax tree (CPython's `ast`) the way a careful reader would, by
interpreting the Python that builds and runs a model, and record what it constructs (layers) and
what its forward does with tensors (a Model: a list of ops).

The interpreter is one class assembled from rooms, each a mixin with one job: `values` (what it
computes with), `state` (what it is inside of, its budget), `statements`, `expressions`, `operators`,
`assignment`, `calls` (dispatch and binding), `classes` (classes and instances of the code read),
`nn` (torch.nn modules), `tensors` (torch functions and tensor methods), `pythonlib` (builtins and
the standard library), `siblings` (same-package imports) and `discovery` (which statements define
models). Library knowledge is tables keyed by name in `nn`, `tensors` and `pythonlib`.
"""

from __future__ import annotations

import ast
import os

from ..graph import Layer, Model
from .assignment import Assignment
from .calls import Calls
from .classes import Classes
from .discovery import Discovery
from .expressions import Expressions
from .nn import Modules
from .operators import Operators
from .siblings import LOADED, PARTIAL, Siblings, forget_changed, package_folder
from .state import FILE_BUDGET, FILE_BUDGET_BASE, State
from .statements import Statements
from .tensors import Tensors

__all__ = ["LOADED", "PARTIAL", "Extractor", "extract"]


class Extractor(Discovery, Siblings, Modules, Tensors, Calls, Classes, Expressions, Operators, Assignment,
                Statements, State):
    """The interpreter of one file."""


def extract(module: ast.Module, path: str | None = None, lines: int | None = None, source: bytes | None = None,
            only: str | None = None, calls: dict | None = None, extra_paths: tuple = ()) -> tuple[list[Model], list[Layer]]:
    """Every model the module defines, and every layer it constructs. `path` lets it follow imports.
    `lines`, the file's length, bounds the work: beyond FILE_BUDGET steps per line, further
    models (a model zoo's hundredth variant) are not built. `source`, the module's text, gives
    its `# convlint: input=` comments. `only`: build just the model of that name;
    `calls`: the call that builds a model, by its name (Discovery.models); `extra_paths`: folders
    searched for imported packages before the interpreter's own (convlint.imports)."""
    forget_changed()
    extractor = Extractor(module, path, source=source)
    extractor.extra_paths = extra_paths
    extractor.home = package_folder(os.path.realpath(path)) if path is not None else None  # siblings are read by real path
    if lines is not None:
        extractor.file_budget = FILE_BUDGET_BASE + FILE_BUDGET * lines
    try:
        models = extractor.models(only, calls)
        return models, list(extractor.layers.values())
    finally:
        # globals -> functions -> globals is a cycle that would keep the tree alive until a full
        # collection; the models no longer need the globals once built
        extractor.globals.vars.clear()
