"""Shape propagation: run a model's ops over shapes, exactly, with the arithmetic core."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from . import layers as L
from .detection import rcnn_transform_shape, roi_pool_shape
from .graph import BATCH, MODEL_INPUT, Model, Op, is_batch
from .products import attention_shape, einsum_shape, matmul_shape
from .sizes import CONFLICT, UNKNOWN, Sym, broadcast_size, format_shape, never_negative, var
from .views import (
    FOLDED, batch_rows, fold_frames, is_size, moved_batch_view, reframe, resolve_all, resolve_size, view_shape,
)

Shape = tuple  # sizes without the batch dimension: int, Sym or None (unknown) each

SPATIAL_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


@dataclass(frozen=True)
class TensorInfo:
    shape: Shape | None  # None: unknown rank
    origin: Op | None = None  # the op that set the channel (or feature) count
    flat_from: tuple[Shape, Op] | None = None  # (shape before, the flatten) for a flattened tensor
    pair_from: Op | None = None  # not a tensor: the (values, indices) pair of a pool with return_indices
    frames: int | Sym = 1  # rows of this tensor's batch per sample of the model input (a view folding frames or
    # windows into it: swin's `reshape(B * num_windows, ...)` with num_windows read off the input, a Sym)
    batch_at: int = 0  # where the batch is (`qkv.permute(2, 0, 3, 1, 4)` moves it): shape is the other axes in order
    unranked: L.Unranked | None = None  # shape None: what is known all the same (its channels, its last axis)
    lead: int | None = None  # not the model's tensor: the size of its leading axis, which is no batch


UNKNOWN_TENSOR = TensorInfo(None)
FREE_KEEPING = ("join", "elementwise")  # ops of free inputs (and what is read off them) whose result is as free


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
        return self.inputs[0].shape if self.inputs and not self.inputs[0].batch_at else None

    @property
    def out_shape(self) -> Shape | None:
        """The shape after the batch (None while the batch is not first: no check or table reads it)."""
        return self.output.shape if not self.output.batch_at else None

    @property
    def kind(self) -> str:
        return self.op.layer.kind if self.op.layer is not None else self.op.kind

    def received(self, last: bool = False) -> Any:
        """The size of the input's channel axis (`last`: of its last axis) where the batch is first,
        known even when the rank is not; None: unknown."""
        incoming = self.inputs[0] if self.inputs else None
        if incoming is None or incoming.batch_at:
            return None
        if incoming.shape is not None:
            return (incoming.shape[-1] if last else incoming.shape[0]) if incoming.shape else None
        unranked = incoming.unranked
        return None if unranked is None else unranked.last if last else unranked.channels


def symbolic_input(kind: str, params: dict) -> Shape | None:
    """The input a layer expects when nothing is declared: its channels, then symbolic sizes; the
    channels unknown (None) when its own count is (a class built from its defaults alone, whose
    `in_channels` no code gives: what it outputs does not depend on them)."""
    spec = L.LAYERS.get(kind)
    if spec is None or spec.channels_param is None or spec.rank is None:
        return None
    channels = params.get(spec.channels_param)
    if channels is UNKNOWN or channels is None:
        channels = None
    elif not isinstance(channels, int) or isinstance(channels, bool) or channels <= 0:
        return None
    names = SPATIAL_NAMES.get(spec.rank[-1] - 1)  # every such layer takes (C, spatial...), C alone never
    return (channels, *(var(n) for n in names)) if names else None


def unranked_input(kind: str, params: dict, value: int) -> L.Unranked | None:
    """What a layer that takes any rank (GroupNorm, LayerNorm, Linear, a monai conv of unknown
    dimensions) declares of the free input it is the first to read: its channels or its last axis,
    the rank the input's own; None for a layer of a known rank (symbolic_input's) or one that says nothing."""
    spec = L.LAYERS.get(kind)
    if spec is None or spec.rank is not None or spec.channels_param is None:
        return None
    size = params.get(spec.channels_param)
    if isinstance(size, (tuple, list)) and size:  # LayerNorm's normalized_shape
        size = size[-1]
    size = size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else None
    if spec.channels_param in ("in_features", "normalized_shape"):
        return L.Unranked(last=size, rank=value) if size is not None else None
    return L.Unranked(channels=size, rank=value)


def propagate(model: Model, input_shape: tuple[int, ...] | None = None) -> list[Step]:
    """One Step per op, in order. `input_shape` (no batch) overrides the model's declaration."""
    run = Propagation(input_shape or model.declared_input)
    return [run.step(op) for op in model.ops]


