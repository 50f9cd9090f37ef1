"""Shapes of tensors of known shape that are not the model's (a parameter, an index built from
aranges), where their values are not followed: swin's relative position index is
`stack(meshgrid(arange(w), arange(w))).flatten(1)`, differences of two views of it, permuted,
summed, flattened, and the bias table is indexed by it. Each rule is torch's shape rule; anything
else is unknown. `integral`: the elements are integers, so the tensor can index another."""

from __future__ import annotations

from typing import Any

from .. import layers as L
from ..graph import Layer
from ..sizes import UNKNOWN
from . import sized
from .values import ConstTensor, ListVal, SizedTensor, ValuedTensor, int_value

_INTEGER_DTYPES = ("int32", "int64")


def integral(value: Any) -> bool:
    if isinstance(value, ValuedTensor):
        return value.dtype in _INTEGER_DTYPES
    return isinstance(value, ConstTensor) and value.integral


def _dims(args: list) -> tuple | None:
    dims = args[0] if len(args) == 1 and isinstance(args[0], (tuple, ListVal)) else tuple(args)
    dims = tuple(dims.items) if isinstance(dims, ListVal) else dims
    return dims if isinstance(dims, tuple) and all(int_value(d) for d in dims) else None


def _axis(dim: Any, rank: int) -> int | None:
    return dim % rank if int_value(dim) and -rank <= dim < rank else None


def permuted(const: ConstTensor, dims: tuple | None) -> Any:
    shape = const.shape
    if dims is None or len(dims) != len(shape) or sorted(d % len(shape) for d in dims if -len(shape) <= d < len(shape)) \
            != list(range(len(shape))):
        return UNKNOWN
    return ConstTensor(tuple(shape[d] for d in dims), integral=integral(const))


def flattened(const: ConstTensor, start_dim: Any = 0, end_dim: Any = -1) -> Any:
    shape = const.shape
    if not shape:
        return ConstTensor((1,), integral=integral(const))
    first, last = _axis(start_dim, len(shape)), _axis(end_dim, len(shape))
    if first is None or last is None or first > last:
        return UNKNOWN
    size = 1
    for d in shape[first:last + 1]:
        size *= d
    return ConstTensor(shape[:first] + (size,) + shape[last + 1:], integral=integral(const))


def summed(const: ConstTensor, args: list, kwargs: dict) -> Any:
    """t.sum(dim) / t.sum(dim, keepdim): an integer tensor sums to int64, a float one keeps its kind."""
    dims = args[0] if args else kwargs.get("dim")
    keep = args[1] if len(args) > 1 else kwargs.get("keepdim", False)
    dims = (dims,) if int_value(dims) else _dims([dims]) if dims is not None else None
    if dims is None or not isinstance(keep, bool) or len(args) > 2 or set(kwargs) - {"dim", "keepdim"}:
        return UNKNOWN
    axes = {_axis(d, len(const.shape)) for d in dims}
    if None in axes:
        return UNKNOWN
    shape = tuple(1 if i in axes else d for i, d in enumerate(const.shape) if keep or i not in axes)
    return ConstTensor(shape, integral=integral(const))


METHODS = {
    "permute": lambda const, args, kwargs: permuted(const, _dims(args)) if not kwargs else UNKNOWN,
    "flatten": lambda const, args, kwargs: flattened(const, *args, **kwargs)
    if len(args) <= 2 and set(kwargs) <= {"start_dim", "end_dim"} else UNKNOWN,
    "sum": summed,
}


def index(const: ConstTensor, spec: list) -> Any:
    """const[...] with slices without bounds, None and ints (basic indexing), or one integer tensor
    (advanced indexing of the first axis: the index's shape, then the other axes)."""
    shape = const.shape
    if len(spec) == 1 and integral(spec[0]):
        return ConstTensor(spec[0].shape + shape[1:], integral=integral(const))
    consumed = sum(1 for item in spec if item != "new")
    if consumed > len(shape) or any(isinstance(item, ConstTensor) for item in spec):
        return UNKNOWN
    out, axis = [], 0
    for item in spec:
        if item == "new":
            out.append(1)
            continue
        if item == "all":
            out.append(shape[axis])
        elif not (int_value(item) and -shape[axis] <= item < shape[axis]):
            return UNKNOWN
        axis += 1
    return ConstTensor(tuple(out) + shape[axis:], integral=integral(const))


def broadcast(op: str, left: Any, right: Any) -> Any:
    """Two tensors of known shape combined elementwise: torch's broadcast of their full shapes
    (UNKNOWN where torch raises)."""
    shape = sized.broadcast(left.shape, right.shape)
    if shape is None:
        return UNKNOWN
    whole = op in ("Add", "Subtract", "Multiply") and integral(left) and integral(right)
    return ConstTensor(shape, integral=whole)


# layers whose rule reads only the last axis, so a tensor of any leading axes goes through them as
# through a batch (swin v2's position MLP on its table of coordinates)
LAST_AXIS_LAYERS = {"Linear", "LayerNorm", "ReLU", "GELU", "SiLU", "Sigmoid", "Tanh", "Identity", "Dropout"}


def through_layer(layer: Layer, const: ConstTensor) -> Any:
    """A layer applied to a tensor of known shape that is not the model's: the shape its rule
    gives (its values are not followed)."""
    if not reads_last_axis(layer, const):
        return UNKNOWN
    wanted = layer.params.get("in_features") if layer.kind == "Linear" else layer.params.get("normalized_shape")
    wanted = (wanted,) if int_value(wanted) else wanted
    if layer.kind in ("Linear", "LayerNorm") and not (isinstance(wanted, tuple) and wanted
                                                       and all(int_value(w) for w in wanted)):
        return UNKNOWN
    if wanted is not None and tuple(const.shape[-len(wanted):]) != wanted:
        return UNKNOWN  # torch raises (the channel checks read the model's tensors, not this one)
    try:
        shape = L.output_shape(layer.kind, layer.params, const.shape[1:])
    except Exception:  # noqa: BLE001 - torch would raise, or a rule we do not follow: unknown, never a finding
        return UNKNOWN
    if shape is None or not all(isinstance(d, int) and d > 0 for d in shape):
        return UNKNOWN
    return ConstTensor((const.shape[0], *shape))


