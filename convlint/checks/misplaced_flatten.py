"""Flatten in the wrong place: too early, missing, or merging the batch.

- a Flatten before the spatial size reaches what the next Linear expects: the Linear's
  `in_features` is the channel count C, but it receives C·H·W;
- a Flatten followed by a layer that needs a 4-d tensor (Conv2d, BatchNorm2d, MaxPool2d…);
- a Linear fed a 4-d conv output with no Flatten in between (it would mix the width axis);
- `torch.flatten(x)` without `start_dim`, which merges the batch into the features, and
  `x.view(-1, N)` where N is not the per-sample feature count (the batch size silently changes;
  N the size of the last axes, as in `view(-1, d)` of (N, T, d), folds T into the batch on purpose).

Bad:
    nn.Sequential(
        nn.Conv2d(1, 32, 3, stride=2),  # 1×28×28 -> 32×13×13
        nn.Flatten(),
        nn.Linear(32, 10),  # receives 32·13·13
    )

Good:
    nn.Sequential(
        nn.Conv2d(1, 32, 3, stride=2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),
    )
"""

from __future__ import annotations

from math import prod

from ..context import fmt_shape, spec
from .common import fitting_inputs, flattened_too_early, linear_without_flatten

CODE = "CL003"
NAME = "misplaced-flatten"
SEVERITY = "error"


def check(ctx):

    for run, _index, step in ctx.steps():
        op = step.op
        if op.kind == "flatten" and op.args["start_dim"] == 0 and not op.args["explicit"] and step.in_shape:
            yield op.node, (
                "torch.flatten without start_dim merges the batch dimension into the features; "
                "use torch.flatten(x, 1)"
            )
        elif op.kind == "view":
            message = _view_message(step)
            if message:
                yield op.node, message + fitting_inputs(run, _linear_after(run, step))
        elif op.kind == "layer":
            yield from _layer(ctx, step)


def _layer(ctx, step):
    kind = step.op.layer.kind
    shape = step.in_shape
    if kind == "Flatten" and (step.op.layer.params or {}).get("start_dim") == 0:
        yield step.op.layer, "Flatten(start_dim=0) merges the batch dimension into the features; use nn.Flatten()"
        return
    if kind == "Linear" and flattened_too_early(step):
        before, flatten = step.inputs[0].flat_from
        yield step.op.layer, (
            f"Linear expects {before[0]} input features, the channel count before {ctx.describe(flatten)}, "
            f"but receives {fmt_shape(before, '·')} = {shape[-1]}: the Flatten comes before the spatial size "
            f"is reduced to 1×1 (pool to 1×1 first, or set in_features={shape[-1]})"
        )
    elif kind == "Linear" and linear_without_flatten(step):
        yield step.op.layer, (
            f"Linear receives a {len(shape) + 1}-d tensor (N, {', '.join(map(str, shape))}) with no Flatten "
            f"in between: it would act on the last axis only; add nn.Flatten() before it"
        )
    elif step.inputs[0].flat_from is not None and shape is not None:
        layer_spec = spec(step)
        if layer_spec is not None and layer_spec.rank is not None and len(shape) not in layer_spec.rank:
            ranks = layer_spec.rank  # an open-ended "at least k dims" is listed up to the largest rank
            listed = [f"{r + 1}-d" for r in ranks]  # every rank, as torch says "Only 3D, 4D and 5D input Tensors"
            alternatives = listed[0] if len(listed) == 1 else f"{', '.join(listed[:-1])} or {listed[-1]}"
            needed = f"at least a {listed[0]}" if len(ranks) > 3 else f"a {alternatives}"
            yield step.op.layer, (
                f"{ctx.subject(step.op.layer)} needs {needed} input but receives the {len(shape) + 1}-d output "
                f"(N, {', '.join(map(str, shape))}) of {ctx.describe(step.inputs[0].flat_from[1])}"
            )


def _view_message(step) -> str | None:
    sizes = step.op.args["sizes"]
    shape = step.in_shape
    if step.inputs[0].frames != 1:
        return None  # frames folded into the batch: view(-1, t * d) unfolds them
    if len(sizes) != 2 or sizes[0] != -1 or not isinstance(sizes[1], int) or sizes[1] <= 0:
        return None
    if shape is None or not all(isinstance(d, int) for d in shape):
        return None
    features = prod(shape)
    if sizes[1] == features:
        return None
    if any(prod(shape[j:]) == sizes[1] for j in range(1, len(shape))):
        return None  # view(-1, d) of (N, T, d): the leading axes folded into the batch, on purpose
    return (
        f"view(-1, {sizes[1]}) on a tensor of {features} features per sample "
        f"(N, {', '.join(map(str, shape))}) changes the batch size or fails; "
        f"the per-sample count is {features}: use view(x.size(0), -1)"
    )


def _linear_after(run, view_step):
    """The step of the first Linear after a view (for the input sizes that would fit it)."""
    steps = run.steps
    for step in steps[steps.index(view_step) + 1:]:
        if step.op.layer is not None and step.op.layer.kind == "Linear":
            return step
    return view_step
