"""Shape propagation: run a model's ops over shapes, exactly, with the arithmetic core."""

from __future__ import annotations

from dataclasses import replace

from .. import layers as L
from ..graph import MODEL_INPUT, Model, Op
from ..views import FOLDED
from .arith import broadcast
from .ops import OPS, on_batch, op_name, run_op
from .tensors import SPATIAL_NAMES, UNKNOWN_TENSOR, Shape, Step, TensorInfo, symbolic_input, unranked_input
from .unranked import UNRANKED

__all__ = ["OPS", "SPATIAL_NAMES", "UNKNOWN_TENSOR", "Propagation", "Step", "TensorInfo", "broadcast", "op_name",
           "propagate", "symbolic_input"]


FREE_KEEPING = ("join", "elementwise")  # ops of free inputs (and what is read off them) whose result is as free
BATCH_MOVERS = {"permute", "index", "split", "view"}  # the ops that follow a tensor whose batch is not first


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
        # a free input padded (a stem's ConstantPad2d) or resized (F.interpolate of a segmentation map
        # to the size of the features it conditions), by the pad's output, which is not free itself:
        # only a layer reading it sets its shape, as the input's padded (nothing else reads the input's
        # sizes off the padded ones) -> the pad's step
        self.padded: dict[int, Step] = {}

    def seed(self, value: int, shape: Shape, rows: int = 1) -> TensorInfo:
        """A free value's shape, as the first op to read it fixes it; a batch of free inputs
        stacked fixes theirs (torch.cat along the batch requires equal sizes elsewhere); a free input
        padded is the input of that shape, padded: the layer after the pad sets the input's channels
        and rank, and the pad's own rule its sizes (unknown when that rule cannot say)."""
        if value in self.padded:
            return self.seed_padded(value, shape, rows)
        info = self.values[value] = TensorInfo(shape, frames=rows)
        self.free.discard(value)
        for source in self.stacked.pop(value, ()):
            if source in self.free:
                self.seed(source, shape)
        return info

    def seed_padded(self, value: int, shape: Shape, rows: int) -> TensorInfo:
        if self.through_pads(value, shape, rows) is None:
            return self.values[value]  # what the pads give is not known: nor is the input
        step = self.padded.pop(value)
        source = step.op.inputs[0]
        step.inputs[0] = self.seed(source, shape, rows)
        step.output = self.values[value] = replace(run_op(step.op, [step.inputs[0]], self.values).output, frames=rows)
        return step.output

    def through_pads(self, value: int, shape: Shape, rows: int) -> TensorInfo | None:
        """What the pads from the free input up to `value` make of an input of `shape`, changing
        nothing; None when one cannot say, or changes the rank or the channels."""
        step = self.padded[value]
        source = step.op.inputs[0]
        if source in self.padded:
            incoming = self.through_pads(source, shape, rows)
        else:
            incoming = TensorInfo(shape, frames=rows) if source in self.free else None
        if incoming is None:
            return None
        out = run_op(step.op, [incoming], self.values).output
        if out.shape is None or len(out.shape) != len(shape):
            return None
        # a pad of as many pairs as axes pads the channels too (F.pad(x, (0, 0, 0, 0, 1, 1))): the layer
        # after it then says nothing of the input's channels
        probe = run_op(step.op, [replace(incoming, shape=(1, *incoming.shape[1:]))], self.values).output
        return out if probe.shape is not None and probe.shape[0] == 1 else None

    def stack_free(self, op: Op, inputs: list[TensorInfo]) -> None:
        """RAFT's `torch.cat([image1, image2], dim=0)` of free inputs (the model's second image):
        each takes the shape of a known one; when none is known, the batch they make is free."""
        if op.kind != "cat" or not any(i in self.free for i in op.inputs) or len(set(op.inputs)) != len(op.inputs):
            return
        known = next((i for i in inputs if i.shape is not None and i.frames == 1), None)
        if known is not None and on_batch(op, [known]) and not known.batch_at:
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
        if op.kind == "layer" and len(op.inputs) == 1 and (op.inputs[0] in free or op.inputs[0] in self.padded) \
                and inputs[0].shape is None:
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
            step = _with_frames(run_op(op, inputs, values))
            if op.kind == "view" and op.inputs[0] in free and step.output.unranked is not None:
                step.output = UNKNOWN_TENSOR  # a view of a free input: what it is, the first layer after it tells
            if step.output.shape is None and step.output.unranked is None and op.kind in UNRANKED \
                    and (op.kind == "layer" or any(i.unranked is not None or i.shape is not None for i in inputs)):
                step.output = UNRANKED[op.kind](op, inputs) or step.output
        if op.kind == "layer" and (op.layer.kind in L.PADS or op.layer.kind in L.RESAMPLERS) and len(op.inputs) == 1 \
                and (op.inputs[0] in free or op.inputs[0] in self.padded) and inputs[0].shape is None \
                and inputs[0].unranked is None and step.output.shape is None and step.output.unranked is None:
            self.padded[op.output] = step
        if step.output.frames != 1:
            values[FOLDED] = True
        step.seeded = seeded is not None
        if op.output in values:
            free.discard(op.output)  # changed in place (x.unsqueeze_(1)): no longer the free input
        values[op.output] = step.output
        return step


def _on_fixed(op: Op, inputs: list[TensorInfo], values) -> Step:
    """A layer on such a tensor: its rule, the leading axis kept; nothing else reads one."""
    if op.kind != "layer" or len(inputs) != 1:
        return Step(op, inputs, UNKNOWN_TENSOR)
    step = run_op(op, inputs, values)
    if step.output.shape is not None:
        step.output = replace(step.output, lead=inputs[0].lead)
    return step


def _with_frames(step: Step) -> Step:
    """Every op but a view keeps the batch of its inputs: folded frames stay folded; tensors whose
    batches differ (one folded, one not) combine into something unknown here."""
    if step.op.kind == "view" or on_batch(step.op, step.inputs):
        return step
    frames = {i.frames for i in step.inputs}
    if len(frames) > 1:
        return Step(step.op, step.inputs, UNKNOWN_TENSOR)
    if frames and frames != {1} and step.output.shape is not None:
        step.output = replace(step.output, frames=frames.pop())
    return step
