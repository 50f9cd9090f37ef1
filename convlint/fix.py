"""`--fix`: libcst codemods that repair what a finding reports, keeping formatting and comments.

Each fix rewrites exactly one call, the one the finding points at:

- ``channel-mismatch``: the receiving layer's in_channels / in_features / num_features /
  num_channels argument (positional or keyword, as the call spells it) becomes the received
  count, only when it is a plain integer literal there and the received count is known; and
  only the first mismatch of each model per round (fix, re-lint, repeat), so that the rest of
  the model stays consistent with what the first fix made of it;
- ``misplaced-flatten``: ``torch.flatten(x)`` → ``torch.flatten(x, 1)`` (``x.flatten()`` →
  ``x.flatten(1)``), and ``x.view(-1, N)`` → ``x.view(x.size(0), -1)``;
- ``redundant-bias``: ``bias=False`` on the convolution.

A fix is kept only if re-linting the fixed source reports no finding that was not there before
(compared by code, line and message, lines mapped across the edit) and one fewer of the old
ones. Fixed code is not reported again, so a second ``--fix`` changes nothing.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from . import layers as L
from .findings import Finding, Span

FIXABLE = ("channel-mismatch", "misplaced-flatten", "redundant-bias")
MAX_ROUNDS = 64  # fixes applied to one file, at most (each is one round: fix, re-lint)


@dataclass(frozen=True)
class Edit:
    """Replace the source text at `span` (1-based, end column exclusive) with `new_text`."""

    span: Span
    new_text: str
    title: str


@dataclass
class FixResult:
    source: str
    fixed: list[Finding] = field(default_factory=list)  # the findings the applied fixes removed

    @property
    def changed(self) -> bool:
        return bool(self.fixed)


# --------------------------------------------------------------------------- whole files


def fix_source(
    source: str,
    path: str = "<string>",
    input_shape: tuple[int, ...] | None = None,
    select: Collection[str] | None = None,
    max_rounds: int = MAX_ROUNDS,
) -> FixResult:
    """Apply every safe fix to `source`, one per round, re-linting after each."""
    result = FixResult(source)
    findings = _lint(source, path, input_shape, select)
    rejected: set[tuple] = set()
    for _ in range(max_rounds):
        applied = False
        for finding in candidates(findings):
            key = (finding.code, finding.span, finding.message)
            if key in rejected:
                continue
            attempt = _try_fix(result.source, finding, path, input_shape, select)
            if attempt is None:
                rejected.add(key)
                continue
            result.source, findings = attempt
            result.fixed.append(finding)
            applied = True
            break
        if not applied:
            break
    return result


def quick_fixes(
    source: str,
    findings: Iterable[Finding],
    path: str = "<string>",
    input_shape: tuple[int, ...] | None = None,
    only: Collection[Finding] | None = None,
) -> dict[tuple, Edit]:
    """The verified single-call edit for each fixable finding of `findings` (keyed by code, span,
    message), for an editor's code actions; `only`: just for these. `findings` must be those of
    `source` (all of them: which mismatch comes first in its model depends on the others)."""
    findings = list(findings)
    edits = {}
    for finding in candidates(findings):
        if only is not None and finding not in only:
            continue
        edit = edit_for(source, finding)
        if edit is None:
            continue
        if _verified(source, apply_edit(source, edit), edit, finding, path, input_shape) is not None:
            edits[(finding.code, finding.span, finding.message)] = edit
    return edits


def candidates(findings: Iterable[Finding]) -> list[Finding]:
    """Findings a fix may be tried for: fixable ones, and of channel mismatches only the first of
    each model (the later ones may follow from it)."""
    chosen, first_mismatch = [], {}
    for finding in findings:
        if finding.suppressed or finding.name not in FIXABLE:
            continue
        if finding.name == "channel-mismatch":
            hint = finding.fix
            if not hint:
                continue
            model = hint.get("model")
            if model not in first_mismatch or hint.get("order", 0) < first_mismatch[model].fix.get("order", 0):
                first_mismatch[model] = finding
            continue
        chosen.append(finding)
    chosen.extend(first_mismatch.values())
    return sorted(chosen, key=Finding.sort_key)


def unified_diff(path: str, before: str, after: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{path}", f"b/{path}"
        )
    )


# --------------------------------------------------------------------------- one finding


def edit_for(source: str, finding: Finding) -> Edit | None:
    """The edit of the call at the finding's span that fixes it, unverified; None if none applies."""
    try:
        module = cst.parse_module(source)
    except Exception:  # noqa: BLE001 - an unparsable buffer has nothing to fix
        return None
    call = _call_at(module, finding.span)
    if call is None:
        return None
    fixer = {"channel-mismatch": _fix_channels, "misplaced-flatten": _fix_flatten, "redundant-bias": _fix_bias}
    fixed = fixer[finding.name](call, finding) if finding.name in fixer else None
    if fixed is None or fixed[0].deep_equals(call):
        return None
    new_call, title = fixed
    return Edit(finding.span, module.code_for_node(new_call), title)


