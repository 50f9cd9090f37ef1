"""Each kind of op's rule (OPS): its output from its inputs, and what findings call it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from .. import layers as L
from ..detection import rcnn_transform_shape, roi_pool_shape
from ..graph import BATCH, Op, is_batch
from ..products import attention_shape, einsum_shape, matmul_shape
from ..sizes import UNKNOWN, Sym, format_shape, var
from ..views import (
    batch_rows, fold_frames, is_size, moved_batch_view, reframe, resolve_all, resolve_size, view_shape,
)
from .arith import (
    broadcast, broadcast_const, cat_shape, index_shape, no_batch_axis, permutation, permute_shape, reduce_shape,
    split_shape,
)
from .tensors import Shape, Step, TensorInfo, UNKNOWN_TENSOR


def _run_fixed(op: Op, inputs: list[TensorInfo], values) -> Step:
    """A tensor of known shape that is not the model's (see Modules.on_constant): its leading
    axis is read as a batch is, its size kept."""
    shape = op.args["shape"]
    return Step(op, inputs, TensorInfo(tuple(shape[1:]), op, lead=shape[0]))


def run_op(op: Op, inputs: list[TensorInfo], values: dict[int, TensorInfo]) -> Step:
    kind = OPS.get(op.kind)
    return Step(op, inputs, UNKNOWN_TENSOR) if kind is None else kind.run(op, inputs, values)


def _run_elementwise(op: Op, inputs: list[TensorInfo], values) -> Step:
    if inputs[0].shape is not None and inputs[1].shape is not None and len(inputs[0].shape) != len(inputs[1].shape):
        # the shorter tensor's batch meets a non-batch dim of the other: the result depends on the batch size
        return Step(op, inputs, UNKNOWN_TENSOR)
    shape, error = broadcast(inputs[0].shape, inputs[1].shape)
    if op.args.get("inplace") and shape != inputs[0].shape:
        shape = None  # an in-place op cannot grow its tensor (torch raises)
    return Step(op, inputs, TensorInfo(shape, inputs[0].origin if shape is not None else None), error=error)


def _run_cat(op: Op, inputs: list[TensorInfo], values) -> Step:
    if any(i.shape is None for i in inputs) and any(i.shape is not None for i in inputs):
        return _cat_of_unknown(op, inputs)
    shape, error = cat_shape(op.args["dim"], [i.shape for i in inputs])
    if on_batch(op, inputs):
        # RAFT's `torch.cat([image1, image2], dim=0)`: one batch of the rows of all
        rows = sum(i.frames for i in inputs) if all(isinstance(i.frames, int) for i in inputs) else None
        if shape is None or rows is None:
            return Step(op, inputs, UNKNOWN_TENSOR, error=error)
        return Step(op, inputs, TensorInfo(shape, inputs[0].origin, frames=rows), error=error)
    return Step(op, inputs, TensorInfo(shape, op), error=error)


def _cat_of_unknown(op: Op, inputs: list[TensorInfo]) -> Step:
    """torch.cat of tensors some of whose shapes are not known, along an axis after the batch: torch
    takes only tensors of one rank, equal but along `dim` (a class token put before tokens of an
    embedding not followed), so the result has the known ones' shape; along `dim`, their sum when an
    unknown one tells its size there (its channels or its last axis), else unknown."""
    known = [i for i in inputs if i.shape is not None]
    if on_batch(op, known) or any(i.frames != 1 or i.batch_at or i.lead is not None or i.pair_from is not None
                                  for i in inputs):
        return Step(op, inputs, UNKNOWN_TENSOR)
    shape, error = cat_shape(op.args["dim"], [i.shape for i in known])
    if shape is None:
        return Step(op, inputs, UNKNOWN_TENSOR, error=error)
    axis = op.args["dim"] % (len(shape) + 1) - 1
    total = shape[axis]
    for i in inputs:
        if i.shape is None:
            told = None if i.unranked is None else i.unranked.channels if axis == 0 else \
                i.unranked.last if axis == len(shape) - 1 else None
            total = total + told if isinstance(total, int) and isinstance(told, int) else None
    return Step(op, inputs, TensorInfo((*shape[:axis], total, *shape[axis + 1:]), op), error=error)


def on_batch(op: Op, inputs: list[TensorInfo]) -> bool:
    """A cat or chunk along the batch axis of tensors of known rank: it sets the rows per sample itself."""
    if op.kind not in ("cat", "split") or not inputs or inputs[0].shape is None or inputs[0].batch_at:
        return False
    rank = len(inputs[0].shape) + 1
    return -rank <= op.args["dim"] < rank and op.args["dim"] % rank == 0


def _batch_chunk(op: Op, incoming: TensorInfo) -> Step:
    """`fmap1, fmap2 = torch.chunk(fmaps, 2, dim=0)` of a batch of c rows per sample (c known):
    each piece the rows of one; any other piece of the batch is unknown."""
    count, index, rows = op.args["param"], op.args["index"], incoming.frames
    if op.args["mode"] != "chunk" or not isinstance(rows, int) or not isinstance(count, int) or count <= 0 \
            or rows % count or op.args["expected"] not in (None, count) or not -count <= index < count:
        return Step(op, [incoming], UNKNOWN_TENSOR)
    return Step(op, [incoming], TensorInfo(incoming.shape, incoming.origin, frames=rows // count))


def _run_broadcast(op: Op, inputs: list[TensorInfo], values) -> Step:
    # a mask's sizes read off tensors, a parameter's sizes not followed (extract/sized.py): None if unknown
    const = tuple(None if d is UNKNOWN else d for d in resolve_all(op.args["const"], values))
    if not all(d is None or is_size(d) for d in const):
        return Step(op, inputs, UNKNOWN_TENSOR)
    shape, error = broadcast_const(inputs[0].shape, const)
    keeps = shape is not None and inputs[0].shape is not None and shape[:1] == inputs[0].shape[:1]
    if error:
        name = {"Add": "sum", "Subtract": "difference", "Multiply": "product", "Divide": "quotient"}.get(
            op.args.get("op"), f"torch.{op.args.get('op')}")
        error = f"{name} of a tensor {format_shape(inputs[0].shape)} and a parameter {format_shape(const, False)} whose {error}"
    return Step(op, inputs, TensorInfo(shape, inputs[0].origin if keeps else (op if shape is not None else None)),
                error=error)


def _run_rank(op: Op, inputs: list[TensorInfo], values) -> Step:
    """Past `if t.ndim != k: raise` (extract/guards.py): a tensor of that rank, its sizes unknown
    where nothing else gave them; one of another rank never gets past it."""
    incoming, rank = inputs[0], op.args["rank"]
    if incoming.shape is not None:
        return Step(op, inputs, incoming if len(incoming.shape) + 1 == rank else UNKNOWN_TENSOR)
    if incoming.unranked is not None:
        return Step(op, inputs, incoming)
    return Step(op, inputs, TensorInfo((None,) * (rank - 1)))


def _run_view_as(op: Op, inputs: list[TensorInfo], values) -> Step:
    """`x.reshape(y.shape)`: y's shape (a map back from its tokens), or torch raises."""
    like = inputs[1]
    if like.batch_at or like.frames != inputs[0].frames:
        return Step(op, inputs, UNKNOWN_TENSOR)
    return Step(op, inputs, TensorInfo(like.shape, like.origin, frames=like.frames, unranked=like.unranked))


