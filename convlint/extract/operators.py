"""Operators: arithmetic on numbers, lists, strings and tensors (an elementwise op, a broadcast),
`not`, `and`/`or` with Python's short circuit, comparisons and identity."""

from __future__ import annotations

import ast
from typing import Any

from ..graph import SizeOf, is_batch, is_read_size
from ..sizes import UNKNOWN
from .state import MAX_UNROLL
from .values import (
    Builtin, ClassInfo, ConstTensor, EnumMember, Env, Function, ListVal, Qual, int_value, is_tensor, known, numeric,
)

COMPARISONS = {
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
}

SIZE_ARITHMETIC = {"Add": "+", "Subtract": "-", "Multiply": "*", "FloorDivide": "//", "Modulo": "%"}
_COMPARED = {ast.Eq: "eq", ast.NotEq: "ne", ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge"}

OPERATORS = {
    ast.Add: "Add", ast.Sub: "Subtract", ast.Mult: "Multiply", ast.Div: "Divide", ast.FloorDiv: "FloorDivide",
    ast.Mod: "Modulo", ast.Pow: "Power", ast.MatMult: "MatMul",
}


def operator_name(op: ast.operator) -> str:
    """The operator's name in findings and ops: "Add", "Subtract", ... ("" for the rest)."""
    return OPERATORS.get(type(op), "")


class Operators:
    """Operators (a mixin of the Extractor)."""

    def binary(self, op: str, left: Any, right: Any, node: ast.AST) -> Any:
        if op == "Multiply" and is_batch(left) != is_batch(right):
            # `b * n` with b = x.size(0): a reshape to it folds n rows per sample into the batch
            batch, other = (left, right) if is_batch(left) else (right, left)
            return SizeOf("*", batch, other) if int_value(other) and other > 0 or is_read_size(other) else UNKNOWN
        if (is_read_size(left) or is_read_size(right)) and op in SIZE_ARITHMETIC:
            # `c * h * w`, `h // 2` over sizes read from tensors: resolved with them in propagation
            if all(is_read_size(v) or int_value(v) for v in (left, right)):
                return SizeOf(SIZE_ARITHMETIC[op], left, right)
            return UNKNOWN
        if op == "MatMul" and (is_tensor(left) or is_tensor(right)):
            return self.matmul("@", left, right, node)
        if is_tensor(left) or is_tensor(right):
            if op in ("Add", "Subtract", "Multiply", "Divide") and is_tensor(left) and is_tensor(right):
                return self.emit("elementwise", (left.value, right.value), node, op=op)
            other = right if is_tensor(left) else left
            tensor = left if is_tensor(left) else right
            if isinstance(other, (int, float)) and not isinstance(other, bool):
                return tensor  # a scalar broadcasts: the shape is kept
            if isinstance(other, ConstTensor) and op in ("Add", "Subtract", "Multiply", "Divide"):
                return self.emit("broadcast", (tensor.value,), node, const=other.shape, op=op)
            return self.emit("unknown", (tensor.value,), node)
        if isinstance(left, ConstTensor) or isinstance(right, ConstTensor):
            other = right if isinstance(left, ConstTensor) else left
            const = left if isinstance(left, ConstTensor) else right
            if numeric(other) and op in ("Add", "Subtract", "Multiply", "Divide"):
                return const  # a scalar broadcasts: the shape is kept
            return UNKNOWN
        if op == "Add":
            if isinstance(left, ListVal) and isinstance(right, ListVal) and not (left.lost or right.lost):
                return ListVal(left.items + right.items)
            if isinstance(left, tuple) and isinstance(right, tuple):
                return left + right
        if op == "Multiply" and isinstance(left, ListVal) and not left.lost and isinstance(right, int) and 0 <= right <= MAX_UNROLL:
            return ListVal(left.items * right)
        if not (numeric(left) and numeric(right)):
            if isinstance(left, str) and op == "Modulo" and known(right):
                try:
                    return left % right
                except (TypeError, ValueError, KeyError):
                    return UNKNOWN
            if isinstance(left, str) and isinstance(right, str) and op == "Add":
                return left + right
            return UNKNOWN
        try:
            if op == "Add":
                return left + right
            if op == "Subtract":
                return left - right
            if op == "Multiply":
                return left * right
            if op == "FloorDivide":
                return left // right
            if op == "Divide":
                return left / right
            if op == "Modulo":
                return left % right
            if op == "Power":
                if abs(right) > 64 or abs(left) > 2**32:
                    return UNKNOWN
                return left**right
        except (ZeroDivisionError, OverflowError, ValueError, TypeError):
            return UNKNOWN
        return UNKNOWN

    def unary(self, node: ast.UnaryOp, value: Any) -> Any:
        kind = type(node.op)
        if kind is ast.Not:
            truth = self.truth(value)
            return UNKNOWN if truth is None else not truth
        if numeric(value):
            if kind is ast.USub:
                return -value
            if kind is ast.UAdd:
                return +value
        if is_tensor(value):
            return value
        return UNKNOWN

    def boolean(self, node: ast.BoolOp, env: Env) -> Any:
        is_and = type(node.op) is ast.And
        value = self.ev(node.values[0], env)
        for operand in node.values[1:]:
            truth = self.truth(value)
            if truth is None:
                return UNKNOWN
            if truth != is_and:  # `False and ...` / `True or ...`
                return value
            value = self.ev(operand, env)
        return value

    def compare(self, node: ast.Compare, env: Env) -> Any:
        left = self.ev(node.left, env)
        for op, comparator in zip(node.ops, node.comparators):
            right = self.ev(comparator, env)
            kind = type(op)
            if (is_tensor(left) or is_tensor(right)) and kind in COMPARISONS and len(node.ops) == 1 \
                    and all(is_tensor(v) or numeric(v) for v in (left, right)):
                # `x > 0`, `a == b`: elementwise (torch's gt, eq...), a mask of the broadcast shape
                if is_tensor(left) and is_tensor(right):
                    return self.emit("elementwise", (left.value, right.value), node, op=_COMPARED[kind])
                return left if is_tensor(left) else right
            if kind is ast.Is or kind is ast.IsNot:
                if left is UNKNOWN or right is UNKNOWN:
                    return UNKNOWN
                if right is None or left is None:
                    result = left is right
                elif isinstance(left, Qual) and isinstance(right, Qual):
                    result = left == right
                elif isinstance(left, (ClassInfo, Function)) and isinstance(right, (ClassInfo, Function, Qual)):
                    result = left is right
                elif isinstance(left, (ClassInfo, Builtin)) and isinstance(right, (ClassInfo, Builtin)):
                    result = left == right  # `type(obj) is str`: a class we read is never a builtin type
                elif isinstance(left, EnumMember) or isinstance(right, EnumMember):
                    if not all(isinstance(v, EnumMember) or known(v) for v in (left, right)):
                        return UNKNOWN
                    result = left is right
                elif known(left) and known(right):
                    result = left == right
                else:
                    result = False if (left is None) != (right is None) else UNKNOWN
                    if result is UNKNOWN:
                        return UNKNOWN
                if kind is ast.IsNot:
                    result = not result
            elif kind is ast.In or kind is ast.NotIn:
                items = self.iterate(right)
                if not known(left) or items is None or not all(known(i) for i in items):
                    return UNKNOWN
                result = left in items
                if kind is ast.NotIn:
                    result = not result
            else:
                if not (known(left) and known(right)):
                    return UNKNOWN
                try:
                    result = COMPARISONS[kind](left, right)
                except (TypeError, KeyError):
                    return UNKNOWN
            if not result:
                return False
            left = right
        return True
