"""How a view changes a shape: the sizes it is given, read off tensors, resolved; the free -1 size;
whole axes folded into the batch (the frames of a video, the windows of a map) and back. Pure
arithmetic on shapes, for propagate's view, reshape and layer-argument rules."""

from __future__ import annotations

from math import prod
from typing import Any, Protocol

from .graph import DimOf, Op, SizeOf, is_batch
from .sizes import UNKNOWN, Sym, format_shape

Shape = tuple  # sizes without the batch dimension: int, Sym or None (unknown) each
FOLDED = "folded"  # a key of propagation's values: some view folded frames into a batch


class Shaped(Protocol):
    """What a view reads of a tensor (propagate.Shaped): its shape, and the rows of its batch
    per sample of the model input."""

    shape: Shape | None
    frames: Any


def _numel(shape: Shape | None):
    if shape is None or any(not isinstance(d, int) for d in shape):
        return None
    return prod(shape)


def batch_rows(size: Any, values) -> int | bool | None:
    """Rows per model sample of the batch a first view size names: `b` (b = x.size(0): x's own
    rows; 1 while nothing is folded) or `b * n` (`b * d * nh`: one count after the other); False: not a batch; None: a batch whose rows are
    not known (read off a tensor we do not follow, or before provenance was kept)."""
    if is_batch(size):
        if not values.get(FOLDED):
            return 1
        source = values.get(size.source) if size.source is not None else None
        return None if source is None or source.shape is None else source.frames
    if isinstance(size, SizeOf) and size.op in ("*", "//") and _holds_batch(size.left):
        rows, n = batch_rows(size.left, values), resolve_size(size.right, values)
        if not (_is_count(rows) and is_size(n)):
            return None
        return rows * n if size.op == "*" else _exact_quotient(rows, n)
    return False


def _holds_batch(size: Any) -> bool:
    """`b`, or `b * n` and `b * d * nh` (mobilevit's patches): a product that starts with the batch."""
    return is_batch(size) or isinstance(size, SizeOf) and size.op in ("*", "//") and _holds_batch(size.left)


def _is_count(rows: Any) -> bool:
    return isinstance(rows, Sym) or isinstance(rows, int) and not isinstance(rows, bool) and rows > 0


def _exact_quotient(a: int | Sym, b: int | Sym) -> int | Sym | None:
    """a / b when it is known to divide exactly (`x.size(0) // num_windows` of a batch of
    num_windows rows per sample: one); None when that is not known."""
    if a == b:
        return 1
    if isinstance(b, int) and b > 0:
        if isinstance(a, int):
            return a // b if a % b == 0 else None
        quotient = a // b
        return quotient if quotient * b == a else None
    return None


