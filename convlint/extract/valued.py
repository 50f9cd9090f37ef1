"""Tensors of known values that a model's code computes from constants, as torch computes them:
RegNet's block widths come from `torch.arange(depth) * w_a + w_0`, then log, round, pow and
`.int().tolist()`. The dtype follows torch's promotion (an int tensor times a Python float is
float32, the default dtype). A float element is an interval [lo, hi]: exact after +, -, * and /
(torch's float32 kernels round each one as IEEE does: computing in double and rounding to float32
gives the same number), widened by a few units in the last place after log, exp or pow (torch's
vectorised math is not correctly rounded; a power whose true value is a float32 is exact); whatever makes a float discrete (round, int(), tolist)
is unknown unless every number of the interval gives the same answer. Anything else is unknown,
or a ConstTensor of the shape when only the values are lost."""

from __future__ import annotations

import math
import struct
from typing import Any

from ..graph import is_read_size
from ..sizes import UNKNOWN
from . import sized
from .tensors import ARITHMETIC, const_method
from .values import ConstTensor, ListVal, Qual, ValuedTensor, int_value, numeric

MAX_VALUES = 4096  # a longer tensor keeps its shape, not its values
ORDER = ("bool", "int32", "int64", "float32", "float64")  # torch's promotion among these, lowest first
DTYPES = {
    "torch.bool": "bool", "torch.int32": "int32", "torch.int": "int32", "torch.int64": "int64", "torch.long": "int64",
    "torch.float32": "float32", "torch.float": "float32", "torch.float64": "float64", "torch.double": "float64",
}
INT_RANGE = {"int32": 2**31, "int64": 2**63}
APPROXIMATE_ULPS = 4  # torch's log, exp and pow are within one unit in the last place; four for margin


class Unknown(Exception):
    """A value torch computes that we cannot tell for sure."""


def _float(dtype: str) -> bool:
    return dtype.startswith("float")