def _run_split(op: Op, inputs: list[TensorInfo], values) -> Step:
    if inputs[0].batch_at:
        return _leading_piece(op, inputs[0], op.args["mode"] == "unbind" and op.args["dim"] == 0, op.args["index"])
    if on_batch(op, inputs):
        return _batch_chunk(op, inputs[0])
    shape, error = split_shape(op, inputs[0].shape, values)
    return Step(op, inputs, TensorInfo(shape, _origin_after(op, inputs[0], shape)), error=error)


def _run_permute(op: Op, inputs: list[TensorInfo], values) -> Step:
    incoming = inputs[0]
    if incoming.shape is not None and (incoming.batch_at or (permutation(op, len(incoming.shape) + 1) or (0,))[0]):
        # the batch moves (timm's `qkv.reshape(B, N, 3, h, d).permute(2, 0, 3, 1, 4)`): kept track of
        dims = permutation(op, len(incoming.shape) + 1)
        if dims is None:
            return Step(op, inputs, UNKNOWN_TENSOR)
        full = [*incoming.shape[:incoming.batch_at], BATCH, *incoming.shape[incoming.batch_at:]]
        moved = [full[d] for d in dims]
        at = next(i for i, d in enumerate(moved) if d is BATCH)
        return Step(op, inputs, TensorInfo(tuple(d for i, d in enumerate(moved) if i != at), op,
                                           frames=incoming.frames, batch_at=at))
    shape = permute_shape(op, incoming.shape)
    return Step(op, inputs, TensorInfo(shape, _origin_after(op, incoming, shape)))