def reframe(sizes: tuple, incoming: Shaped, rows: int, values) -> Shape | None:
    """`x.reshape(b * n, c, h, w)` folds n rows per row into the batch, `y.view(b, t, -1)` with b
    read before the fold unfolds them: the elements of a sample, incoming.frames rows of the input
    shape, become `rows` rows of the sizes given (or torch raises)."""
    rest = tuple(resolve_size(s, values) for s in sizes)
    if incoming.shape is None or not all(is_size(s) or s == -1 for s in rest) or rest.count(-1) > 1:
        return None
    features = _numel(incoming.shape)
    if features is not None and all(isinstance(s, int) for s in rest):
        per_row = _exact_quotient(incoming.frames * features, rows)
        known = prod(s for s in rest if s != -1)
        if not isinstance(per_row, int) or per_row % known or -1 not in rest and per_row != known:
            return None
        return tuple(per_row // known if s == -1 else s for s in rest)
    if -1 not in rest:
        return rest  # every size explicit: these, or torch raises
    ratio = _exact_quotient(incoming.frames, rows)
    if ratio is None:
        return None
    return _symbolic_rest(rest, (*incoming.shape, *_factors(ratio)))


def _factors(count: int | Sym) -> tuple:
    """A count of rows as the sizes it multiplies (the windows ⌊H/7⌋·⌊W/7⌋ as ⌊H/7⌋ and ⌊W/7⌋), to
    be matched against a view's sizes; one: none."""
    if count == 1:
        return ()
    if isinstance(count, Sym):
        factors = count.factors()
        if factors is not None:
            return factors
    return (count,)


def fold_frames(op: Op, incoming: Shaped, values) -> tuple[Shape | None, int]:
    """`x.view(-1, c, h, w)` of a (N, T, C, H, W) video: T frames folded into the batch, which
    becomes N·T; `y.view(-1, t, d)` unfolds them again. Only along whole axes: a fold keeps the
    last axes of the input (the leading ones go into the batch), an unfold takes whole rows back
    (any other count is misplaced-flatten's view(-1, N), or unknown)."""
    sizes = [resolve_size(s, values) for s in op.args["sizes"]]
    shape, features = incoming.shape, _numel(incoming.shape)
    if shape is not None and len(sizes) >= 2 and sizes[0] == -1 and all(is_size(s) for s in sizes[1:]):
        for j in range(1, len(shape)):
            if tuple(sizes[1:]) == shape[j:]:
                if None in shape[:j]:
                    return None, 1  # how many rows an axis not known makes: not known
                # the leading axes, symbolic ones too (swin's windows), go into the batch whole
                return tuple(sizes[1:]), incoming.frames * prod(shape[:j])
        if (not isinstance(incoming.frames, int) or features is None) and None not in shape:
            # `windows.view(-1, h // ws, w // ws, ws, ws, c)`: a symbolic count of windows back into
            # their samples (`view(-1, h, w, c)` of symbolic sizes: the batch kept), when the rows it
            # leaves per sample are known exactly
            rows = _exact_quotient(incoming.frames * prod(shape), prod(sizes[1:]))
            if rows is not None:
                return tuple(sizes[1:]), rows
    if features is None or not isinstance(incoming.frames, int) or len(sizes) < 2 or sizes[0] != -1 or not all(isinstance(s, int) and s > 0 for s in sizes[1:]):
        return None, 1
    total, row = incoming.frames * features, prod(sizes[1:])
    folds = any(prod(shape[j:]) == row for j in range(1, len(shape)))
    unfolds = incoming.frames > 1 and row % features == 0
    if total % row or not (folds or unfolds):
        return None, 1
    return tuple(sizes[1:]), total // row


def moved_batch_view(op: Op, incoming: Shaped, at: int, values) -> tuple[Shape, Any] | None:
    """(shape, rows) of a view of a tensor whose batch is axis `at` (sam's `qkv.permute(2, 0, 3, 1,
    4).reshape(3, B * heads, H * W, -1)`): the axes before it kept as they are, the batch given
    as `b * n` taking the n rows of the axes right after it, the rest a view of the others; None
    for any other view of such a tensor."""
    sizes = [resolve_size(s, values) for s in op.args["sizes"]]
    shape = incoming.shape
    if shape is None or len(sizes) <= at or tuple(sizes[:at]) != tuple(shape[:at]):
        return None
    rows = batch_rows(op.args["sizes"][at], values)
    if not _is_count(rows):
        return None
    taken = _exact_quotient(rows, incoming.frames)
    after = list(shape[at:])
    while taken != 1 and after and _exact_quotient(taken, after[0]) is not None:
        taken = _exact_quotient(taken, after.pop(0))
    rest = sizes[at + 1:]
    features = _numel(tuple(after))
    if taken != 1 or features is None or not all(isinstance(s, int) and (s > 0 or s == -1) for s in rest) \
            or rest.count(-1) > 1:
        return None
    known = prod(s for s in rest if s != -1)
    if features % known or -1 not in rest and known != features:
        return None
    return (*shape[:at], *(features // known if s == -1 else s for s in rest)), rows


def view_shape(op: Op, incoming: Shaped, values: dict[int, Shaped]) -> tuple[Shape | None, str | None]:
    """x.view(...) keeping the batch: `view(x.size(0), ...)` or `view(-1, N)` with N the per-sample
    count; an explicit per-sample count that is not the input's is torch's error."""
    sizes = [resolve_size(s, values) for s in op.args["sizes"]]
    features = _numel(incoming.shape)
    if sizes and is_batch(sizes[0]) and all(is_size(s) or s == -1 for s in sizes[1:]) and sizes.count(-1) <= 1:
        rest = tuple(sizes[1:])
        concrete = _numel(tuple(s for s in rest if s != -1))
        if features is not None and concrete is not None and (concrete != features if -1 not in rest else features % concrete):
            call = op.args.get("call", "view")
            return None, (f"{call}({', '.join(['N', *map(str, rest)])}) needs "
                          f"{'a multiple of ' if -1 in rest else ''}{concrete} element{'s' * (concrete != 1)} per sample, "
                          f"but its input {format_shape(incoming.shape)} has {fmt_product(incoming.shape)}")
        if -1 not in rest:
            # every size explicit (x.view(n, c, h, w) with c, h, w read off a tensor): the result
            # has exactly these sizes, or torch raises
            return rest, None
        if features is None:
            # the explicit sizes are exact whatever the -1 is (a map of unknown rank viewed as
            # (N, C, -1) before attention)
            return _symbolic_rest(rest, incoming.shape) or tuple(None if s == -1 else s for s in rest), None
    elif sizes and is_batch(sizes[0]) and all(is_size(s) or s == -1 or s is UNKNOWN for s in sizes[1:]) \
            and sizes.count(-1) <= 1:
        # a size read off a tensor that is not known here (tokens of a map of unknown rank): the
        # others are exact all the same, the -1 is not
        return tuple(None if s == -1 or s is UNKNOWN else s for s in sizes[1:]), None
    return _view_rest(sizes, features), None


def _symbolic_rest(rest: tuple, shape: Shape | None) -> Shape | None:
    """view(n, -1, c) of a tensor of symbolic sizes: when the explicit sizes are some of the
    input's own, the -1 is the product of the others (numel / known, exactly); symbolic sizes
    that are not the input's own one by one may be together (tokens H·W viewed as (-1, H, W));
    explicit numbers that are not the input's own split what is left of it when that is a number
    (a qkv of (N, 2304) viewed as (N, 3, 12, -1): 64); else what _unflattened_rest finds."""
    if shape is None or any(d is None for d in shape):
        return None
    remaining = [d for d in shape if d != 1]
    numbers, symbols = [], []
    for size in rest:
        if size in (-1, 1):
            continue
        if size in remaining:
            remaining.remove(size)
        elif isinstance(size, int) and size > 0:
            numbers.append(size)
        elif isinstance(size, Sym):
            symbols.append(size)
        else:
            return _unflattened_rest(rest, shape)
    if symbols:
        together = prod(symbols)
        if together not in remaining:
            return _unflattened_rest(rest, shape)
        remaining.remove(together)
    left = prod(remaining, start=1)
    if numbers:
        if not isinstance(left, int) or left % prod(numbers) or -1 not in rest and left != prod(numbers):
            return _unflattened_rest(rest, shape)
        left //= prod(numbers)
    return tuple(left if s == -1 else s for s in rest)


def _unflattened_rest(rest: tuple, shape: Shape) -> Shape | None:
    """view(n, -1, h, w) of a (C, h·w) tensor (a flattened map unflattened, segformer's blocks):
    when the explicit sizes multiply to the product of some of the input's sizes, the -1 is the
    product of the others."""
    explicit = prod((s for s in rest if s not in (-1, 1)), start=1)
    sizes = [d for d in shape if d != 1]
    if len(sizes) > 6:
        return None
    for mask in range(1 << len(sizes)):
        chosen = prod((d for i, d in enumerate(sizes) if mask >> i & 1), start=1)
        if chosen == explicit:
            others = prod((d for i, d in enumerate(sizes) if not mask >> i & 1), start=1)
            return tuple(others if s == -1 else s for s in rest)
    return None


def fmt_product(shape: Shape) -> str:
    numel = _numel(shape)
    return f"{'·'.join(map(str, shape))} = {numel}" if len(shape) > 1 else str(numel)


def _view_rest(sizes: list, features) -> Shape | None:
    sizes = [s if isinstance(s, int) or is_batch(s) else UNKNOWN for s in sizes]
    if not sizes or features is None:
        return None
    if is_batch(sizes[0]):
        rest = sizes[1:]
    elif sizes[0] == -1 and all(isinstance(s, int) and s > 0 for s in sizes[1:]) and prod(sizes[1:]) == features:
        rest = sizes[1:]  # view(-1, N) with the true per-sample count keeps the batch
    else:
        return None
    if any(not isinstance(s, int) for s in rest) or sum(1 for s in rest if s == -1) > 1:
        return None
    known = prod(s for s in rest if s != -1)
    if -1 in rest:
        if known <= 0 or features % known:
            return None
        rest = [features // known if s == -1 else s for s in rest]
    return tuple(rest) if prod(rest) == features else None


def resolve_size(size: Any, values: dict[int, Shaped]) -> Any:
    """A view size: an int, BATCH, a Sym read off a tensor's shape, or UNKNOWN."""
    if isinstance(size, DimOf):
        info = values.get(size.value)
        shape = None if info is None else info.shape
        if shape is None and getattr(info, "unranked", None) is not None:
            # of a tensor of unknown rank: its channels and its last axis are known all the same; read at
            # a stated rank (`b, n, c = x.shape` before the Linear that reads x), c is that last axis
            last = size.axis - size.rank if size.rank is not None and size.axis >= 0 else size.axis
            read = info.unranked.channels if size.axis == 1 else info.unranked.last if last == -1 else None
            return read if is_size(read) else UNKNOWN
        if shape is None or size.rank is not None and size.rank != len(shape) + 1:
            return UNKNOWN
        axis = size.axis if size.axis >= 0 else size.axis + len(shape) + 1
        return shape[axis - 1] if 1 <= axis <= len(shape) and is_size(shape[axis - 1]) else UNKNOWN
    if isinstance(size, SizeOf):
        left, right = resolve_size(size.left, values), resolve_size(size.right, values)
        if not (_is_number(left) and _is_number(right)):
            return UNKNOWN
        if size.op in ("//", "%"):
            if not isinstance(right, int) or right <= 0:
                return UNKNOWN  # a symbolic or non-positive divisor: not computed here
            if size.op == "%":  # Python's, for a positive divisor: x − d·⌊x/d⌋, exact on a Sym
                return left % right if isinstance(left, int) else left - right * (left // right)
            return left // right
        return left + right if size.op == "+" else left - right if size.op == "-" else left * right
    return size


def resolve_all(value: Any, values: dict[int, Shaped]) -> Any:
    """A layer argument holding sizes read from tensors (a tuple of them), resolved: ints and Syms,
    UNKNOWN where a size is not known."""
    if isinstance(value, tuple):
        return tuple(resolve_all(v, values) for v in value)
    if isinstance(value, (DimOf, SizeOf)):
        resolved = resolve_size(value, values)
        return resolved if _is_number(resolved) else UNKNOWN
    return value


def _is_number(size: Any) -> bool:
    return isinstance(size, Sym) or (isinstance(size, int) and not isinstance(size, bool))


def is_size(size: Any) -> bool:
    """A positive int or a symbolic size (not -1, not BATCH, not unknown)."""
    return isinstance(size, Sym) or (isinstance(size, int) and not isinstance(size, bool) and size > 0)
