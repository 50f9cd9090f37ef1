"""numpy on the few short vectors of numbers model code computes with (monai's
`padding = (np.atleast_1d(kernel_size) - stride + 1) / 2`, `np.all(stride == 1)`): elementwise
arithmetic and comparisons with numpy's broadcasting of a length-1 vector, and the reductions.
Anything else of numpy is unknown."""

from __future__ import annotations

import operator
from typing import Any

from ..sizes import UNKNOWN
from .state import MAX_UNROLL
from .values import ArrayVal, ListVal, numeric

ARITHMETIC = {
    "Add": operator.add, "Subtract": operator.sub, "Multiply": operator.mul, "Divide": operator.truediv,
    "FloorDivide": operator.floordiv, "Modulo": operator.mod,
}


def as_vector(value: Any) -> list | None:
    """The numbers a value holds as numpy would make a 1-d array of them (a number: one)."""
    if numeric(value) or isinstance(value, bool):
        return [value]
    items = value.items if isinstance(value, (ArrayVal, ListVal)) and not getattr(value, "lost", False) else value
    if isinstance(items, (list, tuple)) and 0 < len(items) <= MAX_UNROLL and all(numeric(i) or isinstance(i, bool) for i in items):
        return list(items)
    return None


def elementwise(function, left: Any, right: Any) -> Any:
    """`function` over two vectors, a length-1 one broadcast (numpy raises for other lengths)."""
    a, b = as_vector(left), as_vector(right)
    if a is None or b is None or len(a) != len(b) and 1 not in (len(a), len(b)):
        return UNKNOWN
    size = max(len(a), len(b))
    try:
        return ArrayVal([function(a[i if len(a) > 1 else 0], b[i if len(b) > 1 else 0]) for i in range(size)])
    except (ArithmeticError, TypeError, ValueError):
        return UNKNOWN  # numpy gives inf or nan where Python raises: not followed


def _array(interp, args, kwargs, node):
    if len(args) != 1 or kwargs:
        return UNKNOWN
    items = as_vector(args[0])
    return UNKNOWN if items is None else ArrayVal(items)


def _reduction(function):
    def reduce(interp, args, kwargs, node):
        items = as_vector(args[0]) if len(args) == 1 and not kwargs else None
        return UNKNOWN if items is None else function(items)
    return reduce


# qualified name -> hook(interp, args, kwargs, node)
QUAL_FALLBACKS = {
    **dict.fromkeys(("numpy.atleast_1d", "numpy.array", "numpy.asarray"), _array),
    **{f"numpy.{name}": _reduction(function) for name, function in
       {"min": min, "max": max, "amin": min, "amax": max, "all": all, "any": any, "sum": sum}.items()},
}