def _leading_piece(op: Op, incoming: TensorInfo, leading: bool, index: Any) -> Step:
    """`qkv[0]`, `q, k, v = qkv.unbind(0)` of a tensor whose batch is second: its first axis taken
    away, the batch first again (anything else of such a tensor: unknown)."""
    size = incoming.shape[0] if incoming.shape else None
    if incoming.batch_at != 1 or not leading or not isinstance(index, int) \
            or isinstance(size, int) and not -size <= index < size:
        return Step(op, [incoming], UNKNOWN_TENSOR)
    return Step(op, [incoming], TensorInfo(incoming.shape[1:], op, frames=incoming.frames))


def _run_expand(op: Op, inputs: list[TensorInfo], values) -> Step:
    """x.expand(sizes) / x.expand_as(y): size-1 axes grow to the sizes given (-1 keeps one); the
    batch must be kept (-1 or x.size(0)), and new leading axes leave the result unknown."""
    shape = inputs[0].shape
    if op.args["sizes"] is None:
        target = inputs[1].shape
        sizes = None if target is None else [BATCH, *target]
    else:
        sizes = [resolve_size(s, values) for s in op.args["sizes"]]
    if shape is None or sizes is None or len(sizes) != len(shape) + 1 or not (sizes[0] == -1 or is_batch(sizes[0])):
        return Step(op, inputs, UNKNOWN_TENSOR)
    out = []
    for axis, (size, want) in enumerate(zip(shape, sizes[1:]), start=1):
        if want == -1 or want == size:
            out.append(size)
        elif size == 1 and is_size(want):
            out.append(want)
        elif isinstance(size, int) and isinstance(want, int) and want > 0:
            return Step(op, inputs, UNKNOWN_TENSOR, error=(
                f"expand: the expanded size {want} must match the existing size {size} at non-singleton "
                f"dimension {axis} of {format_shape(shape)}"))
        else:
            out.append(None)
    out = tuple(out)
    return Step(op, inputs, TensorInfo(out, inputs[0].origin if out[:1] == shape[:1] else op))


def _run_constant(op: Op, inputs: list[TensorInfo], values) -> Step:
    """`token.expand(x.size(0), -1, -1)` of a parameter of known shape: a batched tensor, the
    batch on a new leading axis or on a size-1 first one (as torch aligns sizes from the right),
    with as many rows per sample as the tensor x.size(0) was read from. The tensor's sizes read
    off a tensor (a grid of a feature map's pixels) are resolved; one not known stays so."""
    const = tuple(None if d is UNKNOWN else d for d in resolve_all(op.args["const"], values))
    sizes = [resolve_size(s, values) for s in op.args["sizes"]]
    new, rows = len(sizes) - len(const), batch_rows(sizes[0], values)
    if not isinstance(rows, int) or rows is False or new < 0 or new == 0 and const[0] != 1:
        return Step(op, inputs, UNKNOWN_TENSOR)
    out = []
    for axis, want in enumerate(sizes[1:], start=1):
        if axis < new:  # a new axis: the size given (torch takes no -1 there)
            if not is_size(want):
                return Step(op, inputs, UNKNOWN_TENSOR)
            out.append(want)
            continue
        size = const[axis - new]
        if want == -1 or want == size:
            out.append(size)
        elif (size is None or size == 1) and is_size(want):
            out.append(want)
        else:
            return Step(op, inputs, UNKNOWN_TENSOR)
    return Step(op, inputs, TensorInfo(tuple(out), op, frames=rows))


