"""Reading Python source: the tree, its lines, its `# convlint: input=` comments, and walking it.

The bottom of the house: every other module may import it, and it imports nothing of convlint.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

MAX_SOURCE_BYTES = 2 * 1024 * 1024  # the largest file of the corpus is 0.33 MB; beyond this it is generated code

DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)
DEFINITIONS = (*DEFS, ast.ClassDef)

INPUT_COMMENT = re.compile(r"\s*#\s*convlint:\s*input\s*=\s*(\d+(?:\s*[x×]\s*\d+)*)\s*$")
NEWLINE = re.compile(r"\r\n?|\n")  # the line ends CPython's tokenizer counts


@dataclass(frozen=True)
class Unparsable:
    """Why a file has no tree: `check` is the name of the check that reports it."""

    check: str  # "unreadable-file" or "syntax-error"
    message: str
    line: int = 1
    column: int = 1


_TREES: dict[str, tuple[bytes, ast.Module | Unparsable]] = {}  # path -> (source, tree), the latest last
KEPT_TREES = 64


def parse(source: bytes, path: str) -> ast.Module | Unparsable:
    """The file's tree, or why there is none. The latest trees are kept by path and source: a
    file linted is often also read as another file's import, in the same process (nothing
    changes a tree)."""
    key = os.path.realpath(path)
    kept = _TREES.pop(key, None)
    if kept is None or kept[0] != source:
        kept = (source, _parse(source, path))
        if len(_TREES) >= KEPT_TREES:
            del _TREES[next(iter(_TREES))]
    _TREES[key] = kept
    return kept[1]


def _parse(source: bytes, path: str) -> ast.Module | Unparsable:
    if len(source) > MAX_SOURCE_BYTES:
        size = len(source) / (1024 * 1024)
        return Unparsable(
            "unreadable-file",
            f"larger than {MAX_SOURCE_BYTES // (1024 * 1024)} MB ({size:.1f} MB): not analysed (exclude generated files)",
        )
    from importlib.util import decode_source

    try:
        text = decode_source(source)  # as Python reads a file: BOM, coding cookie, universal newlines
    except (UnicodeDecodeError, LookupError, SyntaxError) as error:
        return Unparsable("unreadable-file", f"cannot decode the file: {error}")
    try:
        return ast.parse(text, path)
    except SyntaxError as error:
        line, column = max(error.lineno or 1, 1), max(error.offset or 1, 1)
        return Unparsable("syntax-error", f"invalid syntax: {error.msg}", line, column)
    except ValueError as error:  # NUL bytes
        return Unparsable("syntax-error", f"invalid syntax: {error}")
    except (RecursionError, MemoryError):
        return Unparsable("syntax-error", "the file nests too deeply for the parser")


def source_lines(source: bytes) -> list[str]:
    """The file's lines as the parser numbered them (decoded as Python decodes source)."""
    from importlib.util import decode_source

    try:
        text = decode_source(source)
    except (SyntaxError, UnicodeDecodeError, LookupError):
        text = source.decode("utf-8", "replace")
    return NEWLINE.split(text)


def parse_input_size(text: str) -> tuple[int, ...] | None:
    """'3x224x224' -> (3, 224, 224); None for anything else."""
    parts = re.split(r"\s*[x×]\s*", text.strip())
    if not all(p.isdigit() for p in parts) or not 1 <= len(parts) <= 4:
        return None
    dims = tuple(int(p) for p in parts)
    return dims if all(d > 0 for d in dims) else None


def input_comments(source: bytes | None) -> dict[int, tuple[int, ...] | None]:
    """Line -> size of each `# convlint: input=...` comment line: it declares the input of the
    statement right below it."""
    if source is None or b"convlint" not in source:
        return {}
    found = {}
    for number, line in enumerate(source_lines(source), 1):
        match = INPUT_COMMENT.match(line.lstrip())
        if match:
            found[number] = parse_input_size(match.group(1))
    return found


def declared_input(stmt: ast.stmt, comments: dict[int, tuple[int, ...] | None]) -> tuple[int, ...] | None:
    """The size a `# convlint: input=` comment declares for the model `stmt` defines: on the line
    above it, or, for a function (`def build():`), above a statement of its body (`model = Net()`)."""
    if not comments:
        return None
    found = comments.get(first_line(stmt) - 1)
    if found is None and type(stmt) in DEFS:
        for inner in (node for body in stmt.body for node in walk(body, prune=DEFINITIONS)):
            if isinstance(inner, ast.stmt):
                found = comments.get(first_line(inner) - 1)
                if found is not None:
                    break
    return found


MAX_EXAMPLE_LINES = 20  # the longest documented call followed
_PROMPT = re.compile(r"^\s*(?:>>>|\.\.\.)(?: |$)")


