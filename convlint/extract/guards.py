"""Guards that state a tensor's rank by raising otherwise: past `if t.ndim != 1: raise ValueError(...)`
or `assert x.dim() == 4`, the tensor has that rank whatever it was given (as mypy narrows a type
past an isinstance check). A guard whose test is decided changes nothing: the branch runs as it is."""

from __future__ import annotations

import ast

RANK_READS = {"ndim"}  # t.ndim
RANK_CALLS = {"dim", "ndimension"}  # t.dim()


def _rank_of(node: ast.expr) -> ast.Name | None:
    """The tensor named in `t.ndim`, `t.dim()`, `t.ndimension()` or `len(t.shape)` / `len(t.size())`."""
    if type(node) is ast.Attribute and node.attr in RANK_READS and type(node.value) is ast.Name:
        return node.value
    if type(node) is not ast.Call or node.keywords:
        return None
    func = node.func
    if type(func) is ast.Attribute and func.attr in RANK_CALLS and not node.args and type(func.value) is ast.Name:
        return func.value
    if type(func) is ast.Name and func.id == "len" and len(node.args) == 1:
        inner = node.args[0]
        if type(inner) is ast.Attribute and inner.attr == "shape" and type(inner.value) is ast.Name:
            return inner.value
        if type(inner) is ast.Call and type(inner.func) is ast.Attribute and inner.func.attr == "size" \
                and not inner.args and not inner.keywords and type(inner.func.value) is ast.Name:
            return inner.func.value
    return None


def stated_rank(test: ast.expr, holds: bool) -> tuple[ast.Name, int] | None:
    """The tensor (its name) and the rank it has when `test` is `holds`: `t.ndim == k` true, or
    `t.ndim != k` false (and `not` of either); None when the test states no one rank."""
    if type(test) is ast.UnaryOp and type(test.op) is ast.Not:
        return stated_rank(test.operand, not holds)
    if type(test) is not ast.Compare or len(test.ops) != 1:
        return None
    op = type(test.ops[0])
    if op not in (ast.Eq, ast.NotEq) or holds != (op is ast.Eq):
        return None
    left, right = test.left, test.comparators[0]
    if type(left) is ast.Constant:
        left, right = right, left
    name = _rank_of(left)
    if name is None or type(right) is not ast.Constant or type(right.value) is not int or right.value < 1:
        return None
    return name, right.value


def raising_guard(stmt: ast.If) -> tuple[ast.Name, int] | None:
    """`if t.ndim != k: raise ...` with no else: the rank it states for what follows."""
    if stmt.orelse or len(stmt.body) != 1 or type(stmt.body[0]) is not ast.Raise:
        return None
    return stated_rank(stmt.test, False)