def _run_matmul(op: Op, inputs: list[TensorInfo], values) -> Step:
    const = op.args.get("const")
    shapes = [i.shape for i in inputs] if const is None else [inputs[0].shape, None]
    shape, error = matmul_shape(op.args["call"], *shapes, const=const, const_first=op.args.get("const_first", False))
    return Step(op, inputs, TensorInfo(shape, op if shape is not None else None), error=error)


def _run_attention(op: Op, inputs: list[TensorInfo], values) -> Step:
    shape = attention_shape(*(i.shape for i in inputs))
    return Step(op, inputs, TensorInfo(shape, inputs[2].origin if shape is not None else None))


def _run_grid_sample(op: Op, inputs: list[TensorInfo], values) -> Step:
    """F.grid_sample(input, grid): input (N, C, *in) sampled at grid (N, *out, k), k = len(in) = 2
    or 3, gives (N, C, *out); torch requires the same N, so a batch of other rows is unknown."""
    image, grid = inputs
    if any(i.shape is None or i.batch_at or i.pair_from or i.lead is not None for i in inputs) \
            or image.frames != grid.frames or len(image.shape) not in (3, 4) or len(grid.shape) != len(image.shape) \
            or grid.shape[-1] != len(image.shape) - 1:
        return Step(op, inputs, UNKNOWN_TENSOR)
    return Step(op, inputs, TensorInfo((image.shape[0], *grid.shape[:-1]), image.origin, frames=image.frames))


def _run_einsum(op: Op, inputs: list[TensorInfo], values) -> Step:
    if any(i.frames != 1 or i.batch_at or i.pair_from for i in inputs):
        return Step(op, inputs, UNKNOWN_TENSOR)
    shape = einsum_shape(op.args["equation"], [i.shape for i in inputs])
    return Step(op, inputs, TensorInfo(shape, op if shape is not None else None))


def _run_repeat(op: Op, inputs: list[TensorInfo], values) -> Step:
    """x.repeat(1, r1, r2, ...): each axis times its count; a first count other than 1 grows the
    batch, and more counts than axes add leading ones: unknown."""
    shape = inputs[0].shape
    sizes = [resolve_size(s, values) for s in op.args["sizes"]]
    if shape is None or len(sizes) != len(shape) + 1 or sizes[0] != 1:
        return Step(op, inputs, UNKNOWN_TENSOR)
    out = tuple(None if size is None or not (isinstance(r, int) and r >= 0 or isinstance(r, Sym)) else size * r
                for size, r in zip(shape, sizes[1:]))
    return Step(op, inputs, TensorInfo(out, inputs[0].origin if sizes[1] == 1 else op))


def _run_stack(op: Op, inputs: list[TensorInfo], values) -> Step:
    shapes = [i.shape for i in inputs]
    if any(s is None for s in shapes) or len({len(s) for s in shapes}) != 1:
        return Step(op, inputs, UNKNOWN_TENSOR)
    rank = len(shapes[0]) + 2  # of the batched result
    dim = op.args["dim"]
    if not -rank <= dim < rank or dim % rank == 0:
        return Step(op, inputs, UNKNOWN_TENSOR)  # out of range, or a new axis before the batch
    out = list(shapes[0])
    for shape in shapes[1:]:
        for i, (x, y) in enumerate(zip(out, shape)):
            if isinstance(x, int) and isinstance(y, int) and x != y:
                return Step(op, inputs, UNKNOWN_TENSOR, error=(
                    f"torch.stack expects each tensor to be equal size, but gets "
                    f"{' and '.join(format_shape(s) for s in shapes)}"))
            if x != y:
                out[i] = None
    index = dim % rank - 1
    out.insert(index, len(shapes))
    return Step(op, inputs, TensorInfo(tuple(out), op))


