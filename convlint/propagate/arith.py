"""Shape arithmetic of torch's tensor functions on shapes without their batch: indexing, slicing,
broadcasting, cat, split, permute, reductions. Pure functions of shapes (and of sizes read off tensors)."""

from __future__ import annotations

from typing import Any

from ..graph import BATCH, Op
from ..sizes import CONFLICT, UNKNOWN, Sym, broadcast_size, format_shape, never_negative
from ..views import resolve_all, resolve_size
from .tensors import Shape


def index_shape(spec: tuple, shape: Shape | None, values) -> Shape | None:
    """x[...] with slices, ints, None and one Ellipsis, as torch's basic indexing; the batch must
    be taken whole (`x[:, ...]`, or an Ellipsis before the rest)."""
    if shape is None or sum(1 for item in spec if item[0] == "ellipsis") > 1:
        return None
    dims = [BATCH, *shape]
    consumed = sum(1 for item in spec if item[0] in ("slice", "index"))
    if consumed > len(dims):
        return None
    items = []
    for item in spec:
        if item[0] == "ellipsis":
            items.extend([("slice", None, None, None)] * (len(dims) - consumed))
        else:
            items.append(item)
    items.extend([("slice", None, None, None)] * (len(dims) - sum(1 for i in items if i[0] != "new")))
    out, axis = [], 0
    for item in items:
        if item[0] == "new":
            if axis == 0:
                return None  # a new axis before the batch
            out.append(1)
            continue
        size = dims[axis]
        if axis == 0:
            if item != ("slice", None, None, None):
                return None  # part of the batch
            axis += 1
            continue
        if item[0] == "index":
            index = resolve_size(item[1], values)
            if not isinstance(index, int) or isinstance(size, int) and not -size <= index < size:
                return None
        else:
            out.append(slice_length(size, *(None if b is None else resolve_size(b, values) for b in item[1:])))
        axis += 1
    return tuple(out)


def slice_length(size, start, stop, step):
    """len(range(size)[start:stop:step]) for a positive step; a symbolic size only for [:], [::s], [1::s],
    a symbolic stop only for [:stop] (that one or the size, when that is decided)."""
    if any(b is not None and not isinstance(b, int) for b in (start, step)) or size is None \
            or stop is not None and not isinstance(stop, (int, Sym)):
        return None
    step = 1 if step is None else step
    if isinstance(size, int) and not isinstance(stop, Sym):
        return len(range(*slice(start, stop, step).indices(size)))
    if stop is None and start in (None, 0, 1) and isinstance(size, Sym):
        return (size - (start or 0) + step - 1) // step  # sizes are >= 1: never negative
    if start in (None, 0) and stop == 1 and isinstance(size, Sym):
        return 1  # x[:, :1]: the first, which every size >= 1 has
    if start in (None, 0) and step == 1 and never_negative(stop):
        # x[:, :h] of a map padded from h (swin's crop after its windows): the shorter of the two,
        # when which one that is holds at every size
        if never_negative(size - stop):
            return stop
        if never_negative(stop - size):
            return size
    return None


def broadcast_const(shape: Shape | None, const: tuple) -> tuple[Shape | None, str | None]:
    """A batched tensor combined elementwise with a tensor of known full shape (a parameter)."""
    if shape is None or len(const) > len(shape) + 1:
        return None, None
    if len(const) == len(shape) + 1:
        if const[0] != 1:
            return None, None  # it meets the batch: depends on the batch size
        const = const[1:]
    for x, y in zip(reversed(shape), reversed(const)):
        if isinstance(x, int) and isinstance(y, int) and x != y and 1 not in (x, y):
            return None, f"sizes {x} and {y} cannot be broadcast"
    result, error = broadcast(shape, const)
    return (None, None) if error else (result, None)


def no_batch_axis(dim: int, rank: int) -> int | None:
    """A batched-tensor dim as an index into the no-batch shape; None for the batch or out of range."""
    if not -rank <= dim < rank or dim % rank == 0:
        return None
    return dim % rank - 1