class Propagation:
    """A model's ops run one at a time (extraction asks the rank of a tensor as its model grows:
    each op is run once, not once per question)."""

    def __init__(self, declared: tuple[int, ...] | None) -> None:
        self.values: dict[int, TensorInfo] = {MODEL_INPUT: TensorInfo(tuple(declared)) if declared else UNKNOWN_TENSOR}
        self.free = set() if declared else {MODEL_INPUT}  # inputs whose shape the first layer to read them sets
        self.one_channel: set[int] = set()  # free values that are a channel mean (`x.mean(dim=1, keepdim=True)`)
        self.stacked: dict[int, tuple[int, ...]] = {}  # a free batch of free inputs (cat along dim 0): them

    def seed(self, value: int, shape: Shape, rows: int = 1) -> TensorInfo:
        """A free value's shape, as the first op to read it fixes it; a batch of free inputs
        stacked fixes theirs (torch.cat along the batch requires equal sizes elsewhere)."""
        info = self.values[value] = TensorInfo(shape, frames=rows)
        self.free.discard(value)
        for source in self.stacked.pop(value, ()):
            if source in self.free:
                self.seed(source, shape)
        return info

    def stack_free(self, op: Op, inputs: list[TensorInfo]) -> None:
        """RAFT's `torch.cat([image1, image2], dim=0)` of free inputs (the model's second image):
        each takes the shape of a known one; when none is known, the batch they make is free."""
        if op.kind != "cat" or not any(i in self.free for i in op.inputs) or len(set(op.inputs)) != len(op.inputs):
            return
        known = next((i for i in inputs if i.shape is not None and i.frames == 1), None)
        if known is not None and _on_batch(op, [known]) and not known.batch_at:
            for k, value in enumerate(op.inputs):
                if value in self.free and inputs[k].shape is None and inputs[k].unranked is None:
                    inputs[k] = self.seed(value, known.shape)
        elif op.args["dim"] == 0 and all(i in self.free and self.values[i].shape is None for i in op.inputs) \
                and all(self.values[i].frames == 1 and self.values[i].unranked is None for i in op.inputs):
            self.stacked[op.output] = op.inputs

    def step(self, op: Op) -> Step:
        values, free = self.values, self.free
        inputs = [values.get(i, UNKNOWN_TENSOR) for i in op.inputs]
        seeded = None
        if op.kind == "layer" and len(op.inputs) == 1 and op.inputs[0] in free and inputs[0].shape is None:
            seeded = symbolic_input(op.layer.kind, op.layer.params or {})
            if seeded is not None and op.inputs[0] in self.one_channel:
                # a layer of other channels than the one a channel mean has: torch raises
                seeded = (1, *seeded[1:]) if seeded[0] in (1, None) else None
            if seeded is not None:
                inputs[0] = self.seed(op.inputs[0], seeded, len(self.stacked.get(op.inputs[0], ())) or 1)
            elif inputs[0].unranked is None and op.inputs[0] not in self.one_channel:
                # still free: a layer of a known rank that reads it later gives it its shape
                unranked = unranked_input(op.layer.kind, op.layer.params or {}, op.inputs[0])
                if unranked is not None:
                    inputs[0] = values[op.inputs[0]] = TensorInfo(None, unranked=unranked)
                    seeded = unranked
        self.stack_free(op, inputs)
        guards_free = op.kind == "rank" and op.inputs[0] in free and op.args["rank"] > 1
        if op.kind == "input" or guards_free or op.output in self.stacked \
                or op.kind in FREE_KEEPING and any(i in free for i in op.inputs) \
                and all(i.shape is None for i in inputs):
            # an undecided fix-up of a free input (`if x.dim() == 4: x = x.unsqueeze(2)`), or the
            # input standardised by statistics of its own (`(x - x.mean(...)) / x.std(...)`, kornia's
            # descriptors), is as free: its shape is whatever the first layer to read it takes
            free.add(op.output)
        elif op.kind == "reduce" and op.args.get("keepdim") is True and tuple(op.args.get("dims", ())) == (1,) \
                and op.inputs[0] in free and inputs[0].shape is None:
            # the free input made grayscale (xfeat): free as well, of one channel
            free.add(op.output)
            self.one_channel.add(op.output)
        if guards_free:
            step = Step(op, inputs, inputs[0])  # the first layer to read it still gives its shape, of that rank
        elif any(i.batch_at for i in inputs) and op.kind not in BATCH_MOVERS:
            step = Step(op, inputs, UNKNOWN_TENSOR)  # only a permute, an index or an unbind brings the batch back
        elif any(i.lead for i in inputs):
            step = _on_fixed(op, inputs, values)
        else:
            step = _with_frames(_run(op, inputs, values))
            if op.kind == "view" and op.inputs[0] in free and step.output.unranked is not None:
                step.output = UNKNOWN_TENSOR  # a view of a free input: what it is, the first layer after it tells
            if step.output.shape is None and step.output.unranked is None and op.kind in UNRANKED \
                    and any(i.unranked is not None or i.shape is not None for i in inputs):
                step.output = UNRANKED[op.kind](op, inputs) or step.output
        if step.output.frames != 1:
            values[FOLDED] = True
        step.seeded = seeded is not None
        if op.output in values:
            free.discard(op.output)  # changed in place (x.unsqueeze_(1)): no longer the free input
        values[op.output] = step.output
        return step