def _run_index(op: Op, inputs: list[TensorInfo], values) -> Step:
    if inputs[0].batch_at:
        spec = op.args["spec"]
        whole = all(item == ("slice", None, None, None) for item in spec[1:])
        index = resolve_size(spec[0][1], values) if spec and spec[0][0] == "index" else None
        return _leading_piece(op, inputs[0], whole, index)
    shape = index_shape(op.args["spec"], inputs[0].shape, values)
    keeps = shape is not None and op.args["spec"][:2] in ((("slice", None, None, None),) * 2,) \
        and inputs[0].shape[:1] == shape[:1]
    return Step(op, inputs, TensorInfo(shape, inputs[0].origin if keeps else (op if shape is not None else None)))


def _run_join(op: Op, inputs: list[TensorInfo], values) -> Step:
    """The tensor of one arm or the other: an axis keeps a size both arms agree on (efficientnet's
    `if pad_h > 0: x = F.pad(x, ...)` keeps the channels whatever the padding)."""
    a, b = inputs
    if a.shape == b.shape and a.shape is not None:
        return Step(op, inputs, a)
    if a.shape is None or b.shape is None or len(a.shape) != len(b.shape) or a.pair_from or b.pair_from \
            or (a.flat_from, a.frames, a.batch_at) != (b.flat_from, b.frames, b.batch_at):
        return Step(op, inputs, UNKNOWN_TENSOR)
    shape = tuple(x if x == y and type(x) is type(y) else None for x, y in zip(a.shape, b.shape))
    return Step(op, inputs, replace(a, shape=shape, origin=a.origin if a.origin is b.origin else None))


def _run_layer(op: Op, incoming: TensorInfo, values: dict[int, TensorInfo] | None = None,
               others: list[TensorInfo] = ()) -> Step:
    layer = op.layer
    if others:  # nn.MultiheadAttention(query, key, value): the output is the query's
        step = _run_layer(op, incoming, values)
        if step.error is None and step.out_shape is not None and layer.params is not None:
            try:
                L.check_operands(layer.kind, layer.params, [incoming.shape, *(o.shape for o in others)])
            except L.ShapeError as error:
                return Step(op, [incoming, *others], UNKNOWN_TENSOR, error=str(error))
        return Step(op, [incoming, *others], step.output, step.raw_shape, step.error)
    if incoming.pair_from is not None:
        return Step(op, [incoming], UNKNOWN_TENSOR, error=(
            f"{layer.kind} receives the (values, indices) pair that {incoming.pair_from.layer.kind} "
            f"returns with return_indices=True, not a tensor"))
    if layer.params is None or layer.kind not in L.LAYERS:
        return Step(op, [incoming], UNKNOWN_TENSOR)
    if layer.kind == "Flatten" and incoming.shape is None:
        flat = _flat_of_unknown(layer.params.get("start_dim"), layer.params.get("end_dim"), incoming)
        return Step(op, [incoming], TensorInfo(flat, op if flat is not None else None, (None, op) if flat else None))
    tries = [layer.params]
    if op.args.get("sized"):  # sizes read from tensors, known now (if the rule cannot use them: as unknown)
        tries.insert(0, {**layer.params, **{k: resolve_all(v, values or {}) for k, v in op.args["sized"].items()}})
    raw = None
    for params in tries:
        try:
            raw = L.output_shape(layer.kind, params, incoming.shape)
        except L.ShapeError as error:
            return Step(op, [incoming], UNKNOWN_TENSOR, error=str(error))
        except Exception:  # noqa: BLE001 - an arithmetic gap must cost knowledge, never the run
            raw = None
        if raw is not None:
            break
    if raw is None:
        return Step(op, [incoming], UNKNOWN_TENSOR)
    shape = None if any(_collapsed(d) for d in raw) else raw
    keeps_channels = not L.LAYERS[layer.kind].defines_channels and incoming.shape and shape and incoming.shape[0] == shape[0]
    origin = incoming.origin if keeps_channels else op
    flat_from = (incoming.shape, op) if layer.kind == "Flatten" else None
    if layer.params.get("return_indices") is True:
        return Step(op, [incoming], TensorInfo(None, origin, pair_from=op), raw_shape=raw)
    return Step(op, [incoming], TensorInfo(shape, origin, flat_from), raw_shape=raw)


