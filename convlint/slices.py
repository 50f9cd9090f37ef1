"""The part of a sibling file that one imported name needs.

`from ..utils import _log_api_usage_once` should not cost the interpretation of all of
`utils.py` (34 kB in torchvision, more than the linted file itself). The file's top-level
statements say which names each binds and reads; `Plan.take(name)` gives the statements `name`
depends on, transitively, that have not been taken yet, in file order, for the interpreter to
run. Over-approximate by design: a statement is taken when it binds a needed name, and a plain
statement (not a def, class or import) also when it merely mentions a needed name that is not
a module (`BLOCKS.append(...)`, `CFG["depth"] = 4` change it).

A large literal (`_IMAGENET_CATEGORIES = ["tench", ...]`, 17 kB of torchvision's `_meta.py`) is
not interpreted at all: `ast.literal_eval` gives its value, which the interpreter binds before
it runs the statements taken with it, as it would have bound it running them.
"""

from __future__ import annotations

import ast
import re

from .syntax import first_line

MIN_BYTES = 4_000  # a smaller sibling is run whole: slicing it would save next to nothing
LITERAL_BYTES = 1_000  # a literal assignment this large is evaluated by ast.literal_eval, not interpreted
LITERAL_TYPES = (str, int, float, bool, type(None))  # in lists, tuples and dicts: what the interpreter's literals are
STAR = "*"  # what a unit of `from module import *` binds, for the plan
IDENTIFIER = re.compile(rb"[^\W\d]\w*")
_STRING = rb"""(?P<prefix>[rRbBuUfF]{1,2})?(?P<string>""" + b"|".join(
    (
        rb'"""(?:[^\\]|\\.)*?"""',
        rb"'''(?:[^\\]|\\.)*?'''",
        rb'"(?:[^"\\\r\n]|\\.)*"',
        rb"'(?:[^'\\\r\n]|\\.)*'",
    )
) + rb")"
# what a statement's text reads: the names outside strings (f-strings aside) and comments, not after a dot
TOKENS = re.compile(_STRING + rb"|\#[^\r\n]*|(?<![.\w])(?P<name>[^\W\d]\w*)", re.DOTALL)


class _Unit:
    """One top-level statement (or several sharing lines, `a = 1; b = 2`)."""

    __slots__ = ("binds", "end", "literal", "plain", "reads", "start", "stmts")

    def __init__(self, stmt: ast.stmt, start: int, end: int, binds: set[str], plain: bool) -> None:
        self.stmts = [stmt]
        self.start, self.end, self.binds, self.plain = start, end, binds, plain
        self.reads: set[str] | None = None  # read from its lines when first needed (Plan.reads)
        self.literal: tuple[str, ast.expr] | None = None  # (name, value) of a large `NAME = <literal>`


class Plan:
    def __init__(self, units: list[_Unit], modules: set[str], lines: list[bytes]) -> None:
        self.units = units
        self.lines = lines
        self.modules = modules  # names bound by imports only: reading them changes nothing
        self.taken: set[int] = set()
        # name -> the units that bind it, and the plain units that read it (a module name aside)
        self.binders: dict[str, list[int]] = {}
        self.readers: dict[str, list[int]] = {}
        for index, unit in enumerate(units):
            for name in unit.binds:
                self.binders.setdefault(name, []).append(index)
            if unit.plain:
                for name in self.reads(unit) - modules:
                    self.readers.setdefault(name, []).append(index)

    def take(self, name: str | None) -> tuple[list[ast.stmt], dict]:
        """(the statements `name` needs (None: all of them) not taken before, in file order;
        the values of the large literals among them, by name)."""
        chosen = set(range(len(self.units))) - self.taken if name is None else self._needed(name)
        self.taken |= chosen
        stmts: list[ast.stmt] = []
        literals = {}
        for index in sorted(chosen):
            unit = self.units[index]
            value = _literal(unit.literal[1]) if unit.literal is not None else _NOT_LITERAL
            if value is not _NOT_LITERAL:
                literals[unit.literal[0]] = value
            else:
                stmts.extend(unit.stmts)
        return stmts, literals

    def reads(self, unit: _Unit) -> set[str]:
        """The names a unit's text may read; a def's or class's only once a needed name leads to it
        (most of a large sibling's are never asked for)."""
        if unit.reads is None:
            unit.reads = _reads(b"".join(self.lines[unit.start - 1 : unit.end]))
        return unit.reads

    def _needed(self, name: str) -> set[int]:
        """The units not taken yet that bind a needed name or, plain, read one; what they read is
        needed in turn. What a star import binds is not listed here: it is always needed."""
        needed = {name, STAR}
        pending = [name, STAR]
        chosen: set[int] = set()
        while pending:
            wanted = pending.pop()
            for index in (*self.binders.get(wanted, ()), *self.readers.get(wanted, ())):
                if index in chosen or index in self.taken:
                    continue
                chosen.add(index)
                fresh = self.reads(self.units[index]) - needed
                needed |= fresh
                pending.extend(fresh)
        return chosen