def apply_edit(source: str, edit: Edit) -> str:
    lines = source.splitlines(keepends=True)
    start = sum(len(line) for line in lines[: edit.span.line - 1]) + edit.span.column - 1
    end = sum(len(line) for line in lines[: edit.span.end_line - 1]) + edit.span.end_column - 1
    return source[:start] + edit.new_text + source[end:]


def _try_fix(source, finding, path, input_shape, select):
    edit = edit_for(source, finding)
    if edit is None:
        return None
    new_source = apply_edit(source, edit)
    after = _verified(source, new_source, edit, finding, path, input_shape)
    if after is None:
        return None
    return new_source, _lint(new_source, path, input_shape, select)


def _lint(source: str, path: str, input_shape, select) -> list[Finding]:
    """The selected findings (default: the error and warning checks) not suppressed by a comment:
    those to fix."""
    from . import rules
    from .suppress import apply

    if select is None:
        select = {r.name for r in rules.RULES if r.severity != "info"}
    findings = [f for f in _lint_all(source, path, input_shape) if f.name in select]
    return apply(findings, source, path, set(select)).kept


@functools.lru_cache(maxsize=8)  # a fix round lints the same source as "after" and then "before"
def _lint_all(source: str, path: str, input_shape) -> tuple[Finding, ...]:
    from . import rules
    from .engine import analyze_source

    everything = {r.name for r in rules.RULES}  # a fix must not cause a finding of any check
    return tuple(analyze_source(source, path, input_shape, everything, details=False).findings)


def _verified(source, new_source, edit, finding, path, input_shape) -> list[Finding] | None:
    """The findings of every check on `new_source`, if no finding appears that was not there
    and the fixed one is gone; else None."""
    if new_source == source:
        return None
    before, after = _lint_all(source, path, input_shape), _lint_all(new_source, path, input_shape)
    if any(f.name in ("syntax-error", "internal-error") for f in after):
        return None
    shift = _line_shift(edit)
    old = {(f.code, f.line, f.message) for f in before}
    new = {(f.code, shift(f.line), _shift_message(f.message, shift)) for f in after}
    if not new <= old or (finding.code, finding.line, finding.message) in new:
        return None
    return after


def _line_shift(edit: Edit):
    """Maps a line of the edited source to the line it was on before the edit."""
    old_last = edit.span.end_line
    delta = edit.new_text.count("\n") - (edit.span.end_line - edit.span.line)

    def shift(line: int) -> int:
        if line > old_last + delta:
            return line - delta
        return min(line, old_last)

    return shift


def _shift_message(message: str, shift) -> str:
    return re.sub(r"\bline (\d+)", lambda m: f"line {shift(int(m.group(1)))}", message)


def _call_at(module: cst.Module, span: Span) -> cst.Call | None:
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    start = (span.line, span.column - 1)
    end = (span.end_line, span.end_column - 1)
    for node, where in positions.items():
        if (
            isinstance(node, cst.Call)
            and (where.start.line, where.start.column) == start
            and (where.end.line, where.end.column) == end
        ):
            return node
    return None


# --------------------------------------------------------------------------- the codemods


