"""Operators: arithmetic on numbers, lists, strings and tensors (an elementwise op, a broadcast),
`not`, `and`/`or` with Python's short circuit, comparisons and identity."""

from __future__ import annotations

import ast
from typing import Any

from ..graph import SizeOf, is_batch, is_read_size
from ..sizes import UNKNOWN
from . import arrays, fixed, sized, valued
from .kinds import is_class_or_function, same_class, torch_has
from .state import MAX_UNROLL
from .values import (
    SOME_NUMBER, ArrayVal, Builtin, ClassInfo, ConstTensor, DictVal, EnumMember, Env, Function, ListVal, NamesOf, Qual,
    SetVal, SizedTensor, ValuedTensor, int_value, is_tensor, known, numeric,
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
_INTS_AND_STRS = (int, str)  # exact types: a bool or an int subclass goes the long way
_COMPARED = {ast.Eq: "eq", ast.NotEq: "ne", ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge"}

OPERATORS = {
    ast.Add: "Add", ast.Sub: "Subtract", ast.Mult: "Multiply", ast.Div: "Divide", ast.FloorDiv: "FloorDivide",
    ast.Mod: "Modulo", ast.Pow: "Power", ast.MatMult: "MatMul",
}


NUMBER_ARITHMETIC = {"Add", "Subtract", "Multiply", "Divide", "FloorDivide", "Power"}


def _number(value: Any) -> bool:
    """A Python number, known or not (a size read off a tensor, arithmetic over one)."""
    return numeric(value) or value is SOME_NUMBER or is_read_size(value)


def operator_name(op: ast.operator) -> str:
    """The operator's name in findings and ops: "Add", "Subtract", ... ("" for the rest)."""
    return OPERATORS.get(type(op), "")


def _boolean_node(node: ast.AST) -> bool:
    """An expression whose value is a bool (or a tensor that torch makes one of in a test)."""
    return type(node) is ast.Compare or type(node) is ast.UnaryOp and type(node.op) is ast.Not


class Operators:
    """Operators (a mixin of the Extractor)."""

    def binary(self, op: str, left: Any, right: Any, node: ast.AST) -> Any:
        if op == "Multiply" and is_batch(left) != is_batch(right):
            # `b * n` with b = x.size(0): a reshape to it folds n rows per sample into the batch
            batch, other = (left, right) if is_batch(left) else (right, left)
            return SizeOf("*", batch, other) if int_value(other) and other > 0 or is_read_size(other) else UNKNOWN
        if op == "FloorDivide" and is_batch(left) and (int_value(right) and right > 0 or is_read_size(right)):
            # `b // windows` with b the batch of a tensor holding that many windows per sample: its samples
            return SizeOf("//", left, right)
        if (is_read_size(left) or is_read_size(right)) and op in SIZE_ARITHMETIC \
                and not (is_tensor(left) or is_tensor(right)):
            # `c * h * w`, `h // 2` over sizes read from tensors: resolved with them in propagation
            if all(is_read_size(v) or int_value(v) for v in (left, right)):
                return SizeOf(SIZE_ARITHMETIC[op], left, right)
            return SOME_NUMBER if all(_number(v) for v in (left, right)) else UNKNOWN
        if (left is SOME_NUMBER or right is SOME_NUMBER or is_read_size(left) or is_read_size(right)) \
                and op in NUMBER_ARITHMETIC and all(_number(v) for v in (left, right)):
            return SOME_NUMBER  # `(c // heads) ** -0.5`: a number, its value not followed
        if op == "MatMul" and (is_tensor(left) or is_tensor(right)):
            return self.matmul("@", left, right, node)
        if is_tensor(left) or is_tensor(right):
            if op in ("Add", "Subtract", "Multiply", "Divide") and is_tensor(left) and is_tensor(right):
                return self.emit("elementwise", (left.value, right.value), node, op=op)
            other = right if is_tensor(left) else left
            tensor = left if is_tensor(left) else right
            if _number(other):
                return tensor  # a scalar broadcasts: the shape is kept
            if isinstance(other, (ConstTensor, SizedTensor)) and op in ("Add", "Subtract", "Multiply", "Divide"):
                return self.emit("broadcast", (tensor.value,), node, const=other.shape, op=op)
            return self.emit("unknown", (tensor.value,), node)
        if isinstance(left, SizedTensor) or isinstance(right, SizedTensor):
            return sized.combine(left, right) if op in ("Add", "Subtract", "Multiply", "Divide") else UNKNOWN
        if isinstance(left, ConstTensor) and isinstance(right, ConstTensor) and left.shape and right.shape \
                and (left.shape != right.shape or not isinstance(left, ValuedTensor) and not isinstance(right, ValuedTensor)) \
                and op in ("Add", "Subtract", "Multiply", "Divide"):
            return fixed.broadcast(op, left, right)  # `c[:, :, None] - c[:, None, :]`: shapes only
        if isinstance(left, ValuedTensor) or isinstance(right, ValuedTensor):
            if op == "Divide" and isinstance(right, ValuedTensor) and numeric(left):
                return valued.reflected_divide(left, right)
            return valued.binary(op, left, right)
        if isinstance(left, ConstTensor) or isinstance(right, ConstTensor):
            other = right if isinstance(left, ConstTensor) else left
            const = left if isinstance(left, ConstTensor) else right
            if numeric(other) and op in ("Add", "Subtract", "Multiply", "Divide"):
                return const  # a scalar broadcasts: the shape is kept
            return UNKNOWN
        if (isinstance(left, ArrayVal) or isinstance(right, ArrayVal)) and op in arrays.ARITHMETIC:
            return arrays.elementwise(arrays.ARITHMETIC[op], left, right)
        if op == "Add":
            if isinstance(left, ListVal) and isinstance(right, ListVal) and not (left.lost or right.lost):
                return ListVal(left.items + right.items)
            if isinstance(left, tuple) and isinstance(right, tuple):
                return left + right
        if op == "Multiply" and isinstance(left, ListVal) and not left.lost and isinstance(right, int) and 0 <= right <= MAX_UNROLL:
            return ListVal(left.items * right)
        if op == "Multiply" and isinstance(left, tuple) and int_value(right) and 0 <= right * len(left) <= MAX_UNROLL:
            return left * right  # monai's `(value,) * spatial_dims`
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
        if isinstance(value, ValuedTensor) and kind is ast.USub:
            return valued.negate(value)
        if isinstance(value, ConstTensor) and kind in (ast.USub, ast.UAdd, ast.Invert):
            return ConstTensor(value.shape)  # `-torch.ones(1, c, 1, 1)`: the values change, the shape does not
        return UNKNOWN

    def boolean(self, node: ast.BoolOp, env: Env) -> Any:
        is_and = type(node.op) is ast.And
        value = self.ev(node.values[0], env)
        for index, operand in enumerate(node.values[1:], 1):
            truth = self.truth(value)
            if truth is None:
                return self.undecided_boolean(node, index, env)
            if truth != is_and:  # `False and ...` / `True or ...`
                return value
            value = self.ev(operand, env)
        return value

    def undecided_boolean(self, node: ast.BoolOp, index: int, env: Env) -> Any:
        """`drop_prob == 0. or not training` with the rate unknown and `training` False: True. The
        operands before `index` are undecided, those from it on run only if they are falsy (for
        `or`), so they may never run; when they are all comparisons or `not`s (each a bool) and a
        later one is the bool that decides (`True` for `or`, `False` for `and`), that is the value."""
        decisive = type(node.op) is ast.Or
        if not all(_boolean_node(operand) for operand in node.values[:index]):
            return UNKNOWN
        with self.speculation():
            for operand in node.values[index:]:
                if not _boolean_node(operand):
                    return UNKNOWN
                value = self.ev(operand, env)
                if value is decisive:
                    return value
        return UNKNOWN

    def compare(self, node: ast.Compare, env: Env) -> Any:
        left = self.ev(node.left, env)
        for op, comparator in zip(node.ops, node.comparators):
            right = self.ev(comparator, env)
            kind = type(op)
            if type(left) is type(right) and type(left) in _INTS_AND_STRS and kind in COMPARISONS:
                if not COMPARISONS[kind](left, right):  # `stride != 1`, `mode == "add"`: Python's own answer
                    return False
                left = right
                continue
            if (is_tensor(left) or is_tensor(right)) and kind in COMPARISONS and len(node.ops) == 1 \
                    and all(is_tensor(v) or numeric(v) for v in (left, right)):
                # `x > 0`, `a == b`: elementwise (torch's gt, eq...), a mask of the broadcast shape
                if is_tensor(left) and is_tensor(right):
                    return self.emit("elementwise", (left.value, right.value), node, op=_COMPARED[kind])
                return left if is_tensor(left) else right
            if (isinstance(left, SizedTensor) or isinstance(right, SizedTensor)) and kind in COMPARISONS \
                    and len(node.ops) == 1 and not (is_tensor(left) or is_tensor(right)):
                return sized.combine(left, right)  # `mask != 0`: elementwise, a mask of the broadcast shape
            if (isinstance(left, ArrayVal) or isinstance(right, ArrayVal)) and kind in COMPARISONS and len(node.ops) == 1:
                return arrays.elementwise(COMPARISONS[kind], left, right)  # numpy compares elementwise
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
            elif (kind is ast.In or kind is ast.NotIn) and isinstance(right, NamesOf):
                result = torch_has(right.module, left)
                if result is UNKNOWN:
                    return UNKNOWN
                if kind is ast.NotIn:
                    result = not result
            elif kind is ast.In or kind is ast.NotIn:
                items = list(right.items) if isinstance(right, SetVal) and not right.lost else self.iterate(right)
                if items is None:
                    return UNKNOWN
                if isinstance(right, str):  # a substring, not one of its characters ('small' in variant)
                    if not isinstance(left, str):
                        return UNKNOWN
                    result = left in right
                elif known(left) and all(known(i) for i in items):
                    result = left in items
                elif is_class_or_function(left) and all(is_class_or_function(i) or known(i) for i in items):
                    result = any(same_class(left, i) for i in items)  # timm's `norm_layer in _NORM_ACT_TYPES`
                elif isinstance(left, EnumMember) and all(isinstance(i, EnumMember) for i in items):
                    result = any(same_member(left, i) for i in items)  # `mode in [Mode.LINEAR, Mode.BILINEAR]`
                else:
                    return UNKNOWN
                if kind is ast.NotIn:
                    result = not result
            else:
                equality = kind is ast.Eq or kind is ast.NotEq
                if equality and isinstance(left, EnumMember) and isinstance(right, EnumMember):
                    result = same_member(left, right) == (kind is ast.Eq)
                elif equality and unequal_types(left, right):
                    result = kind is ast.NotEq  # `act == ""` with act = ("relu", {"inplace": True})
                elif not (known(left) and known(right)):
                    return UNKNOWN
                else:
                    try:
                        result = COMPARISONS[kind](left, right)
                    except (TypeError, KeyError):
                        return UNKNOWN
            if not result:
                return False
            left = right
        return True


def _python_kind(value: Any) -> str | None:
    """The builtin type family of a value whose type is sure (numbers are one: 1 == 1.0 == True)."""
    if value is None:
        return "none"
    if isinstance(value, (bool, int, float)):
        return "number"
    if isinstance(value, str):
        return "str"
    if isinstance(value, tuple):
        return "tuple"
    if isinstance(value, SetVal):
        return "set"
    if isinstance(value, ListVal):
        return "list"
    if isinstance(value, DictVal):
        return "dict"
    return None


def unequal_types(left: Any, right: Any) -> bool:
    """Surely `left != right` whatever their unknown contents: builtin values of different types,
    or tuples of different lengths."""
    kinds = _python_kind(left), _python_kind(right)
    if None in kinds:
        return False
    if kinds[0] != kinds[1]:
        return True
    return kinds[0] == "tuple" and len(left) != len(right)


def same_member(a: EnumMember, b: EnumMember) -> bool:
    """`a == b` for two Enum members: the same member (of a class read once or again), or, for a
    class mixed with str or int (monai's StrEnum), equal values."""
    if any(isinstance(base, Builtin) and base.name != "object"
           for member in (a, b) for klass in member.cls.mro() for base in klass.bases):
        return a.value == b.value
    return a is b or all(x == y for x, y in zip(_member_key(a), _member_key(b)))


def _member_key(member: EnumMember) -> tuple:
    return member.name, member.cls.node.name, member.cls.node.lineno, member.cls.foreign