def _run_fixed(op: Op, inputs: list[TensorInfo], values) -> Step:
    """A tensor of known shape that is not the model's (see Modules.on_constant): its leading
    axis is read as a batch is, its size kept."""
    shape = op.args["shape"]
    return Step(op, inputs, TensorInfo(tuple(shape[1:]), op, lead=shape[0]))


def _on_fixed(op: Op, inputs: list[TensorInfo], values) -> Step:
    """A layer on such a tensor: its rule, the leading axis kept; nothing else reads one."""
    if op.kind != "layer" or len(inputs) != 1:
        return Step(op, inputs, UNKNOWN_TENSOR)
    step = _run(op, inputs, values)
    if step.output.shape is not None:
        step.output = replace(step.output, lead=inputs[0].lead)
    return step


def _with_frames(step: Step) -> Step:
    """Every op but a view keeps the batch of its inputs: folded frames stay folded; tensors whose
    batches differ (one folded, one not) combine into something unknown here."""
    if step.op.kind == "view" or _on_batch(step.op, step.inputs):
        return step
    frames = {i.frames for i in step.inputs}
    if len(frames) > 1:
        return Step(step.op, step.inputs, UNKNOWN_TENSOR)
    if frames and frames != {1} and step.output.shape is not None:
        step.output = replace(step.output, frames=frames.pop())
    return step


def _run(op: Op, inputs: list[TensorInfo], values: dict[int, TensorInfo]) -> Step:
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
    shape, error = _cat_shape(op.args["dim"], [i.shape for i in inputs])
    if _on_batch(op, inputs):
        # RAFT's `torch.cat([image1, image2], dim=0)`: one batch of the rows of all
        rows = sum(i.frames for i in inputs) if all(isinstance(i.frames, int) for i in inputs) else None
        if shape is None or rows is None:
            return Step(op, inputs, UNKNOWN_TENSOR, error=error)
        return Step(op, inputs, TensorInfo(shape, inputs[0].origin, frames=rows), error=error)
    return Step(op, inputs, TensorInfo(shape, op), error=error)


def _on_batch(op: Op, inputs: list[TensorInfo]) -> bool:
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
    shape, error = _broadcast_const(inputs[0].shape, const)
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
    if _on_batch(op, inputs):
        return _batch_chunk(op, inputs[0])
    shape, error = _split_shape(op, inputs[0].shape, values)
    return Step(op, inputs, TensorInfo(shape, _origin_after(op, inputs[0], shape)), error=error)