def _collapsed(size: Any) -> bool:
    return isinstance(size, int) and size <= 0


def _flat_of_unknown(start: Any, end: Any, incoming: TensorInfo) -> Shape | None:
    """flatten(1) of a tensor of unknown rank: (N, ?) whatever the rank (at rank 1 torch raises),
    (N, C) when every axis after its C channels has size 1."""
    if incoming.shape is not None or incoming.pair_from is not None or (start, end) != (1, -1):
        return None
    unranked = incoming.unranked
    return (unranked.channels,) if unranked is not None and unranked.ones and unranked.channels else (None,)


def _run_flatten(op: Op, incoming: TensorInfo) -> Step:
    start, end = op.args["start_dim"], op.args["end_dim"]
    shape = _flat_of_unknown(start, end, incoming)
    if start != 0 and incoming.shape is not None:
        try:
            shape = L.output_shape("Flatten", {"start_dim": start, "end_dim": end}, incoming.shape)
        except L.ShapeError as error:
            return Step(op, [incoming], UNKNOWN_TENSOR, error=str(error))
    return Step(op, [incoming], TensorInfo(shape, op, (incoming.shape, op)))


def _run_view(op: Op, inputs: list[TensorInfo], values) -> Step:
    if not op.args["sizes"]:
        return Step(op, inputs, _partial_view(op, op.args.get("partial"), values))  # view(*sizes) of sizes we do not know
    if inputs[0].batch_at:
        moved = moved_batch_view(op, inputs[0], inputs[0].batch_at, values)
        return Step(op, inputs, UNKNOWN_TENSOR if moved is None else
                    TensorInfo(moved[0], op, frames=moved[1], batch_at=inputs[0].batch_at))
    frames, first = inputs[0].frames, op.args["sizes"][0]
    rows = batch_rows(first, values)
    if rows is None:
        return Step(op, inputs, UNKNOWN_TENSOR)  # the batch of a tensor folded we know not how
    if rows is not False and (rows != frames or not is_batch(first)):
        shape = reframe(op.args["sizes"][1:], inputs[0], rows, values)
        return Step(op, inputs, TensorInfo(shape, op if shape is not None else None, frames=rows if shape else 1))
    shape, error = view_shape(op, inputs[0], values)
    if shape is None and error is None:
        shape, frames = fold_frames(op, inputs[0], values)
    if shape is None and error is None and inputs[0].shape is None:
        # of a tensor not followed: what the sizes tell (a view of a known one that does not fold is
        # misplaced-flatten's, reported once)
        return Step(op, inputs, _partial_view(op, op.args["sizes"], values))
    return Step(op, inputs, TensorInfo(shape, op if shape is not None else None, frames=frames), error=error)


def _partial_view(op: Op, sizes: tuple | None, values) -> TensorInfo:
    """A view of sizes not all known: its channels (axis 1) and its last axis where given as a
    positive number, the rank not followed (an unranked tensor)."""
    if not sizes or len(sizes) < 2:
        return UNKNOWN_TENSOR
    channels, last = (resolve_size(s, values) if s is not None else None for s in (sizes[1], sizes[-1]))
    channels, last = (s if isinstance(s, int) and not isinstance(s, bool) and s > 0 else None for s in (channels, last))
    if channels is None and last is None:
        return UNKNOWN_TENSOR
    return TensorInfo(None, op, unranked=L.Unranked(channels=channels, last=last))


def _origin_after(op: Op, incoming: TensorInfo, shape: Shape | None):
    """The channel count's origin: the incoming one if the channels went through unchanged."""
    if shape is None:
        return None
    if op.kind == "split" and op.args["mode"] == "unbind":
        kept = incoming.shape is not None and no_batch_axis(op.args["dim"], len(incoming.shape) + 1)  # not along the channels
        return incoming.origin if kept else op
    if op.kind == "split" and op.args["dim"] % (len(shape) + 1) != 1:
        return incoming.origin
    if op.kind == "permute" and (permutation(op, len(shape) + 1) or (0, 0))[1] == 1:
        return incoming.origin
    return op


