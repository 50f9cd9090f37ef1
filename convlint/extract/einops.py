"""einops' `rearrange(x, pattern, **axes_lengths)` and its layer `Rearrange(pattern, **axes_lengths)`,
read as the reshape, permute and reshape they perform (einops itself reshapes, transposes and
reshapes again): `"b h (qkv l d) -> qkv b l h d", qkv=3, l=12` is `x.reshape(b, h, 3, 12, c // 36)`
then `.permute(2, 0, 3, 1, 4)`, with b, h and c read off x as `b, h, c = x.shape` reads them. What
einops would reject (a name on one side only, two unknown sizes in one group), a pattern it does
not document, and what this reading does not follow (the batch split or merged away from the
front, an ellipsis of unknown rank) are unknown; never a finding of their own."""

from __future__ import annotations

import re
from math import prod
from typing import Any

from ..graph import DimOf, batch_of
from ..sizes import UNKNOWN
from .values import Tensor, int_value, is_tensor

ELLIPSIS = "..."
_TOKEN = re.compile(r"\.\.\.|\(|\)|[A-Za-z_][A-Za-z0-9_]*|\d+|\S")


def parse_side(text: str) -> list[tuple[str, ...]] | None:
    """One side of a pattern as its entries, each the tuple of the elementary axes it holds: a
    name is one, `(h p1)` several, `()` and an anonymous `1` none (a size of one), `...` the entry
    (ELLIPSIS,). None for what einops' rearrange rejects or this reading does not follow (another
    number, an ellipsis inside parentheses, a name twice)."""
    entries: list[tuple[str, ...]] = []
    group: list[str] | None = None
    for token in _TOKEN.findall(text):
        if token == "(":
            if group is not None:
                return None
            group = []
        elif token == ")":
            if group is None:
                return None
            entries.append(tuple(group))
            group = None
        elif token == "1":
            if group is None:
                entries.append(())
        elif token == ELLIPSIS:
            if group is not None:
                return None
            entries.append((ELLIPSIS,))
        elif token[0].isalpha() or token[0] == "_":
            if group is None:
                entries.append((token,))
            else:
                group.append(token)
        else:
            return None
    names = [name for entry in entries for name in entry]
    if group is not None or len(names) != len(set(names)):
        return None
    return entries


def parse_pattern(pattern: Any) -> tuple[list, list] | None:
    if not isinstance(pattern, str) or pattern.count("->") != 1:
        return None
    left, right = (parse_side(side) for side in pattern.split("->"))
    if left is None or right is None:
        return None
    names = ({name for entry in side for name in entry} for side in (left, right))
    return (left, right) if next(names) == next(names) else None


def _expand(entries: list, count: int) -> list:
    """The entries with the ellipsis replaced by `count` axes of their own (…0, …1, ...)."""
    out = []
    for entry in entries:
        if entry == (ELLIPSIS,):
            out.extend((f"…{i}",) for i in range(count))
        else:
            out.append(entry)
    return out


def rearrange(interp, tensor: Tensor, pattern: Any, axes: dict, node, call: str = "rearrange") -> Any:
    """The tensor `einops.rearrange(tensor, pattern, **axes)` gives, as the ops that make it (each
    named `call` in findings: "the rearrange on line 7", "the Rearrange on line 7")."""
    parsed = parse_pattern(pattern)
    if parsed is None or not all(int_value(v) and v > 0 for v in axes.values()):
        return interp.unknown_result([tensor], {}, node)
    left, right = parsed
    rank = len(left)
    if (ELLIPSIS,) in left:
        rank = interp.rank_of(tensor)
        if rank is None or rank < len(left) - 1:
            return interp.unknown_result([tensor], {}, node)
        left, right = _expand(left, rank - len(left) + 1), _expand(right, rank - len(left) + 1)
    elif interp.rank_of(tensor) not in (None, rank):
        return interp.unknown_result([tensor], {}, node)  # einops raises: the pattern's rank is another
    if len(left[0]) != 1:
        return interp.unknown_result([tensor], {}, node)  # the batch split: not followed
    sizes: dict[str, Any] = {left[0][0]: batch_of(tensor.value)}
    for axis, entry in enumerate(left[1:], 1):
        read = DimOf(tensor.value, axis, rank)
        if len(entry) == 1:
            sizes[entry[0]] = read
            continue
        free = [name for name in entry if name not in axes]
        if len(free) > 1:
            return interp.unknown_result([tensor], {}, node)  # einops cannot infer them
        sizes.update((name, axes[name]) for name in entry if name in axes)
        if free:
            sizes[free[0]] = interp.binary("FloorDivide", read, prod(axes[name] for name in entry if name in axes), node)
    order = [name for entry in left for name in entry]
    target = [name for entry in right for name in entry]
    out = tensor
    if any(len(entry) != 1 for entry in left):
        out = interp.view(out, tuple(sizes[name] for name in order), node, call)
    permutation = tuple(order.index(name) for name in target)
    if permutation != tuple(range(len(target))):
        out = interp.emit("permute", (out.value,), node, dims=permutation, call=call) if is_tensor(out) else out
    if any(len(entry) != 1 for entry in right) and is_tensor(out):
        batch = left[0][0]
        merged = []
        for position, entry in enumerate(right):
            if batch in entry and (position or entry[0] != batch):
                return interp.unknown_result([out], {}, node)  # the batch moved or merged behind another axis
            size: Any = 1
            for i, name in enumerate(entry):
                size = sizes[name] if i == 0 else size * sizes[name] if int_value(size) and int_value(sizes[name]) \
                    else interp.binary("Multiply", size, sizes[name], node)
                if size is UNKNOWN:
                    return interp.unknown_result([out], {}, node)
            merged.append(size)
        out = interp.view(out, tuple(merged), node, call)
    return out


def rearrange_function(interp, args: list, kwargs: dict, node) -> Any:
    """`einops.rearrange(tensor, pattern, **axes_lengths)`."""
    kwargs = dict(kwargs)
    tensor = args[0] if args else kwargs.pop("tensor", None)
    pattern = args[1] if len(args) > 1 else kwargs.pop("pattern", None)
    if not is_tensor(tensor) or len(args) > 2:
        return interp.unknown_result([*args, *kwargs.values()], {}, node)
    return rearrange(interp, tensor, pattern, kwargs, node)


def rearrange_layer(interp, args: list, kwargs: dict, node) -> Any:
    """`einops.layers.torch.Rearrange(pattern, **axes_lengths)`: a module without parameters
    whose call rearranges its input (LAYER_CALLS)."""
    kwargs = dict(kwargs)
    pattern = args[0] if args else kwargs.pop("pattern", None)
    if len(args) > 1 or not isinstance(pattern, str):
        return UNKNOWN
    layer = interp.construct("Rearrange", [], {}, node)
    layer.attrs["einops"] = (pattern, kwargs)
    return layer


def rearrange_call(interp, layer, args: list, kwargs: dict, node) -> Any:
    """Calling a Rearrange layer on a tensor."""
    if len(args) != 1 or kwargs or not is_tensor(args[0]) or "einops" not in layer.attrs:
        return interp.unknown_result(args, kwargs, node)
    pattern, axes = layer.attrs["einops"]
    return rearrange(interp, args[0], pattern, axes, node, "Rearrange")


QUAL_CALLS = {
    "einops.rearrange": rearrange_function,
    "einops.einops.rearrange": rearrange_function,
    "einops.layers.torch.Rearrange": rearrange_layer,
}