def dotted_name(node: cst.CSTNode) -> str | None:
    """`a.b.c` for a name or attribute chain, None for any other expression."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        owner = dotted_name(node.value)
        return None if owner is None else f"{owner}.{node.attr.value}"
    return None


def _fix_channels(call: cst.Call, finding: Finding):
    hint = finding.fix or {}
    value, declared, param = hint.get("value"), hint.get("declared"), hint.get("param")
    if not _is_int(value) or not _is_int(declared) or value <= 0 or not param:
        return None
    if _callee_name(call) != hint.get("kind"):
        return None
    index, arg = _find_arg(call, param, hint.get("position"))
    if arg is None or not isinstance(arg.value, cst.Integer) or arg.value.evaluated_value != declared:
        return None
    args = list(call.args)
    args[index] = arg.with_changes(value=cst.Integer(str(value)))
    return call.with_changes(args=args), f"Set {param}={value}"


def _fix_flatten(call: cst.Call, finding: Finding):
    name = _callee_name(call)
    if name == "flatten":
        function_form = isinstance(call.func, cst.Name) or dotted_name(call.func.value) == "torch"
        first = 1 if function_form else 0  # torch.flatten(x, start_dim) / x.flatten(start_dim)
        if any(a.star for a in call.args) or len(call.args) < first:
            return None
        index, arg = _find_arg(call, "start_dim", first)
        if arg is None:
            if len(call.args) != first:
                return None
            return _append_arg(call, cst.Arg(cst.Integer("1"))), "Flatten from dim 1 (keep the batch)"
        if isinstance(arg.value, cst.Integer) and arg.value.evaluated_value == 0:
            args = list(call.args)
            args[index] = arg.with_changes(value=cst.Integer("1"))
            return call.with_changes(args=args), "Flatten from dim 1 (keep the batch)"
        return None
    if name == "Flatten":  # nn.Flatten(start_dim=0)
        index, arg = _find_arg(call, "start_dim", 0)
        if arg is None or not isinstance(arg.value, cst.Integer) or arg.value.evaluated_value != 0:
            return None
        if len(call.args) == 1:
            return call.with_changes(args=[]), "Use nn.Flatten()"
        args = list(call.args)
        args[index] = arg.with_changes(value=cst.Integer("1"))
        return call.with_changes(args=args), "Flatten from dim 1 (keep the batch)"
    if name in ("view", "reshape") and isinstance(call.func, cst.Attribute):
        receiver = call.func.value
        args = list(call.args)
        if dotted_name(receiver) is None or len(args) != 2 or any(a.keyword or a.star for a in args):
            return None
        if not _is_minus_one(args[0].value) or not isinstance(args[1].value, cst.Integer):
            return None
        size = cst.Call(
            func=cst.Attribute(value=receiver, attr=cst.Name("size")), args=[cst.Arg(cst.Integer("0"))]
        )
        args = [args[0].with_changes(value=size), args[1].with_changes(value=args[0].value)]
        return call.with_changes(args=args), f"Use {name}({dotted_name(receiver)}.size(0), -1)"
    return None


def _fix_bias(call: cst.Call, finding: Finding):
    if not L.is_convolution(_callee_name(call) or "") or any(a.star for a in call.args):
        return None
    index, arg = _find_arg(call, "bias", 7)  # bias is the 8th parameter of Conv*d and ConvTranspose*d
    if arg is None:
        false = cst.Arg(
            cst.Name("False"),
            keyword=cst.Name("bias"),
            equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")),
        )
        return _append_arg(call, false), "Set bias=False"
    if isinstance(arg.value, cst.Name) and arg.value.value == "True":
        args = list(call.args)
        args[index] = arg.with_changes(value=cst.Name("False"))
        return call.with_changes(args=args), "Set bias=False"
    return None


# --------------------------------------------------------------------------- CST helpers


def _find_arg(call: cst.Call, keyword: str, position: int | None) -> tuple[int, cst.Arg | None]:
    for index, arg in enumerate(call.args):
        if arg.keyword is not None and arg.keyword.value == keyword:
            return index, arg
    if position is None:
        return -1, None
    positional = []
    for index, arg in enumerate(call.args):
        if arg.star:
            return -1, None  # *args: positions are unknown
        if arg.keyword is None:
            positional.append(index)
    if position < len(positional):
        return positional[position], call.args[positional[position]]
    return -1, None


def _append_arg(call: cst.Call, new: cst.Arg) -> cst.Call:
    """Add an argument after the last one, separated as the others are; a trailing comma stays last."""
    args = list(call.args)
    if not args:
        return call.with_changes(args=[new])
    last = args[-1]
    separator = args[-2].comma if len(args) >= 2 and isinstance(args[-2].comma, cst.Comma) else None
    if separator is None:
        separator = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    trailing = last.comma
    args[-1] = last.with_changes(comma=separator)
    if isinstance(trailing, cst.Comma):
        new = new.with_changes(comma=trailing)
    args.append(new)
    return call.with_changes(args=args)


def _callee_name(call: cst.Call) -> str | None:
    if isinstance(call.func, cst.Name):
        return call.func.value
    if isinstance(call.func, cst.Attribute):
        return call.func.attr.value
    return None


def _is_minus_one(node: cst.CSTNode) -> bool:
    return (
        isinstance(node, cst.UnaryOperation)
        and isinstance(node.operator, cst.Minus)
        and isinstance(node.expression, cst.Integer)
        and node.expression.evaluated_value == 1
    )


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --------------------------------------------------------------------------- the command line


def fix_paths(paths, select, input_shape=None, write: bool = True, out=None, err=None, settings=None) -> int:
    """`check --fix` (write) / `check --diff` (print the diff to `out`): the number of files changed.
    `settings` (a config.Settings): each file's selection and excludes, replacing `select`."""
    from .files import discover

    changed = fixed = 0
    for path in discover(paths):
        if settings is not None:
            file = settings.for_file(path)
            if file.excluded:
                continue
            select = file.select
        try:
            raw = open(path, "rb").read()
        except OSError:
            continue  # `check` reports the file as unreadable
        done = fix_file(raw, str(path), select, input_shape)
        if done is None:
            continue
        new_raw, diff, count = done
        changed += 1
        fixed += count
        if write:
            with open(path, "wb") as handle:
                handle.write(new_raw)
        elif out is not None:
            out.write(diff)
    if err is not None and write and fixed:
        err.write(f"Fixed {fixed} finding{'s' if fixed != 1 else ''} in {changed} file{'s' if changed != 1 else ''}.\n")
    return changed


