"""Tensors without a batch whose sizes are read off the model's tensors: the attention mask of
shifted windows (`x.new_zeros((Hp, Wp))` of the padded map, cut into windows like the map, then
`mask.unsqueeze(1) - mask.unsqueeze(2)`); the grid of a feature map's pixels of optical-flow
models (`torch.arange(h)`, their meshgrid and stack), which `grid[None].repeat(b, 1, 1, 1)`, b
read off the model's tensor, makes a batch of the model's samples (tensors.batch_repeat).
Extraction keeps their shape as ints and read sizes (`DimOf`, `SizeOf`); propagation resolves it
where such a tensor meets a batched one (a "broadcast" op, as for a parameter of known shape).
Two sizes are taken as equal only when they are the same expression."""

from __future__ import annotations

from typing import Any

from ..graph import is_read_size
from ..sizes import UNKNOWN
from .values import ConstTensor, ListVal, SizedTensor, int_value, is_tensor, numeric

MAKERS = {"new_zeros", "new_ones", "new_empty", "new_full"}  # x.<name>(sizes): a tensor of those sizes
_KEEPING = {"contiguous", "float", "half", "double", "detach", "clone", "to", "type_as", "zero_", "fill_"}


def is_size(value: Any) -> bool:
    return int_value(value) and value > 0 or is_read_size(value)


def sizes_of(args: list, kwargs: dict, key: str = "size") -> tuple | None:
    """`(h, w)`, `[h, w]`, `h, w` or `size=(h, w)`: the sizes, each an int or a read size; else None."""
    sizes = args[0] if len(args) == 1 and isinstance(args[0], (tuple, ListVal)) else tuple(args)
    if not args:
        sizes = kwargs.get(key)
    sizes = tuple(sizes.items) if isinstance(sizes, ListVal) and not sizes.lost else sizes
    if not isinstance(sizes, tuple) or not sizes or not all(is_size(s) for s in sizes):
        return None
    return sizes


def made(sizes: tuple) -> Any:
    """A tensor of these sizes: a ConstTensor when every one is an int."""
    return ConstTensor(sizes) if all(int_value(s) for s in sizes) else SizedTensor(sizes)


def is_partial(sizes: Any) -> bool:
    """Sizes a tensor is made with of which some are not followed (UNKNOWN), each still one int
    when torch runs: the rank is known, and the sizes that are (`torch.zeros(1, n_patches, dim)`)."""
    return isinstance(sizes, tuple) and len(sizes) > 1 and UNKNOWN in sizes \
        and all(s is UNKNOWN or is_size(s) for s in sizes)


def parameter(tensor: SizedTensor, node) -> SizedTensor | None:
    """`nn.Parameter(torch.zeros(1, n_patches, dim))` in a constructor: a parameter of that partly
    known shape (its count is unknown); None for sizes read off a tensor (a parameter of unknown shape)."""
    if any(is_read_size(s) for s in tensor.shape):
        return None
    return SizedTensor(tensor.shape, node)


def new_tensor(interp, name, tensor, args, kwargs, node):
    """`x.new_zeros((hp, wp))`: a tensor of the sizes given, without a batch (new_full's fill value
    after them)."""
    given = args[:1] if name == "new_full" else args
    extra = set(kwargs) - {"size", "dtype", "device", "requires_grad", "fill_value"}
    sizes = sizes_of(list(given), kwargs)
    if sizes is None or extra or name == "new_full" and len(args) + ("fill_value" in kwargs) != 2 \
            or name != "new_full" and len(args) > 1 and isinstance(args[0], (tuple, ListVal)):
        return interp.unknown_result([tensor, *args], kwargs, node)
    return made(sizes)


def broadcast(a: tuple, b: tuple) -> tuple | None:
    """torch's broadcasting of two full shapes, a pair of sizes agreeing only when equal (the same
    expression) or one of them 1; None when that is not known."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if (x is UNKNOWN or y is UNKNOWN) and 1 not in (x, y):
            return None  # two sizes not followed may be equal, or one of them 1
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            return None
    return tuple(reversed(out))


def combine(left: Any, right: Any) -> Any:
    """An arithmetic operator or comparison of which one side is a SizedTensor and neither a batched
    tensor: the broadcast shape, or UNKNOWN."""
    shapes = []
    for value in (left, right):
        if isinstance(value, (SizedTensor, ConstTensor)):
            shapes.append(value.shape)
        elif not (numeric(value) or isinstance(value, bool)):
            return UNKNOWN
    shape = shapes[0] if len(shapes) == 1 else broadcast(*shapes)
    return UNKNOWN if shape is None else made(shape)


def index(tensor: SizedTensor, spec: list) -> Any:
    """`grid[None]`, `mask[:, None, :]`: basic indexing by whole axes ("all"), new ones ("new") and
    ints along axes of a known size; anything else is unknown."""
    shape, out, axis = tensor.shape, [], 0
    if sum(1 for item in spec if item != "new") > len(shape):
        return UNKNOWN
    for item in spec:
        if item == "new":
            out.append(1)
            continue
        size = shape[axis]
        if item == "all":
            out.append(size)
        elif not (int_value(item) and int_value(size) and -size <= item < size):
            return UNKNOWN
        axis += 1
    return made(tuple(out) + shape[axis:])


def method(interp, owner: SizedTensor, name: str, args: list, kwargs: dict, node) -> Any:
    shape = owner.shape
    if name in ("view", "reshape") and not kwargs:
        sizes = sizes_of(args, {})
        # sizes all given (none -1): the result has exactly these, or torch raises
        return UNKNOWN if sizes is None else made(sizes)
    if name == "unsqueeze" and len(args) == 1 and not kwargs and int_value(args[0]) \
            and -len(shape) - 1 <= args[0] <= len(shape):
        index = args[0] % (len(shape) + 1)
        return made(shape[:index] + (1,) + shape[index:])
    if name == "permute" and not kwargs:
        dims = args[0] if len(args) == 1 and isinstance(args[0], (tuple, ListVal)) else tuple(args)
        dims = tuple(dims.items) if isinstance(dims, ListVal) else dims
        if all(int_value(d) and -len(shape) <= d < len(shape) for d in dims) \
                and sorted(d % len(shape) for d in dims) == list(range(len(shape))):
            return made(tuple(shape[d] for d in dims))
        return UNKNOWN
    if name == "transpose" and len(args) == 2 and not kwargs \
            and all(int_value(d) and -len(shape) <= d < len(shape) for d in args):
        order = list(shape)
        a, b = (d % len(shape) for d in args)
        order[a], order[b] = order[b], order[a]
        return made(tuple(order))
    if name == "masked_fill" and len(args) == 2 and not kwargs and numeric(args[1]):
        # torch broadcasts the mask to the tensor and keeps the tensor's shape
        mask = args[0]
        fits = isinstance(mask, (SizedTensor, ConstTensor)) and broadcast(shape, mask.shape) == shape
        return owner if fits else UNKNOWN
    if name == "repeat":
        from .tensors import batch_repeat  # (tensors reads this module)

        return batch_repeat(interp, shape, args, kwargs, node)
    if name in _KEEPING and all(not is_tensor(a) and not isinstance(a, SizedTensor) for a in [*args, *kwargs.values()]):
        return owner
    return UNKNOWN
