"""source → models → shapes → findings, for one file."""

from __future__ import annotations

import traceback
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import rules
from .context import Context, ModelRun
from .findings import Finding, Span
from .propagate import Step, propagate

if TYPE_CHECKING:
    import libcst as cst

# libcst (and extract/evidence, which need it) are imported on first use: `convlint --version`
# and a run whose files the pre-filter rejects never pay for it.

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


@dataclass
class Analysis:
    path: str
    findings: list[Finding]
    models: list[ModelView] = field(default_factory=list)


class Positions:
    """Source positions, computed only when something asks: the pass re-renders the whole module."""

    def __init__(self, module: cst.Module) -> None:
        self.module = module
        self._map = None

    def span(self, node: cst.CSTNode) -> Span:
        if self._map is None:
            self._map = _positions(self.module)
        where = self._map.get(node)
        if where is None:
            return Span(1, 1, 1, 1)
        return Span(where.start.line, where.start.column + 1, where.end.line, where.end.column + 1)

    def line(self, node: cst.CSTNode) -> int:
        return self.span(node).line


class _Recorder:
    """Stands in for libcst's PositionProvider: the same code generation, without the
    metadata machinery's extra visit of the whole tree (half the cost)."""

    def __init__(self) -> None:
        self._computed: dict = {}  # the attribute libcst's code generation writes to

    def set_metadata(self, node, value) -> None:
        self._computed[node] = value


def _positions(module: cst.Module) -> dict:
    try:
        from libcst.metadata.position_provider import PositionProvidingCodegenState

        recorder = _Recorder()
        state = PositionProvidingCodegenState(module.default_indent, module.default_newline, recorder)
        module._codegen(state)
        return recorder._computed
    except (ImportError, AttributeError, TypeError):  # libcst internals moved: take the public road
        from libcst.metadata import MetadataWrapper, PositionProvider

        return MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)


def read_source(path) -> bytes | Finding:
    try:
        return Path(path).read_bytes()
    except IsADirectoryError:
        return _file_finding(str(path), "unreadable-file", "is a directory, not a Python file")
    except FileNotFoundError:
        return _file_finding(str(path), "unreadable-file", "the file disappeared before it could be read")
    except OSError as error:
        return _file_finding(str(path), "unreadable-file", f"cannot read the file: {error.strerror or error}")


def might_define_models(source: bytes) -> bool:
    """Every torch layer convlint understands is reached through an import of torch."""
    return b"torch" in source


MAX_SOURCE_BYTES = 2 * 1024 * 1024  # the largest file of the corpus is 0.33 MB; beyond this it is generated code
MAX_BRACKET_DEPTH = 100  # deeper (counting brackets in strings too) and CPython's parser vets the file first
MAX_LAMBDAS = 500
_BRACKETS = bytes.maketrans(b"([{)]}", b"\x01\x01\x01\xff\xff\xff")
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"([{)]}")


def too_deep(source: bytes, path: str) -> Finding | None:
    """libcst's native parser overflows its stack (the process dies) on a few thousand nested
    brackets or lambdas. CPython's own parser refuses those cleanly (more than 200 nested
    brackets is not Python), so a file that looks that deep is shown to it first."""
    from array import array
    from itertools import accumulate

    signed = array("b", source.translate(_BRACKETS, _NOT_BRACKETS))
    if max(accumulate(signed), default=0) <= MAX_BRACKET_DEPTH and source.count(b"lambda") <= MAX_LAMBDAS:
        return None
    import ast

    try:
        ast.parse(source, path)
    except SyntaxError as error:
        return _file_finding(path, "syntax-error", f"invalid syntax: {error.msg}", max(error.lineno or 1, 1))
    except (RecursionError, MemoryError):
        return _file_finding(path, "syntax-error", "the file nests too deeply for the parser")
    except ValueError as error:  # NUL bytes
        return _file_finding(path, "syntax-error", f"invalid syntax: {error}")
    return None