def fix_file(raw: bytes, path: str, select, input_shape=None) -> tuple[bytes, str, int] | None:
    """(the fixed file's bytes, its unified diff, the number of findings fixed), or None when
    nothing changes. A notebook's fixes edit only its cells' sources (the diff is per cell)."""
    from .notebooks import Notebook, is_notebook, read_notebook

    if is_notebook(path):
        notebook = read_notebook(raw, path)
        if not isinstance(notebook, Notebook):
            return None
        source = notebook.python.decode("utf-8")
    else:
        notebook = None
        try:
            source = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if "torch" not in source:
        return None
    result = fix_source(source, path, input_shape, select)
    if not result.changed:
        return None
    if notebook is None:
        return result.source.encode("utf-8"), unified_diff(path, source, result.source), len(result.fixed)
    sources = notebook.sources_after(result.source)
    if not sources:
        return None  # an edit across cells, which a fix never makes: leave the notebook alone
    cells = {cell.number: cell.text for cell in notebook.cells}
    diff = "".join(
        unified_diff(f"{path}:cell {number}", _ended(cells[number]), _ended(text)) for number, text in sources.items()
    )
    return notebook.with_sources(sources), diff, len(result.fixed)


def _ended(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


def fix_stdin(stdin: tuple[str, bytes], settings, input_shape, args, out, err) -> int:
    """`check - --diff`: the diff on `out`; `check - --fix`: the fixed text on `out` (what an editor
    pipes back), the findings that remain on `err`. The exit status of `check`."""
    from . import report
    from .runner import lint_paths

    path, raw = stdin
    file = settings.for_file(path)
    done = None if file.excluded else fix_file(raw, path, file.select, input_shape)
    if args.diff:
        if done is not None:
            out.write(done[1])
        return 1 if done is not None else 0
    fixed = done[0] if done is not None else raw
    out.flush()
    if hasattr(out, "buffer"):
        out.buffer.write(fixed)  # the bytes as they are: no re-encoding for the terminal
        out.buffer.flush()
    else:
        out.write(fixed.decode("utf-8", "replace"))
    result = lint_paths([], set(), input_shape, settings=settings, stdin=(path, fixed))
    if result.findings and not args.quiet:
        report.text(result.findings, result.files, err)
    if any(f.name == "internal-error" for f in result.findings):
        return 2
    return 1 if result.failing else 0
