"""Shape propagation: run a model's ops over shapes, exactly, with the arithmetic core."""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any

from . import layers as L
from .graph import BATCH, MODEL_INPUT, DimOf, Model, Op
from .sizes import UNKNOWN, var

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
    rank = spec.rank[-1]
    if rank == 1:
        return (channels,)
    names = SPATIAL_NAMES.get(rank - 1)
    return (channels, *(var(n) for n in names)) if names else None


def propagate(model: Model, input_shape: tuple[int, ...] | None = None) -> list[Step]:
    """One Step per op, in order. `input_shape` (no batch) overrides the model's declaration."""
    declared = input_shape or model.declared_input
    values: dict[int, TensorInfo] = {MODEL_INPUT: seed_shape(model, declared)}
    steps = []
    for op in model.ops:
        inputs = [values.get(i, UNKNOWN_TENSOR) for i in op.inputs]
        if op.kind == "layer" and op.inputs == (MODEL_INPUT,) and inputs[0].shape is None and not declared:
            seeded = symbolic_input(op.layer.kind, op.layer.params or {})
            if seeded is not None:
                inputs[0] = values[MODEL_INPUT] = TensorInfo(seeded)
        step = _run(op, inputs, values)
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
        shape, error = broadcast(inputs[0].shape, inputs[1].shape)
        return Step(op, inputs, TensorInfo(shape, inputs[0].origin if shape is not None else None), error=error)
    if op.kind == "cat":
        shape, error = _cat_shape(op.args["dim"], [i.shape for i in inputs])
        return Step(op, inputs, TensorInfo(shape, op), error=error)
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
    if isinstance(size, DimOf):
        shape = values.get(size.value, UNKNOWN_TENSOR).shape
        if shape is None:
            return UNKNOWN
        axis = size.axis if size.axis >= 0 else size.axis + len(shape) + 1
        return shape[axis - 1] if 1 <= axis <= len(shape) and isinstance(shape[axis - 1], int) else UNKNOWN
    return size


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
