"""source → models → shapes → findings, for one file."""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import rules, syntax
from .context import Context, ModelRun
from .findings import Finding, Span
from .graph import MODEL_INPUT, Layer, Model
from .propagate import Step, propagate

BUG_REPORT = "please report this as a convlint bug, with the file"


@dataclass
class StepView:
    kind: str
    line: int
    in_shape: tuple | None
    out_shape: tuple | None
    step: Step


@dataclass
class ModelView:
    name: str
    line: int
    input_shape: tuple[int, ...] | None
    steps: list[StepView]
    training: bool = False  # the run in training mode of a model whose forward reads self.training
    part_of: str | None = None  # a sub-module the model's run never called, run on its own
    model: Model | None = None  # what the static pass built (verify reads its layers' paths)


@dataclass
class Analysis:
    path: str
    findings: list[Finding]
    models: list[ModelView] = field(default_factory=list)
    positions: Positions | None = None  # with details: where each node of the file is


class Positions:
    """Source positions of the module's nodes, as 1-based line and character columns (the tree
    counts columns in UTF-8 bytes). A node of another file (a layer a sibling's code built) has
    no position here: line 1."""

    def __init__(self, source: bytes, module: ast.Module, path: str | None = None) -> None:
        self.source = source
        self.module = module
        self.path = path
        self._lines: list[str] | None = None
        self._nodes: set[int] | None = None
        self._loops: dict[int, int] | None = None

    def local(self, node: ast.AST) -> bool:
        """Whether the node is of this file."""
        if self._nodes is None:
            self._nodes = {id(n) for n in ast.walk(self.module)}
        return id(node) in self._nodes

    def span(self, node: ast.AST) -> Span:
        line = getattr(node, "lineno", None)
        if line is None or not self.local(node):
            return Span(1, 1, 1, 1)
        end = node.end_lineno or line
        return Span(line, self.column(line, node.col_offset) + 1, end, self.column(end, node.end_col_offset or 0) + 1)

    def line(self, node: ast.AST) -> int:
        return self.span(node).line

    def loop_around(self, node: ast.AST) -> int | None:
        """The line of the innermost `for` or `while` whose body holds the node, if any."""
        if self._loops is None:
            self._loops = {}
            for loop in ast.walk(self.module):  # outer loops first: an inner loop's lines win
                if type(loop) in (ast.For, ast.AsyncFor, ast.While):
                    for stmt in loop.body:
                        for inner in ast.walk(stmt):
                            self._loops[id(inner)] = loop.lineno
        return self._loops.get(id(node))

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = syntax.source_lines(self.source)
        return self._lines

    def column(self, line: int, offset: int) -> int:
        text = self.lines[line - 1] if line <= len(self.lines) else ""
        return offset if text.isascii() else len(text.encode("utf-8")[:offset].decode("utf-8", "replace"))

    def short_text(self, node: ast.AST, width: int = 60) -> str:
        """The node's source text on one line, cut at `width` characters."""
        text = " ".join(self.text(node).split())
        return text if len(text) <= width else text[: width - 1] + "…"

    def text(self, node: ast.AST) -> str:
        """The node's source text."""
        if getattr(node, "lineno", None) is None:
            return "?"
        span = self.span(node)
        lines = self.lines[span.line - 1 : span.end_line]
        lines[-1] = lines[-1][: span.end_column - 1]
        lines[0] = lines[0][span.column - 1 :]
        return "\n".join(lines)


def read_source(path) -> bytes | Finding:
    try:
        return Path(path).read_bytes()
    except IsADirectoryError:
        return _file_finding(str(path), "unreadable-file", "is a directory, not a Python file")
    except FileNotFoundError:
        return _file_finding(str(path), "unreadable-file", "the file disappeared before it could be read")
    except OSError as error:
        return _file_finding(str(path), "unreadable-file", f"cannot read the file: {error.strerror or error}")


_NAMES_TORCH_NN = re.compile(rb"\bnn\b(?!\.functional\b)|\bModule\b")


