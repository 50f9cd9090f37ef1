"""Shape propagation: run a model's ops over shapes, exactly, with the arithmetic core."""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any

from . import layers as L
from .graph import BATCH, MODEL_INPUT, DimOf, Model, Op
from .sizes import UNKNOWN, Sym, var

Shape = tuple  # sizes without the batch dimension: int, Sym or None (unknown) each

# layers whose output channel count is their own declaration, not their input's
DEFINES_CHANNELS = {
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
    "Linear", "Bilinear", "LazyLinear", "Flatten", "Unflatten", "PixelShuffle", "PixelUnshuffle",
    "Embedding", "GLU",
}
SPATIAL_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


@dataclass(frozen=True)
class TensorInfo:
    shape: Shape | None  # None: unknown rank
    origin: Op | None = None  # the op that set the channel (or feature) count
    flat_from: tuple[Shape, Op] | None = None  # (shape before, the flatten) for a flattened tensor
    pair_from: Op | None = None  # not a tensor: the (values, indices) pair of a pool with return_indices


UNKNOWN_TENSOR = TensorInfo(None)


@dataclass
class Step:
    op: Op
    inputs: list[TensorInfo]
    output: TensorInfo
    raw_shape: Shape | None = None  # what the layer rule computed, collapsed sizes included
    error: str | None = None  # an input-dependent rejection torch would raise
    seeded: bool = False  # its input's shape is the one its own declaration implies (nothing else fixes it)

    @property
    def in_shape(self) -> Shape | None:
        return self.inputs[0].shape if self.inputs else None

    @property
    def out_shape(self) -> Shape | None:
        return self.output.shape

    @property
    def kind(self) -> str:
        return self.op.layer.kind if self.op.layer is not None else self.op.kind


def seed_shape(model: Model, input_shape: tuple[int, ...] | None) -> TensorInfo:
    return TensorInfo(tuple(input_shape)) if input_shape else UNKNOWN_TENSOR


def symbolic_input(kind: str, params: dict) -> Shape | None:
    """The input a layer expects when nothing is declared: its channels, then symbolic sizes."""
    spec = L.LAYERS.get(kind)
    if spec is None or spec.channels_param is None or spec.rank is None:
        return None
    channels = params.get(spec.channels_param)
    if not isinstance(channels, int) or isinstance(channels, bool) or channels <= 0:
        return None
    names = SPATIAL_NAMES.get(spec.rank[-1] - 1)  # every such layer takes (C, spatial...), C alone never
    return (channels, *(var(n) for n in names)) if names else None


def propagate(model: Model, input_shape: tuple[int, ...] | None = None) -> list[Step]:
    """One Step per op, in order. `input_shape` (no batch) overrides the model's declaration."""
    declared = input_shape or model.declared_input
    values: dict[int, TensorInfo] = {MODEL_INPUT: seed_shape(model, declared)}
    free = set() if declared else {MODEL_INPUT}  # inputs whose shape the first layer to read them sets
    steps = []
    for op in model.ops:
        inputs = [values.get(i, UNKNOWN_TENSOR) for i in op.inputs]
        seeded = None
        if op.kind == "layer" and len(op.inputs) == 1 and op.inputs[0] in free and inputs[0].shape is None:
            seeded = symbolic_input(op.layer.kind, op.layer.params or {})
            if seeded is not None:
                inputs[0] = values[op.inputs[0]] = TensorInfo(seeded)
                free.discard(op.inputs[0])
        if op.kind == "input":
            free.add(op.output)
        step = _run(op, inputs, values)
        step.seeded = seeded is not None
        values[op.output] = step.output
        steps.append(step)
    return steps