def reads_last_axis(layer: Layer, const: ConstTensor) -> bool:
    return layer.kind in LAST_AXIS_LAYERS and layer.params is not None and len(const.shape) >= 2 \
        and all(isinstance(d, int) and d > 0 for d in const.shape)


# ---- torch functions of such tensors, each hook(interp, args, kwargs, node)


def _meshgrid(interp, args, kwargs, node):
    """torch.meshgrid(a, b, ..., indexing="ij" | "xy") of 1-d tensors: one tensor per input, each of
    their lengths in order ("xy" swaps the first two); of lengths read off a tensor (the pixels of
    a feature map), tensors of those sizes."""
    items = tuple(args[0].items if isinstance(args[0], ListVal) else args[0]) \
        if len(args) == 1 and isinstance(args[0], (tuple, ListVal)) else tuple(args)
    indexing = kwargs.get("indexing", "ij")
    if not items or not all(isinstance(t, (ConstTensor, SizedTensor)) and len(t.shape) == 1 for t in items) \
            or not all(sized.is_size(t.shape[0]) or int_value(t.shape[0]) for t in items) \
            or indexing not in ("ij", "xy") or set(kwargs) - {"indexing"}:
        return UNKNOWN
    shape = tuple(t.shape[0] for t in items)
    if indexing == "xy" and len(shape) > 1:
        shape = (shape[1], shape[0], *shape[2:])
    if not all(int_value(d) for d in shape):
        return tuple(SizedTensor(shape) for _ in items)
    return tuple(ConstTensor(shape, integral=integral(t)) for t in items)


def stacked(items: list, dim: Any) -> Any:
    """torch.stack of tensors of one known shape (None: not such tensors); of sizes read off a
    tensor, one shape only when they are the same expressions (else torch may raise, or not)."""
    if not items or not all(isinstance(t, (ConstTensor, SizedTensor)) for t in items):
        return None
    shape = items[0].shape
    axis = _axis(dim, len(shape) + 1)
    if axis is None or any(t.shape != shape for t in items):
        return UNKNOWN
    if not all(isinstance(t, ConstTensor) for t in items):
        if not all(sized.is_size(d) for d in shape):
            return UNKNOWN  # a size not followed (UNKNOWN) is equal to nothing, itself included
        return sized.made(shape[:axis] + (len(items),) + shape[axis:])
    return ConstTensor(shape[:axis] + (len(items),) + shape[axis:], integral=all(integral(t) for t in items))


def concatenated(items: list, dim: Any) -> Any:
    """torch.cat of tensors of known shape along `dim`: the others agree (else torch raises)."""
    shape = items[0].shape
    axis = _axis(dim, len(shape))
    if axis is None or any(len(t.shape) != len(shape) or t.shape[:axis] + t.shape[axis + 1:] !=
                           shape[:axis] + shape[axis + 1:] for t in items):
        return UNKNOWN
    size = sum(t.shape[axis] for t in items)
    return ConstTensor(shape[:axis] + (size,) + shape[axis + 1:], integral=all(integral(t) for t in items))


def _flatten(interp, args, kwargs, node):
    if not args or not isinstance(args[0], ConstTensor) or len(args) > 3 or set(kwargs) - {"start_dim", "end_dim"}:
        return interp.unknown_result(args, kwargs, node)
    return flattened(args[0], *args[1:], **kwargs)


def _elementwise(interp, args, kwargs, node):
    """torch.log(t), torch.clamp(t, max=m), ... of a tensor of known shape (numbers beside it): its
    shape, its values not followed (a tensor of known values is valued.py's)."""
    if not args or not isinstance(args[0], ConstTensor) \
            or not all(isinstance(v, (int, float)) or v is None for v in [*args[1:], *kwargs.values()]):
        return interp.unknown_result(args, kwargs, node)
    return ConstTensor(args[0].shape)


def einsum(equation: Any, operands: list) -> Any:
    """torch.einsum of tensors of known shape with an explicit output (`"m,d->md"`: a sin-cos
    position embedding's outer product): each output label's size, the one its operands agree on;
    ellipses and broadcast size-1 dims are not followed."""
    if not isinstance(equation, str) or not all(isinstance(o, ConstTensor) for o in operands):
        return UNKNOWN
    terms, arrow, output = equation.replace(" ", "").partition("->")
    inputs = terms.split(",")
    if not arrow or "." in equation or len(inputs) != len(operands) or len(set(output)) != len(output):
        return UNKNOWN
    sizes: dict = {}
    for labels, operand in zip(inputs, operands):
        if len(labels) != len(operand.shape) or not labels.isalpha():
            return UNKNOWN
        for label, size in zip(labels, operand.shape):
            if sizes.setdefault(label, size) != size:
                return UNKNOWN
    if any(label not in sizes for label in output):
        return UNKNOWN
    return ConstTensor(tuple(sizes[label] for label in output))


ELEMENTWISE = ("log", "log2", "log10", "exp", "sqrt", "sigmoid", "tanh", "abs", "sign", "clamp", "clip", "sin", "cos")
QUAL_FALLBACKS = {"torch.meshgrid": _meshgrid, "torch.flatten": _flatten,
                  **{f"torch.{name}": _elementwise for name in ELEMENTWISE}}
