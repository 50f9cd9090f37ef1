"""A layer's output size falls below 1 for the declared input.

PyTorch raises "Output size is too small" (or "Given input size ... Calculated output size
... Output size is too small") when the model first runs. convlint finds the layer and the
smallest input size for which the model works.

Bad:
    # convlint: input=1x28x28
    model = nn.Sequential(
        nn.Conv2d(1, 8, 5), nn.MaxPool2d(2),   # 28 -> 24 -> 12
        nn.Conv2d(8, 16, 5), nn.MaxPool2d(2),  # 12 -> 8 -> 4
        nn.Conv2d(16, 32, 5),                  # 4 -> 0
    )

Good:
    # convlint: input=1x32x32
    model = ...  # the same layers: 32 -> 28 -> 14 -> 10 -> 5 -> 1
"""

from __future__ import annotations

from .. import layers as L
from ..context import fmt_shape

CODE = "CL004"
NAME = "spatial-collapse"
SEVERITY = "error"


def _collapsed_axes(step):
    raw = step.raw_shape or ()
    return [i for i, d in enumerate(raw) if isinstance(d, int) and d <= 0]


def _axis_survives(step, axis: int) -> bool:
    raw = step.raw_shape
    return raw is not None and axis < len(raw) and not (isinstance(raw[axis], int) and raw[axis] <= 0)


def _window_text(step) -> str:
    """' (its window spans 5×5)' for a sliding layer (torch's own message prints the negative
    size it computed, which says less)."""
    layer = step.op.layer
    windows = L.windows(layer.kind, layer.params, step.in_shape) if layer.params else []
    if not windows or not all(isinstance(w.size, int) for w in windows):
        return ""
    spans = [w.dilation * (w.kernel - 1) + 1 for w in windows]
    padded = [w.size + w.pad_before + w.pad_after for w in windows]
    if not any(s > p for s, p in zip(spans, padded)):
        return ""
    sizes = [w.size for w in windows]
    padding = "" if padded == sizes else f", the input padded only {fmt_shape(tuple(padded))}"
    return f" (its window spans {fmt_shape(tuple(spans))}{padding})"


def check(ctx):
    for run, index, step in ctx.layer_steps():
        axes = _collapsed_axes(step)
        if not axes:
            continue
        layer = step.op.layer
        message = (
            f"{ctx.subject(layer)} output would be empty: its input is only {fmt_shape(step.in_shape[1:] or step.in_shape)}"
            f"{_window_text(step)}"
        )
        if run.input_shape is not None:
            message += f" for the {fmt_shape(run.input_shape)} input"
            smallest = ctx.smallest_input(run, index, _axis_survives)
            if smallest is not None:
                message += f"; the smallest input that works is {fmt_shape(smallest)}"
        yield layer, message