BOXES = var("boxes")  # the rows per image of RoI pooling's result: one per box, a count of data


def _run_rcnn_transform(op: Op, inputs: list[TensorInfo], values) -> Step:
    """torchvision's GeneralizedRCNNTransform: the images normalized, resized and padded into a batch."""
    incoming = inputs[0]
    shape = rcnn_transform_shape(op.args, incoming.shape)
    if shape is False or shape is None:  # torch raises (or we cannot tell): unknown, as for any rejection we do not name
        return Step(op, inputs, UNKNOWN_TENSOR)
    kept = incoming.shape is not None and incoming.shape[0] == shape[0]
    return Step(op, inputs, TensorInfo(shape, incoming.origin if kept else op))


def _run_roi_pool(op: Op, inputs: list[TensorInfo], values) -> Step:
    """torchvision's MultiScaleRoIAlign: per box, a map of output_size from the levels' features."""
    shape = roi_pool_shape(op.args["output_size"], [i.shape for i in inputs])
    if shape is None:
        return Step(op, inputs, UNKNOWN_TENSOR)
    return Step(op, inputs, TensorInfo(shape, inputs[0].origin, frames=BOXES))


@dataclass(frozen=True)
class OpKind:
    """How propagation runs one kind of op, and what findings call it ("the torch.cat on line 9")."""

    run: Callable[[Op, list[TensorInfo], dict[int, TensorInfo]], Step]
    name: Callable[[Op], str]


def _named(name: str) -> Callable[[Op], str]:
    return lambda op: name


def _called(op: Op) -> str:
    return op.args["call"]  # the method as written: chunk, split, permute, transpose...


# Op.kind -> its rule; an op of any other kind ("unknown", "input") has an unknown result
OPS = {
    "layer": OpKind(lambda op, inputs, values: _run_layer(op, inputs[0], values, inputs[1:]), lambda op: op.layer.kind),
    "flatten": OpKind(lambda op, inputs, values: _run_flatten(op, inputs[0]), _named("flatten")),
    "view": OpKind(_run_view, lambda op: op.args.get("call", "view")),
    "reduce": OpKind(lambda op, inputs, values: Step(op, inputs, TensorInfo(reduce_shape(op, inputs[0].shape),
                                                                          inputs[0].origin)), _named("reduction")),
    "elementwise": OpKind(_run_elementwise, _named("sum")),
    "cat": OpKind(_run_cat, _named("torch.cat")),
    "broadcast": OpKind(_run_broadcast, _named("broadcast")),
    "rank": OpKind(_run_rank, _named("rank guard")),
    "view_as": OpKind(_run_view_as, _called),
    "split": OpKind(_run_split, _called),
    "permute": OpKind(_run_permute, _called),
    "join": OpKind(_run_join, _named("join")),
    "expand": OpKind(_run_expand, lambda op: "expand" if op.args["sizes"] is not None else "expand_as"),
    "repeat": OpKind(_run_repeat, _named("repeat")),
    "constant": OpKind(_run_constant, lambda op: op.args.get("call", "expand")),
    "fixed": OpKind(_run_fixed, _named("tensor")),
    "matmul": OpKind(_run_matmul, _called),
    "attention": OpKind(_run_attention, _named("scaled_dot_product_attention")),
    "einsum": OpKind(_run_einsum, _named("torch.einsum")),
    "grid_sample": OpKind(_run_grid_sample, _named("grid_sample")),
    "stack": OpKind(_run_stack, _named("torch.stack")),
    "index": OpKind(_run_index, _named("indexing")),
    "rcnn_transform": OpKind(_run_rcnn_transform, _named("GeneralizedRCNNTransform")),
    "roi_pool": OpKind(_run_roi_pool, _named("MultiScaleRoIAlign")),
}


def op_name(op: Op) -> str:
    """What findings call an op: its layer's class, or the function as written."""
    kind = OPS.get(op.kind)
    return op.kind if kind is None else kind.name(op)