def _run(op: Op, inputs: list[TensorInfo], values: dict[int, TensorInfo]) -> Step:
    if op.kind == "layer":
        return _run_layer(op, inputs[0])
    if op.kind == "flatten":
        return _run_flatten(op, inputs[0])
    if op.kind == "view":
        return Step(op, inputs, TensorInfo(_view_shape(op, inputs[0], values)))
    if op.kind == "reduce":
        return Step(op, inputs, TensorInfo(_reduce_shape(op, inputs[0].shape), inputs[0].origin))
    if op.kind == "elementwise":
        if inputs[0].shape is not None and inputs[1].shape is not None and len(inputs[0].shape) != len(inputs[1].shape):
            # the shorter tensor's batch meets a non-batch dim of the other: the result depends on the batch size
            return Step(op, inputs, UNKNOWN_TENSOR)
        shape, error = broadcast(inputs[0].shape, inputs[1].shape)
        return Step(op, inputs, TensorInfo(shape, inputs[0].origin if shape is not None else None), error=error)
    if op.kind == "cat":
        shape, error = _cat_shape(op.args["dim"], [i.shape for i in inputs])
        return Step(op, inputs, TensorInfo(shape, op), error=error)
    if op.kind == "broadcast":
        shape = _broadcast_const(inputs[0].shape, op.args["const"])
        keeps = shape is not None and inputs[0].shape is not None and shape[:1] == inputs[0].shape[:1]
        return Step(op, inputs, TensorInfo(shape, inputs[0].origin if keeps else (op if shape is not None else None)))
    if op.kind == "split":
        shape, error = _split_shape(op, inputs[0].shape)
        return Step(op, inputs, TensorInfo(shape, _origin_after(op, inputs[0], shape)), error=error)
    if op.kind == "permute":
        shape = _permute_shape(op, inputs[0].shape)
        return Step(op, inputs, TensorInfo(shape, _origin_after(op, inputs[0], shape)))
    if op.kind == "join":
        a, b = inputs
        return Step(op, inputs, a if a.shape == b.shape and a.shape is not None else UNKNOWN_TENSOR)
    return Step(op, inputs, UNKNOWN_TENSOR)


def _run_layer(op: Op, incoming: TensorInfo) -> Step:
    layer = op.layer
    if incoming.pair_from is not None:
        return Step(op, [incoming], UNKNOWN_TENSOR, error=(
            f"{layer.kind} receives the (values, indices) pair that {incoming.pair_from.layer.kind} "
            f"returns with return_indices=True, not a tensor"))
    if layer.params is None or layer.kind not in L.LAYERS:
        return Step(op, [incoming], UNKNOWN_TENSOR)
    try:
        raw = L.output_shape(layer.kind, layer.params, incoming.shape)
    except L.ShapeError as error:
        return Step(op, [incoming], UNKNOWN_TENSOR, error=str(error))
    except Exception:  # noqa: BLE001 - an arithmetic gap must cost knowledge, never the run
        return Step(op, [incoming], UNKNOWN_TENSOR)
    if raw is None:
        return Step(op, [incoming], UNKNOWN_TENSOR)
    shape = None if any(_collapsed(d) for d in raw) else raw
    keeps_channels = layer.kind not in DEFINES_CHANNELS and incoming.shape and shape and incoming.shape[0] == shape[0]
    origin = incoming.origin if keeps_channels else op
    flat_from = (incoming.shape, op) if layer.kind == "Flatten" else None
    if layer.params.get("return_indices") is True:
        return Step(op, [incoming], TensorInfo(None, origin, pair_from=op), raw_shape=raw)
    return Step(op, [incoming], TensorInfo(shape, origin, flat_from), raw_shape=raw)


def _collapsed(size: Any) -> bool:
    return isinstance(size, int) and size <= 0


def _run_flatten(op: Op, incoming: TensorInfo) -> Step:
    start, end = op.args["start_dim"], op.args["end_dim"]
    shape = None
    if start != 0 and incoming.shape is not None:
        try:
            shape = L.output_shape("Flatten", {"start_dim": start, "end_dim": end}, incoming.shape)
        except L.ShapeError as error:
            return Step(op, [incoming], UNKNOWN_TENSOR, error=str(error))
    return Step(op, [incoming], TensorInfo(shape, op, (incoming.shape, op)))


def _numel(shape: Shape | None):
    if shape is None or any(not isinstance(d, int) for d in shape):
        return None
    return prod(shape)


def _view_shape(op: Op, incoming: TensorInfo, values: dict[int, TensorInfo]) -> Shape | None:
    """x.view(...) keeping the batch: `view(x.size(0), ...)` or `view(-1, N)` with N the per-sample count."""
    sizes = [_resolve(s, values) for s in op.args["sizes"]]
    features = _numel(incoming.shape)
    if sizes and sizes[0] is BATCH and len(sizes) > 1 and all(_is_size(s) for s in sizes[1:]):
        # every size explicit (x.view(n, c, h, w) with c, h, w read off a tensor): the result has
        # exactly these sizes, or torch raises
        rest = tuple(sizes[1:])
        concrete = _numel(rest)
        return rest if features is None or concrete is None or concrete == features else None
    sizes = [s if isinstance(s, int) or s is BATCH else UNKNOWN for s in sizes]
    if not sizes or features is None:
        return None
    if sizes[0] is BATCH:
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


def _resolve(size: Any, values: dict[int, TensorInfo]) -> Any:
    """A view size: an int, BATCH, a Sym read off a tensor's shape, or UNKNOWN."""
    if isinstance(size, DimOf):
        shape = values.get(size.value, UNKNOWN_TENSOR).shape
        if shape is None:
            return UNKNOWN
        axis = size.axis if size.axis >= 0 else size.axis + len(shape) + 1
        return shape[axis - 1] if 1 <= axis <= len(shape) and _is_size(shape[axis - 1]) else UNKNOWN
    return size


