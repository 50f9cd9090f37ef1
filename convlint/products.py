"""torch.matmul / torch.bmm / `@` over batched tensors, exactly as torch computes them.

Shapes exclude the batch, as everywhere in propagation; a parameter of known full shape (an
`nn.Parameter(torch.randn(k, m))`) is given as `const`. Where the batch takes part in the
product itself (a 2-d (N, k) operand is a matrix whose rows are the batch) or meets a non-batch
dim of the other operand (operands of different ranks), the result depends on the batch size:
unknown.
"""

from __future__ import annotations

from typing import Any

from .sizes import CONFLICT, broadcast_size, format_shape

Shape = tuple


def _inner_error(call: str, a: str, b: str, k: Any, rows: Any) -> str | None:
    if isinstance(k, int) and isinstance(rows, int) and k != rows:
        return f"{call} of {a} and {b}: the last size of the first ({k}) must equal the second-to-last size of the second ({rows})"
    return None


def _batch_dims(call: str, a: Shape, b: Shape, shown: tuple[str, str]) -> tuple[list | None, str | None]:
    out = []
    for x, y in zip(a, b):
        size = broadcast_size(x, y)
        if size is CONFLICT:
            return None, f"{call} of {shown[0]} and {shown[1]}: the batch sizes {x} and {y} cannot be broadcast"
        out.append(size)
    return out, None


def matmul_shape(call: str, a: Shape | None, b: Shape | None, const: Shape | None = None,
                 const_first: bool = False) -> tuple[Shape | None, str | None]:
    """The result of `a @ b` for batched a and b (no batch in the shapes), or of the batched tensor
    a and a parameter `const` (`const @ a` when `const_first`), and torch's rejection, if any."""
    if const is not None:
        return _with_const(call, a, const, const_first)
    if a is None or b is None or len(a) != len(b) or len(a) < 2:
        return None, None  # a 2-d operand multiplies along the batch; different ranks mix batch and sizes
    if call == "bmm" and len(a) != 2:
        return None, None
    shown = (format_shape(a), format_shape(b))
    batch, error = _batch_dims(call, a[:-2], b[:-2], shown)
    if error:
        return None, error
    error = _inner_error(call, *shown, a[-1], b[-2])
    if error:
        return None, error
    return (*batch, a[-2], b[-1]), None


def _with_const(call: str, x: Shape | None, const: Shape, const_first: bool) -> tuple[Shape | None, str | None]:
    if x is None or not 1 <= len(const) <= 2 or call == "bmm":
        return None, None  # a parameter with batch dims of its own would meet the batch
    shown = (format_shape(const, False), format_shape(x)) if const_first else (format_shape(x), format_shape(const, False))
    if not const_first:  # x @ W: the last size of x meets W's rows (or its one axis)
        if not x:
            return None, None
        error = _inner_error(call, *shown, x[-1], const[0])
        return (None, error) if error else ((*x[:-1], *const[1:]), None)
    if len(x) < 2:
        return None, None  # W @ (N, k): the batch would be the rows of the matrix
    error = _inner_error(call, *shown, const[-1], x[-2])
    return (None, error) if error else ((*x[:-2], *const[:-1], x[-1]), None)


def attention_shape(query: Shape | None, key: Shape | None, value: Shape | None) -> Shape | None:
    """F.scaled_dot_product_attention of batched (..., L, E) queries, (..., S, E) keys and (..., S, Ev)
    values: (..., L, Ev). Leading sizes that differ (grouped heads, broadcasting) and sizes that do
    not pair (torch raises) are not followed: unknown."""
    if query is None or key is None or value is None or not len(query) == len(key) == len(value) >= 1:
        return None
    if not query[:-2] == key[:-2] == value[:-2]:
        return None
    if len(query) >= 2 and isinstance(key[-2], int) and isinstance(value[-2], int) and key[-2] != value[-2]:
        return None
    if isinstance(query[-1], int) and isinstance(key[-1], int) and query[-1] != key[-1]:
        return None
    return (*query[:-1], value[-1])


def einsum_shape(equation: str, shapes: list) -> Shape | None:
    """torch.einsum of batched tensors (shapes without the batch): every operand's first label is
    the batch, which the output keeps first; each other output label takes the size its operands
    agree on (unknown where none knows it). Ellipses, broadcast size-1 dims and sizes that disagree
    are not followed."""
    terms, arrow, output = equation.replace(" ", "").partition("->")
    inputs = terms.split(",")
    if not arrow or "." in equation or len(inputs) != len(shapes) or any(s is None for s in shapes):
        return None
    batch = output[:1]
    if not batch or any(labels[:1] != batch or len(labels) != len(shape) + 1 for labels, shape in zip(inputs, shapes)):
        return None
    sizes: dict = {}
    for labels, shape in zip(inputs, shapes):
        for label, size in zip(labels[1:], shape):
            if label == batch or not label.isalpha():
                return None  # the batch inside an operand: its size is the batch's
            known = sizes.get(label)
            if known is not None and size is not None and known != size:
                return None
            sizes[label] = size if known is None else known  # a size not known takes its other operand's
    if batch in output[1:] or len(set(output)) != len(output) or any(label not in sizes for label in output[1:]):
        return None
    return tuple(sizes[label] for label in output[1:])