def might_define_models(source: bytes) -> bool:
    """Every layer convlint understands is reached through torch.nn (`nn.Conv2d`, `from torch.nn
    import ...`, `torch.nn.Conv2d`); a file that never names it, or names only its functions
    (`import torch.nn.functional as F`: tensor utilities), can build no layer of its own."""
    return b"torch" in source and _NAMES_TORCH_NN.search(source) is not None


def parse(source: bytes, path: str) -> ast.Module | Finding:
    """The file's tree, or the finding that says why there is none."""
    module = syntax.parse(source, path)
    if isinstance(module, syntax.Unparsable):
        return _file_finding(path, module.check, module.message, module.line, module.column)
    return module


def _file_finding(path: str, name: str, message: str, line: int = 1, column: int = 1) -> Finding:
    rule = rules.BY_NAME[name]
    return Finding(path, Span(line, column, line, column), rule.code, name, rule.severity, message)


def analyze_source(
    source: bytes | str,
    path: str = "<string>",
    input_shape: tuple[int, ...] | None = None,
    select: Collection[str] | None = None,
    details: bool = True,
    config_inputs: dict[str, tuple[int, ...]] | None = None,
    extra_paths: tuple | None = None,
) -> Analysis:
    """Lint one file's source. `select`: rule names to run (default: the default set).
    `config_inputs`, `extra_paths`: the input sizes and extra-paths the configuration gives this
    file (None: read the configuration that applies to `path`)."""
    if isinstance(source, str):
        source = source.encode("utf-8")
    try:
        return _analyze(source, path, input_shape, select, details, config_inputs, extra_paths)
    except Exception:  # noqa: BLE001 - one file's bug must not stop the run
        import traceback

        last = traceback.format_exc().strip().splitlines()[-1]
        return Analysis(path, [_file_finding(path, "internal-error", f"convlint crashed ({last}); {BUG_REPORT}")])


@dataclass
class Reading:
    """A file as the static pass reads it: what `check` and `summary` both start from."""

    module: ast.Module
    positions: Positions
    models: list[Model]
    layers: list[Layer]
    evidence: dict  # model name -> evidence.Evidence of its input size, for the models without a declaration


def read(source: bytes, path: str, input_shape=None, config_inputs=None, only: str | None = None,
         calls: dict | None = None, extra_paths=None) -> Reading | Finding:
    """Parse, extract the models (following same-package imports from `path`) and find the
    evidence of their input sizes. `config_inputs`: the configuration's input sizes for this
    file (None: read the configuration that applies to `path`). `only`: just the model of that name; `calls`: the call that builds a model, by name
    (a factory: Discovery.models); `extra_paths`: the configuration's (None: read it for `path`)."""
    module = parse(source, path)
    if isinstance(module, Finding):
        return module
    from . import config, evidence, imports
    from .extract import extract

    local = not path.startswith("<")
    if extra_paths is None:
        extra_paths = config.extra_paths_for_file(path) if local else ()
    try:
        models, layers = _on_a_deep_stack(extract, module, path if local else None, source.count(b"\n") + 1,
                                          source, only, calls, (*imports.EXTRA_PATHS, *extra_paths))
    except RecursionError:
        models, layers = [], []  # deeper than we follow: nothing is known, so nothing is said
    evident = {}
    undeclared = [m for m in models if m.declared_input is None and forced(m, input_shape) is None]
    if undeclared:
        if config_inputs is None:
            config_inputs = config.inputs_for_file(path)
        evident = evidence.input_evidence(module, undeclared, config_inputs, source)
    return Reading(module, Positions(source, module, path), models, layers, evident)


def _call(fn, *args):
    return fn(*args)


# CPython 3.11 keeps its frames in 16 KiB chunks and frees a chunk as soon as the calls return below
# it; the interpreter's recursion crosses such a boundary to and fro, an mmap and a munmap each time
# (half a million of each in a cold run over the corpus: an eighth of its CPU time, in the kernel). A
# call whose frame reserves a large stack starts a chunk big enough for every frame above it.
_on_a_deep_stack = type(_call)(_call.__code__.replace(co_stacksize=70_000), globals())