def plan(tree: ast.Module, source: bytes) -> Plan | None:
    """How to take the statements of `tree`, parsed from `source`; None when the file is small."""
    if len(source) < MIN_BYTES:
        return None
    lines = source.splitlines(keepends=True)
    units: list[_Unit] = []
    modules: set[str] = set()
    others: set[str] = set()
    bound: set[str] = set()  # names bound by the statements before
    for stmt in tree.body:
        start = first_line(stmt)
        end = stmt.end_lineno or stmt.lineno
        binds = statement_binds(stmt)
        if isinstance(stmt, ast.ImportFrom) and stmt.names[0].name == "*":
            binds = {STAR}
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            modules |= binds
        else:
            others |= binds
        plain = not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom))
        if units and start <= units[-1].end:  # shares a line with the statement before
            last = units[-1]
            last.end, last.plain = max(last.end, end), last.plain or plain
            last.binds |= binds
            last.stmts.append(stmt)
            last.literal = None
        else:
            units.append(_Unit(stmt, start, end, binds, plain))
            target = stmt.targets[0] if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 else None
            if (isinstance(target, ast.Name) and target.id not in bound
                    and sum(map(len, lines[start - 1 : end])) >= LITERAL_BYTES):
                units[-1].literal = (target.id, stmt.value)  # bound here first: it may be bound before the rest runs
        bound |= binds
    return Plan(units, modules - others, lines)


_NOT_LITERAL = object()


def _literal(node: ast.expr):
    """The value of a literal of lists, tuples, dicts, strings and numbers, else _NOT_LITERAL."""
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _NOT_LITERAL
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif not isinstance(item, LITERAL_TYPES):
            return _NOT_LITERAL  # sets, bytes, complex: left to the interpreter
    return value


def _reads(text: bytes) -> set[str]:
    """Every name the text may read: its identifiers outside strings and comments, not after
    a dot (attributes), and every identifier inside an f-string."""
    words: set[bytes] = set()
    for match in TOKENS.finditer(text):
        name = match.group("name")
        if name is not None:
            words.add(name)
        elif match.group("prefix") and b"f" in match.group("prefix").lower():
            words.update(IDENTIFIER.findall(match.group("string")))
    return {word.decode("utf-8", "replace") for word in words}


_SCOPES = (
    ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp,
)
_SIMPLE = (ast.Expr, ast.Pass, ast.Return, ast.Raise, ast.Assert, ast.Global, ast.Nonlocal, ast.Break, ast.Continue)


def statement_binds(stmt: ast.stmt) -> set[str]:
    """The names a top-level statement binds or changes at module level. (What it reads is
    every identifier in its text, in function bodies, attribute names and strings too: more
    than it needs, never less.)"""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    if isinstance(stmt, _SIMPLE):
        return set()
    binds: set[str] = set()
    roots: list[ast.AST] = stmt.targets if isinstance(stmt, ast.Assign) else [stmt]
    if isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        roots = [stmt.target]
    stack = list(roots)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name):
            if not isinstance(node.ctx, ast.Load):
                binds.add(node.id)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            binds.update(a.asname or a.name.split(".")[0] for a in node.names if a.name != "*")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            binds.add(node.name)  # under an `if` or `try` at module level; its body is its own
            continue
        elif isinstance(node, _SCOPES):
            continue
        elif isinstance(node, (ast.Attribute, ast.Subscript)) and not isinstance(node.ctx, ast.Load):
            root = node.value
            while isinstance(root, (ast.Attribute, ast.Subscript)):
                root = root.value
            if isinstance(root, ast.Name):
                binds.add(root.id)  # `CFG["depth"] = 4` changes CFG
        stack.extend(ast.iter_child_nodes(node))
    return binds