def documented_calls(cls: ast.ClassDef) -> list[ast.Call]:
    """The calls of the class that its own documentation shows (its docstring's or its __init__'s:
    `>>> net = ViT(in_channels=1, img_size=(96, 96, 96))`, an `Examples::` block), each of literal
    arguments only, with the lines and columns of the file (the docstring's text is the file's
    there), the class called by its bare name; in the order written, each once."""
    found, seen = [], set()
    init = next((s for s in cls.body if isinstance(s, DEFS) and s.name == "__init__"), None)
    for owner in (cls, init):
        doc = docstring(owner)
        if doc is None:
            continue
        text = doc.value.value
        if cls.name not in text or doc.value.end_lineno - doc.value.lineno != text.count("\n"):
            continue  # a docstring whose lines are not the file's (escaped line ends): not read
        lines = text.split("\n")
        call_at = re.compile(r"(?<![\w.])(?:\w+\.)*" + re.escape(cls.name) + r"\(")
        for number, line in enumerate(lines):
            for match in call_at.finditer(line):
                call = _call_from(lines, number, match.start())
                if call is None or not _literal_arguments(call):
                    continue
                key = ast.dump(call)
                if key in seen:
                    continue
                seen.add(key)
                column = match.start() + (doc.value.col_offset + 3 if number == 0 else 0)
                for node in ast.walk(call):
                    if hasattr(node, "lineno"):
                        if node.lineno == 1:
                            node.col_offset += column
                            if getattr(node, "end_lineno", None) == 1:
                                node.end_col_offset += column
                        node.lineno += doc.value.lineno + number - 1
                        node.end_lineno = (node.end_lineno or 1) + doc.value.lineno + number - 1
                call.func = ast.copy_location(ast.Name(cls.name, ast.Load()), call.func)
                found.append(call)
    return found


def docstring(owner: ast.AST | None) -> ast.Expr | None:
    """The docstring statement of a class or function (its value a str constant), if it has one."""
    doc = owner.body[0] if owner is not None and owner.body else None
    if isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant) and isinstance(doc.value.value, str):
        return doc
    return None


def doctest_statements(cls: ast.ClassDef) -> list[ast.stmt] | None:
    """The statements of the class docstring's doctest example (`>>>` and `...` lines), each at
    its line of the file (the other lines of the docstring blank); None: none, or not Python."""
    doc = docstring(cls)
    if doc is None or ">>>" not in doc.value.value:
        return None
    lines = []
    for line in doc.value.value.splitlines():
        text = line.lstrip()
        lines.append(text[4:] if text.startswith((">>> ", "... ")) else "")
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return None
    ast.increment_lineno(tree, doc.value.lineno - 1)
    return tree.body


def _call_from(lines: list[str], number: int, start: int) -> ast.Call | None:
    """The call that begins at `start` of line `number`, its continuation lines without their
    doctest prompts; None when no expression ends within MAX_EXAMPLE_LINES lines."""
    text = lines[number][start:]
    for following in range(number + 1, min(len(lines), number + MAX_EXAMPLE_LINES) + 1):
        try:
            expression = ast.parse(text, mode="eval").body
        except (SyntaxError, ValueError):
            if following == len(lines):
                return None
            text += "\n" + _PROMPT.sub("", lines[following])
            continue
        return expression if type(expression) is ast.Call else None
    return None


def _literal_arguments(call: ast.Call) -> bool:
    """Every argument a literal (`(96, 96, 96)`, `'conv'`, `-1`, `{"num_groups": 4}`), none unpacked."""
    try:
        for value in [*call.args, *(k.value for k in call.keywords)]:
            ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return all(type(a) is not ast.Starred for a in call.args) and all(k.arg is not None for k in call.keywords)


def first_line(stmt: ast.stmt) -> int:
    """Where a statement starts, its decorators included."""
    return min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", ()))])


def dotted_name(node: ast.AST) -> str | None:
    """`a.b.c` for a name or attribute chain, None for any other expression."""
    kind = type(node)
    if kind is ast.Name:
        return node.id
    if kind is ast.Attribute:
        owner = dotted_name(node.value)
        return None if owner is None else f"{owner}.{node.attr}"
    return None


def walk(node: ast.AST, prune: tuple[type, ...] = ()) -> Iterator[ast.AST]:
    """Every node under `node`, in source order (ast.walk goes breadth first), not looking
    inside `prune` nodes (exact classes)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if type(current) in prune:
            continue
        for name in reversed(current._fields):  # pushed last to first, so that the first is popped first
            value = getattr(current, name, None)
            if type(value) is list:
                for item in reversed(value):
                    if isinstance(item, ast.AST):
                        stack.append(item)
            elif isinstance(value, ast.AST):
                stack.append(value)