def forced(model: Model, input_shape):
    """`--input` for the models the file defines for use; a block's input is what its model gives it."""
    return input_shape if model.root else None


def _analyze(source: bytes, path: str, input_shape, select, details: bool, config_inputs, extra_paths) -> Analysis:
    if not might_define_models(source):
        return Analysis(path, [])
    reading = read(source, path, input_shape, config_inputs, extra_paths=extra_paths)
    if isinstance(reading, Finding):
        return Analysis(path, [reading])
    runs = []
    for model in reading.models:
        given = forced(model, input_shape) or model.declared_input
        evident = None if given else reading.evidence.get(model.name)
        shape = given or (evident.shape if evident is not None else None)
        steps = propagate(model, shape)
        if evident is not None and evident.fitted:
            for step in steps:  # the layers that read it seed it, as an undeclared input: their own count
                step.seeded = step.seeded or step.op.kind == "layer" and step.op.inputs[:1] == (MODEL_INPUT,)
        runs.append(ModelRun(model, shape, steps, evident.source if evident is not None else None))
    positions = reading.positions
    ctx = Context(runs, reading.layers, positions)
    findings: dict[tuple, Finding] = {}
    chosen = rules.DEFAULT_SELECTION if select is None else select
    for rule in rules.RULES:
        if rule.module is None or rule.name not in chosen:
            continue
        others: dict[int, tuple[str, Finding]] = {}  # id(layer of another file) -> (that file, finding)
        for node, message, *hint in rule.module.check(ctx):  # a check may add a fix hint: (node, message, fix)
            layer = node if isinstance(node, Layer) else None
            node = node.site if layer is not None else node
            if not positions.local(node):
                continue  # a layer of another file, reached by no call of this one: that file's finding, at its line
            fix = hint[0] if hint else None
            finding = Finding(path, positions.span(node), rule.code, rule.name, rule.severity, message, fix=fix)
            key = (finding.code, finding.span)
            if key not in findings and layer is not None and layer.file is not None:
                others[id(layer)] = (layer.file, finding)
            findings.setdefault(key, finding)  # a loop-built layer: once
        for file in sorted({file for file, _ in others.values()}):
            # the same check written from that file: where the finding goes when that file is linted too
            view = ctx.seen_from(file)
            for node, message, *_ in rule.module.check(view):
                if isinstance(node, Layer) and id(node) in others and others[id(node)][0] == file:
                    finding = others.pop(id(node))[1]
                    reached = f" (this instance: `{positions.short_text(node.site)}` {view.at(positions.line(node.site), None)})"
                    home = (os.path.realpath(file), foreign_span(file, node.node), message + reached)
                    findings[(finding.code, finding.span)] = replace(finding, home=home)
    analysis = Analysis(path, sorted(findings.values(), key=Finding.sort_key))
    if details:
        analysis.models = [_view(run, positions) for run in runs]
        analysis.positions = positions
    return analysis


def foreign_span(path: str, node: ast.AST) -> Span:
    """Where a node of another file is, in that file's lines and character columns."""
    lines = syntax.source_lines(Path(path).read_bytes())

    def column(line: int, offset: int) -> int:
        text = lines[line - 1] if line <= len(lines) else ""
        return offset if text.isascii() else len(text.encode("utf-8")[:offset].decode("utf-8", "replace"))

    end = node.end_lineno or node.lineno
    return Span(node.lineno, column(node.lineno, node.col_offset) + 1, end, column(end, node.end_col_offset or 0) + 1)


def _view(run: ModelRun, positions: Positions) -> ModelView:
    steps = []
    for step in run.steps:
        node = step.op.layer.node if step.op.layer is not None else step.op.node
        steps.append(StepView(step.kind, positions.line(node), step.in_shape, step.out_shape, step))
    model = run.model
    return ModelView(model.name, positions.line(model.node), run.input_shape, steps, model.training, model.part_of,
                     model)


def lint_source(source: bytes | str, path: str = "<string>", input_shape=None, select=None) -> list[Finding]:
    return analyze_source(source, path, input_shape, select, details=False).findings