def _promote(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return a or b
    return max(a, b, key=ORDER.index)


def _combine(higher: str | None, lower: str | None) -> str | None:
    """c10's combine_categories: a lower-priority operand changes the dtype only when it is of a
    higher category (a float 0-dim tensor with an int tensor)."""
    if higher is None:
        return lower
    if lower is None or _float(higher):
        return higher
    if higher == "bool" or _float(lower):
        return _promote(higher, lower)
    return higher


def result_dtype(operands: list) -> str:
    """torch.result_type of tensors and Python numbers: tensors with dimensions first, then 0-dim
    tensors, then numbers (a Python float as the default dtype, float32)."""
    groups: list[str | None] = [None, None, None]
    for value in operands:
        if isinstance(value, ValuedTensor):
            group, dtype = (0 if value.shape else 1), value.dtype
        else:
            group, dtype = 2, ("bool" if isinstance(value, bool) else "int64" if isinstance(value, int) else "float32")
        groups[group] = _promote(groups[group], dtype)
    return _combine(groups[0], _combine(groups[1], groups[2]))


# ---- elements


def _f32(x: float) -> float:
    try:
        return struct.unpack("f", struct.pack("f", x))[0]
    except OverflowError as error:
        raise Unknown from error


def _rounder(dtype: str):
    return _f32 if dtype == "float32" else float


def _finite(x: float) -> float:
    if math.isnan(x) or math.isinf(x):
        raise Unknown
    return x


def as_interval(value: Any, dtype: str) -> tuple:
    """An element (or a Python number) converted to the float `dtype`, as an interval."""
    rnd = _rounder(dtype)
    if isinstance(value, tuple):
        return (rnd(value[0]), rnd(value[1]))
    if not abs(value) < 2**53:  # (nor a NaN)
        raise Unknown
    x = rnd(float(value))
    return (x, x)


def as_int(value: Any, dtype: str) -> int:
    if isinstance(value, tuple):  # a float made an int: truncated toward zero, as C++ casts
        low, high = math.trunc(value[0]), math.trunc(value[1])
        if low != high:
            raise Unknown
        value = low
    value = int(value)
    if not -INT_RANGE[dtype] <= value < INT_RANGE[dtype]:
        raise Unknown  # torch wraps around
    return value


def convert(value: Any, dtype: str) -> Any:
    if _float(dtype):
        return as_interval(value, dtype)
    if dtype == "bool":
        if isinstance(value, tuple):
            if value[0] <= 0 <= value[1] and value != (0.0, 0.0):
                raise Unknown  # zero or not: either
            return value[0] != 0
        return bool(value)
    return as_int(value, dtype)


def _corners(func, a: tuple, b: tuple, rnd) -> tuple:
    """func over intervals, where it is monotone in each argument: the extremes lie at the corners."""
    try:
        found = [rnd(_finite(func(x, y))) for x in a for y in b]
    except (ZeroDivisionError, OverflowError, ValueError) as error:
        raise Unknown from error
    return (min(found), max(found))


def _widen(interval: tuple, dtype: str) -> tuple:
    """An approximate result: a few units in the last place of `dtype` either way."""
    scale = 2**29 if dtype == "float32" else 1  # a float32's unit in the last place, from a double's
    low, high = interval
    return (low - APPROXIMATE_ULPS * math.ulp(low) * scale, high + APPROXIMATE_ULPS * math.ulp(high) * scale)


def _exact_power(x: tuple, y: tuple, dtype: str) -> tuple | None:
    """A float32 power whose true value is a float32 (2.25 ** 2 = 5.0625): torch 2.13 gives it
    exactly (checked on 77,007 such bases and integer exponents, by both of its kernels)."""
    if dtype != "float32" or x[0] != x[1] or y[0] != y[1] or not y[0].is_integer() or abs(y[0]) > 64:
        return None
    from fractions import Fraction  # only here: importing it costs a check of a file that needs none of this

    try:
        value = Fraction(x[0]) ** int(y[0])
        result = _f32(float(value))
    except (OverflowError, Unknown, ZeroDivisionError):
        return None
    return (result, result) if Fraction(result) == value else None


_EXACT = {
    "Add": lambda x, y: x + y, "Subtract": lambda x, y: x - y, "Multiply": lambda x, y: x * y,
    "Divide": lambda x, y: x / y,
}
_INTEGER = {**_EXACT, "FloorDivide": lambda x, y: x // y, "Modulo": lambda x, y: x % y}


def _element(op: str, a: Any, b: Any, dtype: str) -> Any:
    if _float(dtype):
        x, y = as_interval(a, dtype), as_interval(b, dtype)
        if op == "Divide" and y[0] <= 0 <= y[1]:
            raise Unknown
        if op == "Power":
            if x[0] <= 0:
                raise Unknown
            exact = _exact_power(x, y, dtype)
            return exact if exact is not None else _widen(_corners(math.pow, x, y, _rounder(dtype)), dtype)
        if op not in _EXACT:
            raise Unknown  # torch's float floor division and remainder: not reproduced
        return _corners(_EXACT[op], x, y, _rounder(dtype))
    if dtype == "bool":
        raise Unknown  # torch's arithmetic on bools (add is or): not reproduced
    x, y = as_int(a, "int64"), as_int(b, "int64")
    if op == "Power":
        if y < 0 or y > 64 or abs(x) > 2**16:
            raise Unknown  # torch rejects a negative power of an int
        return as_int(x**y, dtype)
    if op not in _INTEGER or op in ("FloorDivide", "Modulo") and y == 0:
        raise Unknown
    return as_int(_INTEGER[op](x, y), dtype)


# ---- tensors


def make(values: list, dtype: str, shape: tuple | None = None) -> Any:
    shape = (len(values),) if shape is None else shape
    if len(values) > MAX_VALUES:
        return ConstTensor(shape, integral=dtype in INT_RANGE)
    return ValuedTensor(shape, values=tuple(convert(v, dtype) for v in values), dtype=dtype)


def _pairs(a: Any, b: Any) -> tuple[tuple, list]:
    """The broadcast shape and the pairs of elements (a tensor and a number, two tensors of one
    shape, or one of them 0-dim); Unknown for any other broadcast."""
    av = a.values if isinstance(a, ValuedTensor) else None
    bv = b.values if isinstance(b, ValuedTensor) else None
    if av is None:
        return b.shape, [(a, y) for y in bv]
    if bv is None:
        return a.shape, [(x, b) for x in av]
    if a.shape == b.shape:
        return a.shape, list(zip(av, bv))
    if not a.shape:
        return b.shape, [(av[0], y) for y in bv]
    if not b.shape:
        return a.shape, [(x, bv[0]) for x in av]
    raise Unknown


def _operand(value: Any) -> bool:
    return isinstance(value, ValuedTensor) or numeric(value) or isinstance(value, bool)


def binary(op: str, left: Any, right: Any) -> Any:
    """`left <op> right` where one is a tensor of known values and neither is the model's."""
    if not (_operand(left) and _operand(right)):
        return _shape_only(left, right)
    dtype = result_dtype([left, right])
    if op in ("Divide", "Power") and not _float(dtype) and (op == "Divide" or _float_number(left, right)):
        dtype = "float32"  # true division of ints, an int raised to a Python float: the default dtype
    try:
        shape, pairs = _pairs(left, right)
        return make([_element(op, x, y, dtype) for x, y in pairs], dtype, shape)
    except Unknown:
        return _shape_only(left, right)


def _float_number(*values) -> bool:
    return any(isinstance(v, float) for v in values)


def _shape_only(*values) -> Any:
    """The values are lost; the shape is known when every tensor operand has one shape."""
    shapes = {v.shape for v in values if isinstance(v, ConstTensor)}
    return ConstTensor(shapes.pop()) if len(shapes) == 1 and all(
        isinstance(v, ConstTensor) or numeric(v) for v in values) else UNKNOWN


def reflected_divide(number: Any, tensor: ValuedTensor) -> Any:
    """`number / tensor`: torch's Tensor.__rtruediv__ is `tensor.reciprocal() * number`, two roundings."""
    return binary("Multiply", binary("Divide", 1, tensor), number)


def negate(tensor: ValuedTensor) -> Any:
    return binary("Multiply", tensor, -1 if not _float(tensor.dtype) else -1.0) if tensor.dtype != "bool" else UNKNOWN


_MONOTONE = {"log": math.log, "log2": math.log2, "log10": math.log10, "exp": math.exp, "sqrt": math.sqrt}
_ROUNDING = {"round": round, "floor": math.floor, "ceil": math.ceil, "trunc": math.trunc}


def unary(name: str, tensor: ValuedTensor) -> Any:
    try:
        if name in _MONOTONE:
            dtype = tensor.dtype if _float(tensor.dtype) else "float32"
            values = []
            for value in tensor.values:
                low, high = as_interval(value, dtype)
                if low <= 0 and name != "exp":
                    raise Unknown
                func, rnd = _MONOTONE[name], _rounder(dtype)
                values.append(_widen((rnd(_finite(func(low))), rnd(_finite(func(high)))), dtype))
            return make(values, dtype, tensor.shape)
        if name in _ROUNDING:
            if not _float(tensor.dtype):
                return tensor  # an int tensor: its values (and dtype) unchanged
            values = []
            for low, high in tensor.values:
                first, last = _ROUNDING[name](low), _ROUNDING[name](high)
                if first != last:
                    raise Unknown  # the interval straddles a boundary
                values.append(float(first))
            return make(values, tensor.dtype, tensor.shape)
        if name == "abs":
            return make([_abs(v) for v in tensor.values], tensor.dtype, tensor.shape)
    except (Unknown, OverflowError, ValueError):
        return ConstTensor(tensor.shape)
    return ConstTensor(tensor.shape)


def _abs(value: Any) -> Any:
    if not isinstance(value, tuple):
        return abs(value)
    low, high = value
    return (min(abs(low), abs(high)) if low * high > 0 else 0.0, max(abs(low), abs(high)))


def to_dtype(tensor: ValuedTensor, dtype: str | None) -> Any:
    if dtype is None:
        return ConstTensor(tensor.shape)
    try:
        return make(list(tensor.values), dtype, tensor.shape)
    except Unknown:
        return ConstTensor(tensor.shape)


def as_python(value: Any) -> Any:
    """An element as `tolist()` gives it: a float only when it is exact."""
    if isinstance(value, tuple):
        return value[0] if value[0] == value[1] else UNKNOWN
    return value


def dtype_of(value: Any) -> str | None:
    return DTYPES.get(value.name) if isinstance(value, Qual) else None


# ---- torch's functions and the tensor methods, each hook(interp, args, kwargs, node)


def _tensor(interp, args, kwargs, node):  # torch.tensor(data, dtype=None, device=None, requires_grad=False)
    data = args[0] if len(args) == 1 else kwargs.get("data")
    if set(kwargs) - {"data", "dtype", "device", "requires_grad"} or len(args) > 1:
        return UNKNOWN
    if is_read_size(data) and kwargs.get("dtype") is None:
        return ConstTensor((), integral=True)  # of a size read off a tensor (raft's `torch.tensor(num_channels)`)
    number = numeric(data) or isinstance(data, bool)
    items = [data] if number else interp.iterate(data)
    if not items or not all(numeric(v) or isinstance(v, bool) for v in items):
        return UNKNOWN
    if kwargs.get("dtype") is not None:
        dtype = dtype_of(kwargs["dtype"])
    elif any(isinstance(v, float) for v in items):
        dtype = "float32"
    else:
        dtype = "bool" if all(isinstance(v, bool) for v in items) else "int64"
    if dtype is None:
        return UNKNOWN
    try:
        return make(items, dtype, () if number else None)
    except Unknown:
        return UNKNOWN


def _arange(interp, args, kwargs, node):  # torch.arange(end), (start, end), (start, end, step), or by name
    named = {k: kwargs[k] for k in ("start", "end", "step") if k in kwargs}
    if len(args) > 3 or set(kwargs) - {"dtype", "device", "requires_grad", *named}:
        return UNKNOWN
    if len(args) == 1 and not named:
        start, end, step = 0, args[0], 1
    else:  # (torch takes a lone positional as the end only when nothing is named)
        bound = dict(zip(("start", "end", "step"), args))
        if set(bound) & set(named) or "end" not in {*bound, *named}:
            return UNKNOWN
        bound = {"start": 0, "step": 1, **bound, **named}
        start, end, step = bound["start"], bound["end"], bound["step"]
    if is_read_size(end) and start == 0 and step == 1 and not isinstance(start, bool) and not isinstance(step, bool):
        # of a size read off a tensor (a grid of a feature map's pixels): that many elements, whatever
        # their dtype (a size is an int, and torch raises on a negative one)
        return sized.made((end,))
    if not all(numeric(v) and abs(v) < 2**53 for v in (start, end, step)) or step == 0 or (end - start) * step < 0:
        return UNKNOWN  # (torch rejects a step of the wrong sign)
    count = max(0, math.ceil((end - start) / step))  # in double, as torch sizes it
    floats = any(isinstance(v, float) for v in (start, end, step))
    dtype = dtype_of(kwargs["dtype"]) if kwargs.get("dtype") is not None else "float32" if floats else "int64"
    if dtype is None or count > 10**9:
        return UNKNOWN
    if count > MAX_VALUES:
        return ConstTensor((count,), integral=dtype in INT_RANGE)
    try:
        if not floats:
            return make([start + i * step for i in range(count)], dtype)
        values = [_widen(as_interval(start + step * i, dtype), dtype) for i in range(count)]  # not reproduced exactly
        return make(values, dtype) if _float(dtype) else ConstTensor((count,))
    except Unknown:
        return ConstTensor((count,))


def _linspace(interp, args, kwargs, node):  # torch.linspace(start, end, steps), float32 by default
    if len(args) + len(kwargs) != 3 or len(args) > 3 or set(kwargs) - {"start", "end", "steps"}:
        return UNKNOWN
    start, end, steps = (*args, *(kwargs[k] for k in ("start", "end", "steps")[len(args):] if k in kwargs))
    if not all(numeric(v) and abs(v) < 2**53 for v in (start, end)) or not int_value(steps) or steps < 0:
        return UNKNOWN
    if steps > MAX_VALUES:
        return ConstTensor((steps,))
    try:
        # torch computes start + step·i up to halfway, end - step·(steps - 1 - i) after: the ends are
        # exact, as is every element of a range of one value (timm's drop-path rates at rate 0)
        values = [start if i == 0 or start == end else end if i == steps - 1 else
                  _widen(as_interval(start + (end - start) * i / (steps - 1), "float32"), "float32")
                  for i in range(steps)]
        return make(values, "float32")
    except Unknown:
        return ConstTensor((steps,))


def _diff(tensor: ValuedTensor) -> Any:
    if len(tensor.shape) != 1 or not tensor.values:
        return ConstTensor((max(0, tensor.shape[0] - 1),)) if len(tensor.shape) == 1 else UNKNOWN
    pieces = [binary("Subtract", make([b], tensor.dtype), make([a], tensor.dtype))
              for a, b in zip(tensor.values, tensor.values[1:])]
    if not all(isinstance(p, ValuedTensor) for p in pieces):
        return ConstTensor((len(pieces),))
    return make([p.values[0] for p in pieces], tensor.dtype)


def method(interp, tensor: ValuedTensor, name: str, args: list, kwargs: dict, node) -> Any:
    """`t.<name>(...)` of a tensor of known values; what is not reproduced here keeps the shape only."""
    if name == "tolist" and not args and not kwargs:
        items = [as_python(v) for v in tensor.values]
        return ListVal(items) if len(tensor.shape) == 1 else items[0] if not tensor.shape else UNKNOWN
    if name == "item" and not args and not kwargs and len(tensor.values) == 1:
        return as_python(tensor.values[0])
    casts = {"int": "int32", "long": "int64", "float": "float32", "double": "float64", "bool": "bool"}
    if name in casts and not args and not kwargs:
        return to_dtype(tensor, casts[name])
    if name in ("to", "type") and len(args) == 1 and not kwargs and dtype_of(args[0]) is not None:
        return to_dtype(tensor, dtype_of(args[0]))
    if not kwargs and not args and (name in _MONOTONE or name in _ROUNDING or name == "abs"):
        return unary(name, tensor)
    if name == "diff" and not args and not kwargs:
        return _diff(tensor)
    if name in ("numel", "dim") and not args and not kwargs:
        return len(tensor.values) if name == "numel" else len(tensor.shape)
    operators = {**ARITHMETIC, "pow": "Power", "divide": "Divide", "multiply": "Multiply", "subtract": "Subtract",
                 "true_divide": "Divide", "floor_divide": "FloorDivide", "remainder": "Modulo"}
    if name in operators and len(args) == 1 and not kwargs:
        return binary(operators[name], tensor, args[0])
    return const_method(interp, ConstTensor(tensor.shape, integral=tensor.dtype in INT_RANGE), name, args, kwargs, node)


def _function(name: str, prior=None):
    """torch.<name>(t, ...) of a tensor of known values, as its method; anything else as before."""
    def hook(interp, args, kwargs, node):
        if args and isinstance(args[0], ValuedTensor):
            return method(interp, args[0], name, args[1:], kwargs, node)
        if name == "pow" and len(args) == 2 and numeric(args[0]) and isinstance(args[1], ValuedTensor) and not kwargs:
            return binary("Power", args[0], args[1])  # torch.pow(2.09, t)
        return prior(interp, args, kwargs, node) if prior is not None else interp.unknown_result(args, kwargs, node)
    return hook


def fallbacks(prior: dict) -> dict:
    """This module's entries of the table of torch's functions not called on a model tensor (a
    function that is there already keeps its hook for other arguments)."""
    names = ("log", "log2", "log10", "exp", "sqrt", "round", "floor", "ceil", "trunc", "abs", "diff", "pow",
             "add", "sub", "mul", "div", "divide", "multiply", "subtract", "true_divide", "floor_divide", "remainder")
    return {"torch.tensor": _tensor, "torch.as_tensor": _tensor, "torch.arange": _arange, "torch.linspace": _linspace,
            **{f"torch.{n}": _function(n, prior.get(f"torch.{n}")) for n in names}}