def split_shape(op: Op, shape: Shape | None, values) -> tuple[Shape | None, str | None]:
    """One piece of torch.chunk / torch.split: chunk(c) splits in pieces of ⌈n/c⌉ (so it may give
    fewer than c), split(s) in pieces of s, the last smaller; split([a, b, ...]) must sum to n (a
    size may be read off a tensor: raft's `[hidden, x.shape[1] - hidden]`)."""
    if shape is None:
        return None, None
    axis = no_batch_axis(op.args["dim"], len(shape) + 1)
    if axis is None:
        return None, None
    n, mode, param = shape[axis], op.args["mode"], op.args["param"]
    index, expected = op.args["index"], op.args["expected"]
    if mode == "unbind":  # x.unbind(dim): n slices, each without that axis
        if index < 0 and not isinstance(n, int):
            return None, None
        if isinstance(n, int) and (not -n <= index < n or expected not in (None, n)):
            return None, None
        return shape[:axis] + shape[axis + 1:], None
    if mode == "sections":
        param = tuple(None if v is None else resolve_all(v, values) for v in param)
        param = tuple(None if v is UNKNOWN else v for v in param)
        if expected is not None and expected != len(param):
            return None, None
        if isinstance(n, int) and all(isinstance(v, int) for v in param) and sum(param) != n:
            error = (f"{op.args['call']} sizes {list(param)} sum to {sum(param)}, but dimension {op.args['dim']} "
                     f"of {format_shape(shape)} has size {n}")
            return None, error if index == 0 else None
        size = param[index] if index < len(param) else None
        if size is None or isinstance(size, int) and size < 0:
            return None, None
    else:
        if not isinstance(n, int) or n <= 0:
            return None, None
        each = -(-n // param) if mode == "chunk" else param
        count = -(-n // each)
        index = index + count if index < 0 else index
        if not 0 <= index < count or (expected is not None and expected != count):
            return None, None
        size = each if index < count - 1 else n - each * (count - 1)
    return shape[:axis] + (size,) + shape[axis + 1:], None


def permutation(op: Op, rank: int) -> tuple[int, ...] | None:
    """The batched permutation of a permute / transpose op (None if torch would reject it)."""
    if "swap" in op.args:
        a, b = op.args["swap"]
        if not (-rank <= a < rank and -rank <= b < rank):
            return None
        dims = list(range(rank))
        dims[a % rank], dims[b % rank] = dims[b % rank], dims[a % rank]
        return tuple(dims)
    dims = op.args["dims"]
    if len(dims) != rank or not all(-rank <= d < rank for d in dims):
        return None
    dims = tuple(d % rank for d in dims)
    return dims if sorted(dims) == list(range(rank)) else None


def permute_shape(op: Op, shape: Shape | None) -> Shape | None:
    """x.permute(...) / x.transpose(a, b) that leave the batch first (otherwise: unknown)."""
    if shape is None:
        return None
    dims = permutation(op, len(shape) + 1)
    if dims is None or dims[0] != 0:
        return None
    return tuple(shape[d - 1] for d in dims[1:])


def reduce_shape(op: Op, shape: Shape | None) -> Shape | None:
    if shape is None:
        return None
    rank = len(shape) + 1
    dims = set()
    for d in op.args["dims"]:
        if not -rank <= d < rank:
            return None
        dims.add(d % rank)
    if 0 in dims:
        return None
    if op.args["keepdim"]:
        return tuple(1 if i + 1 in dims else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i + 1 not in dims)


def broadcast(a: Shape | None, b: Shape | None) -> tuple[Shape | None, str | None]:
    """torch's broadcasting of two batched tensors (shapes given without their equal batch)."""
    if a is None or b is None:
        return None, None
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        size = broadcast_size(x, y)
        if size is CONFLICT:
            return None, f"shapes {format_shape(a)} and {format_shape(b)} cannot be broadcast (dimension {x} against {y})"
        out.append(size)
    return tuple(reversed(out)), None


def _pinned(x: Any, y: Any) -> Any:
    """The size two sizes torch requires to be equal (a cat's other axes) have when torch does not
    raise: a number against a symbolic size (the tokens of an unknown input against 196: 196)."""
    if isinstance(x, int) and isinstance(y, Sym):
        return x
    if isinstance(y, int) and isinstance(x, Sym):
        return y
    return None


def cat_shape(dim: int, shapes: list[Shape | None]) -> tuple[Shape | None, str | None]:
    """torch.cat's shape: the sizes along `dim` added, the others equal (along the batch, all of them)."""
    if any(s is None for s in shapes) or len({len(s) for s in shapes}) != 1:
        return None, None
    rank = len(shapes[0]) + 1
    if not -rank <= dim < rank:
        return None, None
    axis = dim % rank - 1
    out = list(shapes[0])
    for shape in shapes[1:]:
        for i, (x, y) in enumerate(zip(out, shape)):
            if i == axis:
                continue
            if isinstance(x, int) and isinstance(y, int) and x != y:
                return None, (
                    f"torch.cat along dim {dim} needs equal sizes elsewhere, "
                    f"but gets {' and '.join(format_shape(s) for s in shapes)}"
                )
            if x != y:
                out[i] = _pinned(x, y)
        if axis >= 0:
            total = out[axis]
            out[axis] = None if total is None or shape[axis] is None else total + shape[axis]
    return tuple(out), None