def _run_permute(op: Op, inputs: list[TensorInfo], values) -> Step:
    incoming = inputs[0]
    if incoming.shape is not None and (incoming.batch_at or (_permutation(op, len(incoming.shape) + 1) or (0,))[0]):
        # the batch moves (timm's `qkv.reshape(B, N, 3, h, d).permute(2, 0, 3, 1, 4)`): kept track of
        dims = _permutation(op, len(incoming.shape) + 1)
        if dims is None:
            return Step(op, inputs, UNKNOWN_TENSOR)
        full = [*incoming.shape[:incoming.batch_at], BATCH, *incoming.shape[incoming.batch_at:]]
        moved = [full[d] for d in dims]
        at = next(i for i, d in enumerate(moved) if d is BATCH)
        return Step(op, inputs, TensorInfo(tuple(d for i, d in enumerate(moved) if i != at), op,
                                           frames=incoming.frames, batch_at=at))
    shape = _permute_shape(op, incoming.shape)
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
    with as many rows per sample as the tensor x.size(0) was read from."""
    const, sizes = op.args["const"], [resolve_size(s, values) for s in op.args["sizes"]]
    new, rows = len(sizes) - len(const), batch_rows(sizes[0], values)
    if not isinstance(rows, int) or rows is False or new < 0 or new == 0 and const[0] != 1:
        return Step(op, inputs, UNKNOWN_TENSOR)
    out = []
    for axis, want in enumerate(sizes[1:], start=1):
        size = const[axis - new] if axis >= new else None
        if want == -1 and size is not None or want == size:
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
    shape = _index_shape(op.args["spec"], inputs[0].shape, values)
    keeps = shape is not None and op.args["spec"][:2] in ((("slice", None, None, None),) * 2,) \
        and inputs[0].shape[:1] == shape[:1]
    return Step(op, inputs, TensorInfo(shape, inputs[0].origin if keeps else (op if shape is not None else None)))


def _index_shape(spec: tuple, shape: Shape | None, values) -> Shape | None:
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
            out.append(_slice_length(size, *(None if b is None else resolve_size(b, values) for b in item[1:])))
        axis += 1
    return tuple(out)


def _slice_length(size, start, stop, step):
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


def _broadcast_const(shape: Shape | None, const: tuple) -> tuple[Shape | None, str | None]:
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


def _origin_after(op: Op, incoming: TensorInfo, shape: Shape | None):
    """The channel count's origin: the incoming one if the channels went through unchanged."""
    if shape is None:
        return None
    if op.kind == "split" and op.args["mode"] == "unbind":
        return incoming.origin if incoming.shape is not None and _axis(op.args["dim"], len(incoming.shape) + 1) else op
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


def _split_shape(op: Op, shape: Shape | None, values) -> tuple[Shape | None, str | None]:
    """One piece of torch.chunk / torch.split: chunk(c) splits in pieces of ⌈n/c⌉ (so it may give
    fewer than c), split(s) in pieces of s, the last smaller; split([a, b, ...]) must sum to n (a
    size may be read off a tensor: raft's `[hidden, x.shape[1] - hidden]`)."""
    if shape is None:
        return None, None
    axis = _axis(op.args["dim"], len(shape) + 1)
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


def _cat_shape(dim: int, shapes: list[Shape | None]) -> tuple[Shape | None, str | None]:
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


# ---- tensors of unknown rank (TensorInfo.unranked): the ops that keep something of them known


def _unranked_layer(op: Op, inputs: list[TensorInfo]) -> TensorInfo | None:
    layer, incoming = op.layer, inputs[0]
    if len(inputs) != 1 or incoming.unranked is None or layer.params is None or layer.kind not in L.LAYERS \
            or layer.params.get("return_indices") is True:
        return None
    found = L.unranked_output(layer.kind, layer.params, incoming.unranked)
    if found is None or found == L.Unranked(rank=found.rank):
        return None
    return TensorInfo(None, op if L.LAYERS[layer.kind].defines_channels else incoming.origin, unranked=found)


def _same_rank(inputs: list[TensorInfo]) -> list[L.Unranked] | None:
    """The inputs' Unranked when each has one and all have the same rank (None: not known to)."""
    found = [i.unranked for i in inputs]
    if any(u is None or u.rank is None for u in found) or len({u.rank for u in found}) != 1:
        return None
    return found


def _described(inputs: list[TensorInfo]) -> list[L.Unranked] | None:
    """Each input as an Unranked, one of a known shape too (of no other tensor's rank: a branch's
    arms of ranks 4 and 5); None when one is not known at all or has no channel axis."""
    found = []
    for i in inputs:
        if i.frames != 1 or i.batch_at or i.pair_from is not None:
            return None  # a batch of other rows than the model's samples: not described here
        if i.shape is not None and len(i.shape) >= 1:
            found.append(L.Unranked(i.shape[0], i.shape[-1], all(d == 1 for d in i.shape[1:]), None))
        elif i.shape is None and i.unranked is not None:
            found.append(i.unranked)
        else:
            return None
    return found


def _broadcast_any_ranks(op: Op, inputs: list[TensorInfo]) -> TensorInfo | None:
    """Tensors not known to share a rank, combined elementwise: torch aligns them from the right, so
    their last axes meet, and equal channel counts other than 1 stay (where one tensor's channel axis
    meets the other's batch or a padded axis, torch raises or keeps them; checked with
    torch.broadcast_shapes over ranks 2 to 5); the rank is the larger one's, not known."""
    found = _described(inputs)
    if found is None or op.args.get("inplace"):
        return None
    a, b = found
    channels = a.channels if a.channels == b.channels and isinstance(a.channels, int) and a.channels != 1 else None
    last = broadcast_size(a.last, b.last)
    last = None if last is CONFLICT else last
    if channels is None and last is None:
        return None
    return TensorInfo(None, inputs[0].origin if channels is not None else None, unranked=L.Unranked(channels, last))