def _is_size(size: Any) -> bool:
    """A positive int or a symbolic size (not -1, not BATCH, not unknown)."""
    return isinstance(size, Sym) or (isinstance(size, int) and not isinstance(size, bool) and size > 0)


def _broadcast_const(shape: Shape | None, const: tuple) -> Shape | None:
    """A batched tensor combined elementwise with a tensor of known full shape (a parameter)."""
    if shape is None or len(const) > len(shape) + 1:
        return None
    if len(const) == len(shape) + 1:
        if const[0] != 1:
            return None  # it meets the batch: depends on the batch size
        const = const[1:]
    result, error = broadcast(shape, const)
    return None if error else result


def _origin_after(op: Op, incoming: TensorInfo, shape: Shape | None):
    """The channel count's origin: the incoming one if the channels went through unchanged."""
    if shape is None:
        return None
    if op.kind == "split" and op.args["dim"] % (len(shape) + 1) != 1:
        return incoming.origin
    if op.kind == "permute" and (_permutation(op, len(shape) + 1) or (0, 0))[1] == 1:
        return incoming.origin
    return op


def _axis(dim: int, rank: int) -> int | None:
    """A batched-tensor dim as an index into the no-batch shape; None for the batch or out of range."""
    if not -rank <= dim < rank or dim % rank == 0:
        return None
    return dim % rank - 1


def _split_shape(op: Op, shape: Shape | None) -> tuple[Shape | None, str | None]:
    """One piece of torch.chunk / torch.split: chunk(c) splits in pieces of ⌈n/c⌉ (so it may give
    fewer than c), split(s) in pieces of s, the last smaller; split([a, b, ...]) must sum to n."""
    if shape is None:
        return None, None
    axis = _axis(op.args["dim"], len(shape) + 1)
    if axis is None:
        return None, None
    n, mode, param = shape[axis], op.args["mode"], op.args["param"]
    index, expected = op.args["index"], op.args["expected"]
    if mode == "sections":
        if expected is not None and expected != len(param):
            return None, None
        if isinstance(n, int) and all(isinstance(v, int) for v in param) and sum(param) != n:
            error = (f"{op.args['call']} sizes {list(param)} sum to {sum(param)}, but dimension {op.args['dim']} "
                     f"of {_fmt(shape)} has size {n}")
            return None, error if index == 0 else None
        size = param[index] if index < len(param) else None
        if size is None or size < 0:
            return None, None
    else:
        if not isinstance(n, int) or n <= 0:
            return None, None
        each = -(-n // param) if mode == "chunk" else param
        count = -(-n // each)
        if index >= count or (expected is not None and expected != count):
            return None, None
        size = each if index < count - 1 else n - each * (count - 1)
    return shape[:axis] + (size,) + shape[axis + 1:], None


def _permutation(op: Op, rank: int) -> tuple[int, ...] | None:
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


def _permute_shape(op: Op, shape: Shape | None) -> Shape | None:
    """x.permute(...) / x.transpose(a, b) that leave the batch first (otherwise: unknown)."""
    if shape is None:
        return None
    dims = _permutation(op, len(shape) + 1)
    if dims is None or dims[0] != 0:
        return None
    return tuple(shape[d - 1] for d in dims[1:])


def _reduce_shape(op: Op, shape: Shape | None) -> Shape | None:
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
        if x == y:
            out.append(x)
        elif x == 1:
            out.append(y)
        elif y == 1:
            out.append(x)
        elif isinstance(x, int) and isinstance(y, int):
            return None, f"shapes {_fmt(a)} and {_fmt(b)} cannot be broadcast (dimension {x} against {y})"
        else:
            out.append(None)
    return tuple(reversed(out)), None


def _cat_shape(dim: int, shapes: list[Shape | None]) -> tuple[Shape | None, str | None]:
    if any(s is None for s in shapes) or len({len(s) for s in shapes}) != 1:
        return None, None
    rank = len(shapes[0]) + 1
    if not -rank <= dim < rank or dim % rank == 0:
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
                    f"but gets {' and '.join(_fmt(s) for s in shapes)}"
                )
            if x != y:
                out[i] = None
        total = out[axis]
        out[axis] = None if total is None or shape[axis] is None else total + shape[axis]
    return tuple(out), None


def _fmt(shape: Shape) -> str:
    return "(N, " + ", ".join("?" if d is None else str(d) for d in shape) + ")"