def parse(source: bytes, path: str) -> cst.Module | Finding:
    import libcst as cst

    if len(source) > MAX_SOURCE_BYTES:
        size = len(source) / (1024 * 1024)
        return _file_finding(
            path, "unreadable-file",
            f"larger than {MAX_SOURCE_BYTES // (1024 * 1024)} MB ({size:.1f} MB): not analysed (exclude generated files)",
        )
    deep = too_deep(source, path)
    if deep is not None:
        return deep
    try:
        return cst.parse_module(source)
    except cst.ParserSyntaxError as error:
        line, column = max(error.raw_line, 1), error.raw_column + 1
        message = str(error).splitlines()[0] if str(error) else "invalid syntax"
        return _file_finding(path, "syntax-error", f"invalid syntax: {message}", line, column)
    except (UnicodeDecodeError, LookupError, SyntaxError) as error:
        return _file_finding(path, "unreadable-file", f"cannot decode the file: {error}")
    except RecursionError:
        return _file_finding(path, "syntax-error", "the file nests too deeply for the parser")


def _file_finding(path: str, name: str, message: str, line: int = 1, column: int = 1) -> Finding:
    rule = rules.BY_NAME[name]
    return Finding(path, Span(line, column, line, column), rule.code, name, rule.severity, message)


def analyze_source(
    source: bytes | str,
    path: str = "<string>",
    input_shape: tuple[int, ...] | None = None,
    select: Collection[str] | None = None,
    details: bool = True,
) -> Analysis:
    """Lint one file's source. `select`: rule names to run (default: the default set)."""
    if isinstance(source, str):
        source = source.encode("utf-8")
    try:
        return _analyze(source, path, input_shape, select, details)
    except Exception:  # noqa: BLE001 - one file's bug must not stop the run
        last = traceback.format_exc().strip().splitlines()[-1]
        return Analysis(path, [_file_finding(path, "internal-error", f"convlint crashed ({last}); {BUG_REPORT}")])


def _analyze(source: bytes, path: str, input_shape, select, details: bool) -> Analysis:
    if not might_define_models(source):
        return Analysis(path, [])
    module = parse(source, path)
    if isinstance(module, Finding):
        return Analysis(path, [module])
    from . import evidence
    from .extract import extract

    try:
        models, layers = extract(module, input_shape, None if path.startswith("<") else path)
    except RecursionError:
        return Analysis(path, [])  # deeper than we follow: nothing is known, so nothing is said
    evident = {} if input_shape else evidence.input_shapes(module, models, path, source)  # config, then the file's own evidence
    runs = []
    for model in models:
        shape = input_shape or model.declared_input or evident.get(model.name)
        runs.append(ModelRun(model, shape, propagate(model, shape)))
    positions = Positions(module)
    ctx = Context(runs, layers, positions.line)
    findings: dict[tuple, Finding] = {}
    chosen = rules.DEFAULT_SELECTION if select is None else select
    for rule in rules.RULES:
        if rule.module is None or rule.name not in chosen:
            continue
        for node, message, *hint in rule.module.check(ctx):  # a check may add a fix hint: (node, message, fix)
            fix = hint[0] if hint else None
            finding = Finding(path, positions.span(node), rule.code, rule.name, rule.severity, message, fix=fix)
            findings.setdefault((finding.code, finding.span), finding)  # a loop-built layer: once
    analysis = Analysis(path, sorted(findings.values(), key=Finding.sort_key))
    if details:
        analysis.models = [_view(run, positions) for run in runs]
    return analysis


def _view(run: ModelRun, positions: Positions) -> ModelView:
    steps = []
    for step in run.steps:
        node = step.op.layer.node if step.op.layer is not None else step.op.node
        steps.append(StepView(step.kind, positions.line(node), step.in_shape, step.out_shape, step))
    return ModelView(run.model.name, positions.line(run.model.node), run.input_shape, steps)


def lint_source(source: bytes | str, path: str = "<string>", input_shape=None, select=None) -> list[Finding]:
    return analyze_source(source, path, input_shape, select, details=False).findings