def _unranked_elementwise(op: Op, inputs: list[TensorInfo]) -> TensorInfo | None:
    found = _same_rank(inputs)
    if found is None:
        return _broadcast_any_ranks(op, inputs)
    a, b = found
    sizes = [broadcast_size(x, y) for x, y in ((a.channels, b.channels), (a.last, b.last))]
    channels, last = (None if size is CONFLICT else size for size in sizes)
    result = L.Unranked(channels, last, a.ones and b.ones, a.rank)
    if op.args.get("inplace") and result != a:
        return None  # an in-place op cannot grow its tensor (torch raises)
    return TensorInfo(None, inputs[0].origin, unranked=result)


def _unranked_join(op: Op, inputs: list[TensorInfo]) -> TensorInfo | None:
    """Either arm's tensor: what both arms know of it, whatever their ranks."""
    found = _described(inputs)
    if found is None:
        return None
    a, b = found
    agreed = L.Unranked(a.channels if a.channels == b.channels else None, a.last if a.last == b.last else None,
                        a.ones and b.ones, a.rank if a.rank == b.rank else None)
    if agreed == L.Unranked():
        return None
    return TensorInfo(None, inputs[0].origin if inputs[0].origin is inputs[1].origin else None, unranked=agreed)


def _unranked_cat(op: Op, inputs: list[TensorInfo]) -> TensorInfo | None:
    """torch.cat along the channels (dim 1): their channels add up, whatever is known of their ranks
    (torch raises unless they have one; the last axis is the channel axis at rank 2: not known)."""
    found = _described(inputs)
    if found is None or op.args.get("dim") != 1 or not all(isinstance(u.channels, int) for u in found):
        return None
    total = sum(u.channels for u in found)
    rank = next((u.rank for u in found if u.rank is not None), None)
    return TensorInfo(None, op, unranked=L.Unranked(total, None, all(u.ones for u in found), rank))


UNRANKED = {"layer": _unranked_layer, "elementwise": _unranked_elementwise, "join": _unranked_join,
            "cat": _unranked_cat}


@dataclass(frozen=True)
class OpKind:
    """How propagation runs one kind of op, and what findings call it ("the torch.cat on line 9")."""

    run: Callable[[Op, list[TensorInfo], dict[int, TensorInfo]], Step]
    name: Callable[[Op], str]


def _named(name: str) -> Callable[[Op], str]:
    return lambda op: name


def _called(op: Op) -> str:
    return op.args["call"]  # the method as written: chunk, split, permute, transpose...


BATCH_MOVERS = {"permute", "index", "split", "view"}  # the ops that follow a tensor whose batch is not first
# Op.kind -> its rule; an op of any other kind ("unknown", "input") has an unknown result
OPS = {
    "layer": OpKind(lambda op, inputs, values: _run_layer(op, inputs[0], values, inputs[1:]), lambda op: op.layer.kind),
    "flatten": OpKind(lambda op, inputs, values: _run_flatten(op, inputs[0]), _named("flatten")),
    "view": OpKind(_run_view, lambda op: op.args.get("call", "view")),
    "reduce": OpKind(lambda op, inputs, values: Step(op, inputs, TensorInfo(_reduce_shape(op, inputs[0].shape),
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
    "constant": OpKind(_run_constant, _named("expand")),
    "fixed": OpKind(_run_fixed, _named("tensor")),
    "matmul": OpKind(_run_matmul, _called),
    "attention": OpKind(_run_attention, _named("scaled_dot_product_attention")),
    "einsum": OpKind(_run_einsum, _named("torch.einsum")),
    "stack": OpKind(_run_stack, _named("torch.stack")),
    "index": OpKind(_run_index, _named("indexing")),
    "rcnn_transform": OpKind(_run_rcnn_transform, _named("GeneralizedRCNNTransform")),
    "roi_pool": OpKind(_run_roi_pool, _named("MultiScaleRoIAlign")),
}


def op_name(op: Op) -> str:
    """What findings call an op: its layer's class, or the function as written."""
    kind = OPS.get(op.kind)
    return op.kind if kind is None else kind.name(op)
